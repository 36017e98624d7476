// A node's flow agent: turns datapath flow events (the BPF ring buffer) and the node proxy's access logs (the L7
// policy listeners' file, followed; Gateway and Ingress listeners' entries over Envoy's gRPC access log service)
// into enriched flow records, keeps the most recent in a bounded ring, and serves them (weft.observe.v1.Observer)
// to `weft observe` and the relay.
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { CertificateMetrics, mtlsCertificates } from '../metrics/certificates.js';
import { FlowMetrics } from '../metrics/flows.js';
import type { FlowEvent } from '../datapath/layout.js';
import { FlowReader } from '../datapath/flows.js';
import { flowFromAccessLog, flowFromL7AccessLogLine, type HttpAccessLogEntry } from './access-log-flows.js';
import { AccessLogTail } from './access-log-tail.js';
import type { Logger } from '../log/logger.js';
import { addAccessLogService } from './access-log-receiver.js';
import { flowFromDatapath, monotonicToWallOffset } from './datapath-flows.js';
import { WorkloadDirectory } from './directory.js';
import { DEFAULT_RING_CAPACITY, FlowRing } from './flow-ring.js';
import type { MtlsMaterial } from './mtls.js';
import { serveObserver } from './observer-service.js';

export interface FlowAgentOptions {
  node: string;
  ringCapacity?: number;
  /** host:port of the Observer API (port 0 picks one). */
  listen: string;
  /** host:port (loopback) where the node's Envoy streams Gateway and Ingress listeners' access log; none: not those flows. */
  accessLogListen?: string;
  mtls?: MtlsMaterial;
  /** The datapath's flow ring buffer (Datapath.flowsMapFd); none: no L3/L4 flows. */
  flowsMapFd?: number;
  directory?: WorkloadDirectory;
  /** Where to count flows and report the mTLS certificates' expiry; no metrics when omitted. */
  registry?: Registry;
  /** Where a failure to read the L7 access log is reported. */
  logger?: Logger;
}

export class FlowAgent {
  readonly ring: FlowRing;
  directory: WorkloadDirectory;
  /** process.hrtime and bpf_ktime_get_ns both read CLOCK_MONOTONIC. */
  private readonly clockOffsetMs = monotonicToWallOffset(process.hrtime.bigint());
  private reader: FlowReader | undefined;
  private servers: grpc.Server[] = [];
  private tails: AccessLogTail[] = [];
  observerPort = 0;
  accessLogPort = 0;

  private constructor(private readonly opts: FlowAgentOptions) {
    this.ring = new FlowRing(opts.ringCapacity ?? DEFAULT_RING_CAPACITY);
    this.directory = opts.directory ?? new WorkloadDirectory(opts.node);
    if (opts.registry) {
      FlowMetrics.of(opts.registry).follow(this.ring);
      const mtls = opts.mtls;
      if (mtls) CertificateMetrics.of(opts.registry).add(() => mtlsCertificates(mtls));
    }
  }

  static async start(opts: FlowAgentOptions): Promise<FlowAgent> {
    const agent = new FlowAgent(opts);
    try {
      await agent.listen();
    } catch (err) {
      agent.stop();
      throw err;
    }
    return agent;
  }

  private async listen(): Promise<void> {
    const observer = await serveObserver({ ring: this.ring, nodes: () => [this.nodeInfo()], ...(this.opts.mtls ? { mtls: this.opts.mtls } : {}) }, this.opts.listen);
    this.servers.push(observer.server);
    this.observerPort = observer.port;
    if (this.opts.accessLogListen) {
      // Loopback from the node's own Envoy: plaintext, as Envoy's other local services (xDS socket) are.
      const server = new grpc.Server();
      addAccessLogService(server, { onEntries: (entries) => this.ingestAccessLog(entries) });
      this.accessLogPort = await new Promise<number>((resolve, reject) => server.bindAsync(this.opts.accessLogListen!, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
      this.servers.push(server);
    }
    if (this.opts.flowsMapFd !== undefined) this.reader = new FlowReader(this.opts.flowsMapFd, (events) => this.ingestDatapath(events));
  }

  ingestDatapath(events: readonly FlowEvent[]): void {
    const flows = new Array(events.length);
    for (let i = 0; i < events.length; i++) flows[i] = flowFromDatapath(events[i], this.directory, this.clockOffsetMs);
    this.ring.push(flows);
  }

  ingestAccessLog(entries: readonly HttpAccessLogEntry[]): void {
    this.ring.push(entries.map((e) => flowFromAccessLog(e, this.directory)));
  }

  /**
   * Flows from the L7 policy listeners' access log file (translated with `l7.accessLogForFlows`), as Envoy appends
   * to it; the tail is what the file's size limit rotates around (AccessLogFileLimit's reader).
   */
  followL7AccessLog(file: string): AccessLogTail {
    const tail = new AccessLogTail(file, (lines) => this.ingestL7AccessLog(lines), this.opts.logger ? { logger: this.opts.logger } : {});
    this.tails.push(tail);
    return tail;
  }

  ingestL7AccessLog(lines: readonly string[]): void {
    const flows = [];
    for (const line of lines) {
      const flow = flowFromL7AccessLogLine(line, this.directory);
      if (flow) flows.push(flow);
    }
    if (flows.length > 0) this.ring.push(flows);
  }

  nodeInfo(): { name: string; address: string; connected: boolean; flows_seen: number; ring_capacity: number; error: string } {
    return { name: this.opts.node, address: this.opts.listen.replace(/:0$/, `:${this.observerPort}`), connected: true, flows_seen: this.ring.written, ring_capacity: this.ring.capacity, error: '' };
  }

  stop(): void {
    for (const t of this.tails) t.stop();
    this.tails = [];
    this.reader?.close();
    this.reader = undefined;
    for (const s of this.servers) s.forceShutdown();
    this.servers = [];
  }
}
