// Simulated ADS clients for the fan-out benchmark, run in a child process of bench/fanout.ts (never in
// the control plane's). Each client is a plain @grpc/grpc-js stream on its own connection that behaves
// like Envoy's xDS client: it subscribes to LDS and CDS (wildcard), learns the EDS and RDS names from
// the clusters and listeners it receives, and ACKs every response. It does not decode endpoint or route
// bodies (Envoy would; that cost is Envoy's, not the control plane's).
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { envoyProtoRoot, messageType } from '../src/xds/protos.js';
import { TypeUrl } from '../src/xds/type-urls.js';

export interface ClientProcessOptions {
  target: string;
  protocol: 'delta' | 'sotw';
  nodeCluster: string;
  nodeIdPrefix: string;
  first: number;
  count: number;
}

export type ClientMessage = { type: 'ready'; streams: number } | { type: 'error'; message: string } | { type: 'stopped'; cpuMs: number };
export type ParentMessage = { type: 'stop' };

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

interface AnyMsg {
  type_url: string;
  value: Uint8Array;
}
interface ClusterMsg {
  name: string;
  type?: number;
  eds_cluster_config?: { service_name?: string };
}
interface ListenerMsg {
  filter_chains?: Array<{ filters?: Array<{ typed_config?: AnyMsg }> }>;
}
interface HcmMsg {
  rds?: { route_config_name?: string };
}
interface DeltaResponse {
  type_url: string;
  nonce: string;
  resources: Array<{ name: string; resource?: AnyMsg }>;
  removed_resources: string[];
}
interface SotwResponse {
  type_url: string;
  nonce: string;
  version_info: string;
  resources: AnyMsg[];
}

const types = {
  cluster: () => messageType('envoy.config.cluster.v3.Cluster'),
  listener: () => messageType('envoy.config.listener.v3.Listener'),
  hcm: () => messageType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'),
};

function codec<Req, Res>(reqName: string, resName: string): { serialize: (r: Req) => Buffer; deserialize: (b: Buffer) => Res } {
  const req = messageType(reqName);
  const res = messageType(resName);
  return {
    serialize: (r) => Buffer.from(req.encode(req.fromObject(r as object)).finish()),
    deserialize: (b) => res.decode(b) as unknown as Res,
  };
}

/** The EDS name of each cluster the response carries (keyed by cluster name). */
function edsNames(resources: Iterable<AnyMsg>, clusterType: protobuf.Type): Map<string, string> {
  const out = new Map<string, string>();
  const edsEnum = (clusterType.lookupEnum('DiscoveryType').values as Record<string, number>).EDS;
  for (const any of resources) {
    const c = clusterType.decode(any.value) as unknown as ClusterMsg;
    if (c.type === edsEnum) out.set(c.name, c.eds_cluster_config?.service_name || c.name);
  }
  return out;
}

function rdsNames(any: AnyMsg | undefined): string[] {
  if (!any) return [];
  const l = types.listener().decode(any.value) as unknown as ListenerMsg;
  const out: string[] = [];
  for (const fc of l.filter_chains ?? []) {
    for (const f of fc.filters ?? []) {
      if (f.typed_config?.type_url !== HCM) continue;
      const name = (types.hcm().decode(f.typed_config.value) as unknown as HcmMsg).rds?.route_config_name;
      if (name) out.push(name);
    }
  }
  return out;
}

abstract class SimClient {
  protected readonly channel: grpc.Client;
  protected readonly node: { id: string; cluster: string };
  protected closed = false;

  constructor(opts: ClientProcessOptions, index: number) {
    // A local subchannel pool: every client gets its own HTTP/2 connection, as every Envoy would.
    this.channel = new grpc.Client(opts.target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.node = { id: `${opts.nodeIdPrefix}-${index}`, cluster: opts.nodeCluster };
  }

  abstract start(): void;

  close(): void {
    this.closed = true;
    this.channel.close();
  }
}

class DeltaClient extends SimClient {
  private stream!: grpc.ClientDuplexStream<object, DeltaResponse>;
  private readonly clusters = new Map<string, string>();
  private readonly subscribed = new Map<string, Set<string>>();

  start(): void {
    const { serialize, deserialize } = codec<object, DeltaResponse>('envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse');
    this.stream = this.channel.makeBidiStreamRequest(`${ADS}/DeltaAggregatedResources`, serialize, deserialize);
    this.stream.on('data', (res: DeltaResponse) => this.onResponse(res));
    this.stream.on('error', (err: grpc.ServiceError) => {
      if (!this.closed) send({ type: 'error', message: `${this.node.id}: ${err.message}` });
    });
    this.stream.write({ node: this.node, type_url: TypeUrl.Cluster });
    this.stream.write({ type_url: TypeUrl.Listener });
  }

