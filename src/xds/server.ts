// The ADS server: gRPC over TCP and UNIX sockets, SotW and delta, backed by a SnapshotCache.
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node.js';
import { silentLogger } from '../log/logger.js';
import type { SnapshotCache } from './cache.js';
import { XdsMetrics } from './metrics.js';
import { NodeStatusBook, type NodeStatus } from './node-status.js';
import { adsPackageDefinition } from './protos.js';
import type { AckEvent, AdsStream, NackEvent, ResponseEvent, StreamContext } from './ads-stream.js';
import { SotwStream, type SotwCall } from './sotw-stream.js';
import { DeltaStream, type DeltaCall } from './delta-stream.js';

export interface XdsServerOptions {
  cache: SnapshotCache;
  /** Groups nodes that share one desired state; the node id by default. */
  nodeKey?: (node: Node__Output) => string;
  logger?: Logger;
  metrics?: XdsMetrics;
  /** Envoy's `--drain-time-s` in ms, when not Weft's own (ENVOY_DRAIN_TIME_MS): removals after a listener change wait it out. */
  listenerDrainMs?: number;
}

export type ListenAddress = { tcp: { host: string; port: number } } | { unix: string };

export interface XdsServerEvents {
  ack: [AckEvent];
  nack: [NackEvent];
  response: [ResponseEvent];
  /** A client's held resources changed without an ACK: a reconnecting Envoy declared what it already has. */
  held: [{ nodeId: string; typeUrl: string }];
}

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export class XdsServer extends EventEmitter<XdsServerEvents> {
  readonly metrics: XdsMetrics;
  readonly status = new NodeStatusBook();
  private readonly grpcServer: grpc.Server;
  private readonly streams = new Set<AdsStream>();
  private readonly ctx: StreamContext;
  private readonly unixPaths: string[] = [];

  constructor(options: XdsServerOptions) {
    super();
    this.metrics = options.metrics ?? new XdsMetrics();
    const logger = (options.logger ?? silentLogger).child({ component: 'xds' });
    this.ctx = {
      cache: options.cache,
      nodeKeyOf: options.nodeKey ?? ((node) => node.id),
      status: this.status,
      metrics: this.metrics,
      logger,
      ...(options.listenerDrainMs !== undefined ? { listenerDrainMs: options.listenerDrainMs } : {}),
      events: {
        ack: (e) => this.emit('ack', e),
        nack: (e) => this.emit('nack', e),
        response: (e) => this.emit('response', e),
        held: (e) => this.emit('held', e),
        closed: (s) => this.streams.delete(s),
      },
    };
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const pkg = grpc.loadPackageDefinition(adsPackageDefinition());
    const service = (pkg.envoy as grpc.GrpcObject).service as grpc.GrpcObject;
    const discovery = (service.discovery as grpc.GrpcObject).v3 as grpc.GrpcObject;
    const ads = discovery.AggregatedDiscoveryService as grpc.ServiceClientConstructor;
    if (!ads?.service) throw new Error(`${ADS_SERVICE} missing from the loaded protos`);
    this.grpcServer.addService(ads.service, {
      StreamAggregatedResources: (call: SotwCall) => this.attach(new SotwStream(this.ctx, call), call),
      DeltaAggregatedResources: (call: DeltaCall) => this.attach(new DeltaStream(this.ctx, call), call),
    });
  }

  /** Each open stream of `nodeId`, described (diagnostics). */
  describeStreams(nodeId: string): string[] {
    return [...this.streams].filter((s) => s.nodeId === nodeId).map((s) => s.describe());
  }

  private attach<Req>(stream: AdsStream & { onRequest(req: Req): void }, call: grpc.ServerDuplexStream<Req, unknown>): void {
    this.streams.add(stream);
    const close = (): void => stream.close();
    call.on('data', (req: Req) => {
      try {
        stream.onRequest(req);
      } catch (err) {
        // A bug while handling one request must not take down the control plane: drop this stream,
        // Envoy reconnects and resyncs.
        this.ctx.logger.error({ err }, 'ADS request handling failed; closing the stream');
        call.destroy(err as Error);
        close();
      }
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.on('close', close);
  }

  /** Binds one address; returns the bound TCP port (0 for UNIX sockets). */
  async listen(address: ListenAddress): Promise<number> {
    let target: string;
    if ('unix' in address) {
      rmSync(address.unix, { force: true });
      this.unixPaths.push(address.unix);
      target = `unix://${address.unix}`;
    } else {
      const host = address.tcp.host.includes(':') ? `[${address.tcp.host}]` : address.tcp.host;
      target = `${host}:${address.tcp.port}`;
    }
    const port = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.ctx.logger.info({ address: target, port }, 'xDS server listening');
    return 'unix' in address ? 0 : port;
  }

  nodeStatus(nodeId: string): NodeStatus | undefined {
    return this.status.get(nodeId);
  }

  connectedStreams(): number {
    return this.streams.size;
  }

  /** Ends every stream, then stops the server; forces it after `graceMs`. */
  async shutdown(graceMs = 2000): Promise<void> {
    for (const stream of [...this.streams]) {
      stream.end();
      stream.close();
    }
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, graceMs);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    for (const p of this.unixPaths) rmSync(p, { force: true });
  }
}
