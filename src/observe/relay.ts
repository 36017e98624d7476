// `weft relay`: follows every agent's flows (mutual TLS towards them), merges them into one ring, and serves
// the same Observer API for the whole cluster (mutual TLS towards clients), plus the service map page.
// An agent that goes away is retried every second; on return only flows newer than the last one seen are
// asked for, so nothing is counted twice. The set of agents may change while it runs (setAgents: Kubernetes
// discovery, src/observe/agent-discovery.ts): a new agent is followed from its oldest flow, a gone one dropped.
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { CertificateMetrics, mtlsCertificates } from '../metrics/certificates.js';
import { registerRelayMetrics } from '../metrics/components.js';
import { FlowMetrics } from '../metrics/flows.js';
import type { Flow } from './flow.js';
import { DEFAULT_RING_CAPACITY, FlowRing } from './flow-ring.js';
import { clientCredentials, type MtlsMaterial } from './mtls.js';
import { observerClient, serveObserver, type GetFlowsResponse, type NodeInfo } from './observer-service.js';

export interface RelayOptions {
  /** host:port of each agent's Observer API (more may come through setAgents). */
  agents: string[];
  /** host:port to serve the merged Observer API on (port 0 picks one). */
  listen: string;
  mtls?: MtlsMaterial;
  ringCapacity?: number;
  retryMs?: number;
  /** Where to count the merged flows, the agents' states and the mTLS certificates' expiry. */
  registry?: Registry;
}

interface Upstream {
  address: string;
  name: string;
  connected: boolean;
  error: string;
  seen: number;
  /** The newest flow time seen, and how many flows of exactly that time were seen. */
  lastTimeMs: number;
  atLast: number;
  /** On a resumed stream: flows of time lastTimeMs still to skip (seen before the break). */
  skipAtLast: number;
  client: ReturnType<typeof observerClient>;
  stream?: grpc.ClientReadableStream<GetFlowsResponse>;
  timer?: NodeJS.Timeout;
  /** No longer listed (setAgents): never retried. */
  removed: boolean;
}

export class Relay {
  readonly ring: FlowRing;
  port = 0;
  private server: grpc.Server | undefined;
  private readonly upstreams = new Map<string, Upstream>();
  /** Where agents no longer listed were left: flows before that are in the ring already. */
  private readonly departed = new Map<string, Pick<Upstream, 'name' | 'seen' | 'lastTimeMs' | 'atLast'>>();
  private readonly credentials: grpc.ChannelCredentials;
  private stopped = false;

  private constructor(private readonly opts: RelayOptions) {
    this.ring = new FlowRing(opts.ringCapacity ?? DEFAULT_RING_CAPACITY * 4);
    this.credentials = opts.mtls ? clientCredentials(opts.mtls) : grpc.credentials.createInsecure();
    if (opts.registry) {
      FlowMetrics.of(opts.registry).follow(this.ring);
      registerRelayMetrics(opts.registry, () => this.nodes());
      const mtls = opts.mtls;
      if (mtls) CertificateMetrics.of(opts.registry).add(() => mtlsCertificates(mtls));
    }
  }

  static async start(opts: RelayOptions): Promise<Relay> {
    const relay = new Relay(opts);
    const { server, port } = await serveObserver({ ring: relay.ring, nodes: () => relay.nodes(), ...(opts.mtls ? { mtls: opts.mtls } : {}) }, opts.listen);
    relay.server = server;
    relay.port = port;
    relay.setAgents(opts.agents.map((address) => ({ address })));
    return relay;
  }

  /** Follows exactly these agents from now on: new ones are followed, those not listed any more dropped. */
  setAgents(agents: ReadonlyArray<{ address: string; name?: string }>): void {
    if (this.stopped) return;
    const wanted = new Map(agents.map((a) => [a.address, a.name ?? '']));
    for (const [address, u] of this.upstreams) {
      if (wanted.has(address)) continue;
      this.upstreams.delete(address);
      this.unfollow(u);
      this.departed.set(address, { name: u.name, seen: u.seen, lastTimeMs: u.lastTimeMs, atLast: u.atLast });
    }
    for (const [address, name] of wanted) {
      const known = this.upstreams.get(address);
      if (known) {
        if (name) known.name = name;
        continue;
      }
      // An agent that comes back (a restarted pod on the same node) resumes where it was left.
      const was = this.departed.get(address);
      this.departed.delete(address);
      const u: Upstream = { address, name: name || (was?.name ?? ''), connected: false, error: '', seen: was?.seen ?? 0, lastTimeMs: was?.lastTimeMs ?? 0, atLast: was?.atLast ?? 0, skipAtLast: 0, client: observerClient(address, this.credentials), removed: false };
      this.upstreams.set(address, u);
      this.follow(u);
    }
  }

  private unfollow(u: Upstream): void {
    u.removed = true;
    clearTimeout(u.timer);
    u.stream?.cancel();
    u.client.close();
  }

  private follow(u: Upstream): void {
    if (this.stopped || u.removed) return;
    // Resuming: from the last time seen, inclusive (times are doubles: "just after" is not exact), then skip
    // the flows of exactly that time already taken (the agent's ring keeps its order).
    const resumeFrom = u.lastTimeMs;
    u.skipAtLast = u.atLast;
    const stream = u.client.GetFlows({ follow: true, number: 0, filter: resumeFrom ? { since_ms: resumeFrom } : null });
    u.stream = stream;
    stream.on('metadata', () => {
      u.connected = true;
      u.error = '';
    });
    stream.on('data', (res: GetFlowsResponse) => {
      u.connected = true;
      const flows: Flow[] = [];
      for (const f of res.flows) {
        if (f.time_ms < resumeFrom) continue;
        if (f.time_ms === resumeFrom && u.skipAtLast > 0) {
          u.skipAtLast--;
          continue;
        }
        flows.push(f);
        if (f.time_ms > u.lastTimeMs) {
          u.lastTimeMs = f.time_ms;
          u.atLast = 1;
        } else if (f.time_ms === u.lastTimeMs) u.atLast++;
      }
      if (flows.length === 0) return;
      u.seen += flows.length;
      if (!u.name) u.name = flows[0].node;
      this.ring.push(flows);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.CANCELLED && (this.stopped || u.removed)) return;
      u.error = err.details || err.message;
    });
    stream.on('close', () => {
      u.connected = false;
      if (this.stopped || u.removed) return;
      u.timer = setTimeout(() => this.follow(u), this.opts.retryMs ?? 1000);
    });
    if (!u.name) {
      u.client.GetNodes({}, (err, res) => {
        if (!err && res?.nodes[0]) u.name = res.nodes[0].name;
      });
    }
  }

  nodes(): NodeInfo[] {
    return [...this.upstreams.values()].map((u) => ({ name: u.name, address: u.address, connected: u.connected, flows_seen: u.seen, ring_capacity: 0, error: u.error }));
  }

  stop(): void {
    this.stopped = true;
    for (const u of this.upstreams.values()) this.unfollow(u);
    this.server?.forceShutdown();
  }
}