  private onResponse(res: DeltaResponse): void {
    if (res.type_url === TypeUrl.Cluster) {
      for (const name of res.removed_resources) this.clusters.delete(name);
      for (const [cluster, eds] of edsNames(res.resources.flatMap((r) => (r.resource ? [r.resource] : [])), types.cluster())) this.clusters.set(cluster, eds);
      this.subscribe(TypeUrl.ClusterLoadAssignment, new Set(this.clusters.values()));
    } else if (res.type_url === TypeUrl.Listener) {
      const names = new Set<string>();
      for (const r of res.resources) for (const n of rdsNames(r.resource)) names.add(n);
      // A listener update that drops a listener would also drop its routes; the benchmark never does that.
      for (const n of this.subscribed.get(TypeUrl.RouteConfiguration) ?? []) names.add(n);
      this.subscribe(TypeUrl.RouteConfiguration, names);
    }
    this.stream.write({ type_url: res.type_url, response_nonce: res.nonce });
  }

  private subscribe(typeUrl: string, wanted: Set<string>): void {
    const had = this.subscribed.get(typeUrl);
    const add = [...wanted].filter((n) => !had?.has(n));
    const drop = had ? [...had].filter((n) => !wanted.has(n)) : [];
    if (had && add.length === 0 && drop.length === 0) return;
    this.subscribed.set(typeUrl, wanted);
    this.stream.write({ type_url: typeUrl, resource_names_subscribe: add, resource_names_unsubscribe: drop });
  }
}

class SotwClient extends SimClient {
  private stream!: grpc.ClientDuplexStream<object, SotwResponse>;
  private readonly last = new Map<string, { version: string; nonce: string }>();
  private readonly names = new Map<string, string[]>();

  start(): void {
    const { serialize, deserialize } = codec<object, SotwResponse>('envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse');
    this.stream = this.channel.makeBidiStreamRequest(`${ADS}/StreamAggregatedResources`, serialize, deserialize);
    this.stream.on('data', (res: SotwResponse) => this.onResponse(res));
    this.stream.on('error', (err: grpc.ServiceError) => {
      if (!this.closed) send({ type: 'error', message: `${this.node.id}: ${err.message}` });
    });
    this.stream.write({ node: this.node, type_url: TypeUrl.Cluster, resource_names: [] });
    this.stream.write({ type_url: TypeUrl.Listener, resource_names: [] });
  }

  private onResponse(res: SotwResponse): void {
    if (res.type_url === TypeUrl.Cluster) {
      this.request(TypeUrl.ClusterLoadAssignment, [...new Set(edsNames(res.resources, types.cluster()).values())].sort());
    } else if (res.type_url === TypeUrl.Listener) {
      this.request(TypeUrl.RouteConfiguration, [...new Set(res.resources.flatMap(rdsNames))].sort());
    }
    this.last.set(res.type_url, { version: res.version_info, nonce: res.nonce });
    this.stream.write({ type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: this.names.get(res.type_url) ?? [] });
  }

  /** Changes the subscription of a non-wildcard type, as Envoy does when clusters or listeners change. */
  private request(typeUrl: string, names: string[]): void {
    const had = this.names.get(typeUrl);
    if (had && had.length === names.length && had.every((n, i) => n === names[i])) return;
    this.names.set(typeUrl, names);
    const last = this.last.get(typeUrl);
    this.stream.write({ type_url: typeUrl, resource_names: names, version_info: last?.version ?? '', response_nonce: last?.nonce ?? '' });
  }
}

function send(msg: ClientMessage): void {
  process.send?.(msg);
}

function main(): void {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ClientProcessOptions;
  envoyProtoRoot();
  const clients: SimClient[] = [];
  for (let i = opts.first; i < opts.first + opts.count; i++) {
    const c = opts.protocol === 'sotw' ? new SotwClient(opts, i) : new DeltaClient(opts, i);
    c.start();
    clients.push(c);
  }
  send({ type: 'ready', streams: clients.length });
  process.on('message', (msg: ParentMessage) => {
    if (msg.type !== 'stop') return;
    for (const c of clients) c.close();
    const cpu = process.cpuUsage();
    send({ type: 'stopped', cpuMs: (cpu.user + cpu.system) / 1000 });
    process.disconnect();
    setTimeout(() => process.exit(0), 200).unref();
  });
  // Never outlive the parent.
  process.on('disconnect', () => process.exit(0));
}

main();
