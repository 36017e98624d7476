// The ADS server driven directly by a raw gRPC client (no Envoy): nonces, ACK/NACK bookkeeping,
// subscriptions to resources that do not exist yet, per-node state, stream lifecycle, coalescing, and
// make-before-break ordering on the wire.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import type { AckEvent, NackEvent, ResponseEvent } from '../src/xds/ads-stream.js';
import { edsCluster, httpListener, loadAssignment } from '../src/xds/builders.js';
import { InMemorySnapshotCache, type CoalesceOptions } from '../src/xds/cache.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { XdsServer, type XdsServerOptions } from '../src/xds/server.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { TypeUrl, shortTypeName } from '../src/xds/type-urls.js';
import { adsClient, DeltaClient, namesIn, resourceName, SotwClient, unpack } from './helpers/ads-client.js';
import { disableGating } from './helpers/gating.js';
import { eventually } from './helpers/net.js';
import { sleep } from './helpers/traffic.js';

/** How long to watch for a response that must not come. The assertion is that none comes at all. */
const QUIET_MS = 300;

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.RouteConfiguration;

const cluster = (name: string): Resource => clusterResource(edsCluster(name));
const endpoints = (name: string, port = 8080): Resource => endpointsResource(loadAssignment(name, [{ address: '127.0.0.1', port }]));
const listener = (name: string, route: string): Resource => listenerResource(httpListener({ name, address: '127.0.0.1', port: 10_000, routeConfigName: route }));
const routeTo = (name: string, clusterName: string): Resource =>
  routeConfigurationResource({ name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }] });

type Event = { kind: 'ack'; e: AckEvent } | { kind: 'nack'; e: NackEvent } | { kind: 'response'; e: ResponseEvent };

interface Harness {
  cache: InMemorySnapshotCache;
  server: XdsServer;
  /** Every server event, in order. */
  events: Event[];
  sotw(nodeId: string, nodeCluster?: string): SotwClient;
  delta(nodeId: string, nodeCluster?: string): DeltaClient;
  set(nodeKey: string, resources: Resource[]): Snapshot;
  shutdown(): Promise<void>;
}

async function harness(t: ExecutionContext, opts: { coalesce?: Partial<CoalesceOptions>; nodeKey?: XdsServerOptions['nodeKey'] } = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-proto-'));
  const socket = path.join(dir, 'xds.sock');
  const cache = new InMemorySnapshotCache(opts.coalesce ?? { maxDelayMs: 0 });
  const server = new XdsServer({ cache, ...(opts.nodeKey ? { nodeKey: opts.nodeKey } : {}) });
  const events: Event[] = [];
  server.on('ack', (e) => events.push({ kind: 'ack', e }));
  server.on('nack', (e) => events.push({ kind: 'nack', e }));
  server.on('response', (e) => events.push({ kind: 'response', e }));
  await server.listen({ unix: socket });
  const client = adsClient({ unix: socket });
  const streams: Array<SotwClient | DeltaClient> = [];
  let down = false;
  const shutdown = async (): Promise<void> => {
    if (down) return;
    down = true;
    await server.shutdown(2000);
  };
  t.teardown(async () => {
    for (const s of streams) s.cancel();
    client.close();
    await shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    cache,
    server,
    events,
    sotw: (nodeId, nodeCluster) => {
      const s = new SotwClient(client, nodeId, nodeCluster);
      streams.push(s);
      return s;
    },
    delta: (nodeId, nodeCluster) => {
      const s = new DeltaClient(client, nodeId, nodeCluster);
      streams.push(s);
      return s;
    },
    set: (nodeKey, resources) => {
      const snapshot = Snapshot.of(resources);
      cache.setSnapshot(nodeKey, snapshot);
      return snapshot;
    },
    shutdown,
  };
}

async function metricValue(server: XdsServer, name: string, labels: Record<string, string>): Promise<number> {
  const metric = server.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

const typeStatus = (h: Harness, nodeId: string, type: TypeUrl) => h.server.nodeStatus(nodeId)?.types.get(type);

// ---------------------------------------------------------------------------------------------------
// Nonces

test.serial('sotw: a request with a stale nonce is ignored: no response, no ACK, no NACK', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('c1')]);
  const c = h.sotw('n');
  c.request(CDS);
  const r1 = await c.next(CDS);
  t.deepEqual(namesIn(r1), ['c1']);
  c.ack(r1);
  await eventually(() => typeStatus(h, 'n', CDS)?.acks === 1, 5000, 'the ACK of r1');

  h.set('n', [cluster('c1'), cluster('c2')]);
  const r2 = await c.next(CDS);
  t.deepEqual(namesIn(r2), ['c1', 'c2']);
  t.not(r2.nonce, r1.nonce);

  // r2 is in flight. Requests naming r1 answer something already replaced: an ACK and a NACK of r1.
  c.ack(r1);
  c.nack(r1, 'stale complaint', r1.version_info);
  h.set('n', [cluster('c1'), cluster('c2'), cluster('c3')]);
  t.deepEqual(await c.quiet(QUIET_MS), [], 'nothing answers a stale nonce, and r2 is still in flight');
  const status = typeStatus(h, 'n', CDS)!;
  t.is(status.acks, 1);
  t.is(status.nacks, 0);
  t.is(status.lastNack, undefined);
  t.is(status.ackedVersion, r1.version_info);

  // The ACK of r2 settles it, and the newest state follows.
  c.ack(r2);
  const r3 = await c.next(CDS);
  t.deepEqual(namesIn(r3), ['c1', 'c2', 'c3']);
  t.is(typeStatus(h, 'n', CDS)!.acks, 2);
  t.is(typeStatus(h, 'n', CDS)!.ackedVersion, r2.version_info);
});

test.serial('delta: a request with a stale nonce is ignored: no response, no ACK, no NACK', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('c1')]);
  const c = h.delta('n');
  c.subscribe(CDS, []);
  const r1 = await c.next(CDS);
  t.deepEqual(namesIn(r1), ['c1']);
  c.ack(r1);
  await eventually(() => typeStatus(h, 'n', CDS)?.acks === 1, 5000, 'the ACK of r1');

  h.set('n', [cluster('c1'), cluster('c2')]);
  const r2 = await c.next(CDS);
  t.deepEqual(namesIn(r2), ['c2'], 'delta sends only what changed');

  c.ack(r1);
  c.nack(r1, 'stale complaint');
  h.set('n', [cluster('c1'), cluster('c2'), cluster('c3')]);
  t.deepEqual(await c.quiet(QUIET_MS), []);
  const status = typeStatus(h, 'n', CDS)!;
  t.is(status.acks, 1);
  t.is(status.nacks, 0);
  t.is(status.lastNack, undefined);

  c.ack(r2);
  const r3 = await c.next(CDS);
  t.deepEqual(namesIn(r3), ['c3']);
  t.is(typeStatus(h, 'n', CDS)!.acks, 2);
});

test.serial('sotw: a subscription change naming the latest (already ACKed) nonce is honoured; one naming an older nonce is not', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('x'), endpoints('x'), cluster('y'), endpoints('y')]);
  const c = h.sotw('n');
  c.request(EDS, ['x']);
  const r1 = await c.next(EDS);
  t.deepEqual(namesIn(r1), ['x']);
  c.ack(r1, ['x']);
  // Envoy asks for more endpoints (a new cluster arrived) naming the nonce it last received, long ACKed.
  c.request(EDS, ['x', 'y'], { version_info: r1.version_info, response_nonce: r1.nonce });
  const r2 = await c.next(EDS);
  t.deepEqual(namesIn(r2), ['x', 'y']);
  c.ack(r2, ['x', 'y']);
  // A request naming r1 now is stale: its subscription change is not applied.
  c.request(EDS, ['y'], { version_info: r1.version_info, response_nonce: r1.nonce });
  t.deepEqual(await c.quiet(QUIET_MS), []);
  t.deepEqual([...typeStatus(h, 'n', EDS)!.acked.keys()].sort(), ['x', 'y']);
});

// ---------------------------------------------------------------------------------------------------
// ACK and NACK

for (const protocol of ['sotw', 'delta'] as const) {
  test.serial(`${protocol}: ACK and NACK are told apart (status, events, metrics), and a NACKed state is not resent`, async (t) => {
    const h = await harness(t);
    h.set('n', [cluster('bad')]);
    const c = protocol === 'sotw' ? h.sotw('n') : h.delta('n');
    if (c instanceof SotwClient) c.request(CDS);
    else c.subscribe(CDS, []);
    const r1 = await c.next(CDS);
    if (c instanceof SotwClient) c.nack(r1 as Parameters<SotwClient['nack']>[0], 'cluster bad: no such thing');
    else c.nack(r1 as Parameters<DeltaClient['nack']>[0], 'cluster bad: no such thing');
    await eventually(() => typeStatus(h, 'n', CDS)?.nacks === 1, 5000, 'the NACK');
    let status = typeStatus(h, 'n', CDS)!;
    t.is(status.acks, 0);
    t.is(status.lastNack?.errorMessage, 'cluster bad: no such thing');
    t.is(status.lastNack?.errorCode, 3);
    t.is(status.lastNack?.nonce, r1.nonce);
    t.deepEqual([...status.acked], [], 'nothing is held after a NACK of the first response');
    const nacks = h.events.filter((e) => e.kind === 'nack');
    t.is(nacks.length, 1);
    t.is(h.events.filter((e) => e.kind === 'ack').length, 0);
    t.like(nacks[0].e, { nodeId: 'n', typeUrl: CDS, protocol, nonce: r1.nonce, errorMessage: 'cluster bad: no such thing' });
    t.is(await metricValue(h.server, 'weft_xds_nacks_total', { type: 'Cluster', protocol }), 1);
    t.is(await metricValue(h.server, 'weft_xds_acks_total', { type: 'Cluster', protocol }), 0);
    t.deepEqual(await c.quiet(QUIET_MS), [], 'the NACKed state is not sent again');

    // A new desired state is sent, and its ACK counts as an ACK.
    h.set('n', [cluster('good')]);
    const r2 = await c.next(CDS);
    t.deepEqual(namesIn(r2), ['good']);
    if (c instanceof SotwClient) c.ack(r2 as Parameters<SotwClient['ack']>[0]);
    else c.ack(r2 as Parameters<DeltaClient['ack']>[0]);
    await eventually(() => typeStatus(h, 'n', CDS)?.acks === 1, 5000, 'the ACK');
    status = typeStatus(h, 'n', CDS)!;
    t.is(status.nacks, 1);
    t.deepEqual([...status.acked.keys()], ['good']);
    t.is(status.lastNack?.nonce, r1.nonce, 'the last NACK stays on record');
    t.is(await metricValue(h.server, 'weft_xds_acks_total', { type: 'Cluster', protocol }), 1);
    t.is(await metricValue(h.server, 'weft_xds_nacks_total', { type: 'Cluster', protocol }), 1);
    t.is(h.events.filter((e) => e.kind === 'ack').length, 1);
  });
}

// ---------------------------------------------------------------------------------------------------
// Subscriptions to resources that do not exist yet

test.serial('sotw: a resource requested before it exists is sent when it appears', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('y'), endpoints('y')]);
  const c = h.sotw('n');
  c.request(EDS, ['x']);
  t.deepEqual(await c.quiet(QUIET_MS), [], 'nothing to send for x yet');
  h.set('n', [cluster('y'), endpoints('y'), cluster('x'), endpoints('x')]);
  const r = await c.next(EDS);
  t.deepEqual(namesIn(r), ['x'], 'only what was asked for');
  c.ack(r, ['x']);
  await eventually(() => typeStatus(h, 'n', EDS)?.acks === 1, 5000, 'the ACK');
});

test.serial('delta: a resource subscribed before it exists is sent when it appears', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('y'), endpoints('y')]);
  const c = h.delta('n');
  c.subscribe(EDS, ['x']);
  t.deepEqual(await c.quiet(QUIET_MS), []);
  h.set('n', [cluster('y'), endpoints('y'), cluster('x'), endpoints('x')]);
  const r = await c.next(EDS);
  t.deepEqual(namesIn(r), ['x']);
  t.deepEqual(r.removed_resources, []);
  c.ack(r);
  await eventually(() => typeStatus(h, 'n', EDS)?.acks === 1, 5000, 'the ACK');
});

test.serial('delta: a name subscribed again is sent again, though the client holds its version (it may have forgotten it)', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('x'), endpoints('x')]);
  const c = h.delta('n');
  c.subscribe(EDS, ['x']);
  const first = await c.next(EDS);
  c.ack(first);
  await eventually(() => typeStatus(h, 'n', EDS)?.acks === 1, 5000, 'the ACK');
  // Envoy does this when it replaced the only watcher of a name (a secret, an endpoint set) while its
  // requests were paused: the unsubscribe and the subscribe cancel out, and only the subscribe is sent.
  c.subscribe(EDS, ['x']);
  const again = await c.next(EDS);
  t.deepEqual(namesIn(again), ['x']);
  t.deepEqual(again.removed_resources, []);
});

// Envoy ACKs a changed cluster only once it has warmed, and it warms only on a ClusterLoadAssignment
// received after the cluster: the endpoints must follow the cluster, unasked, even unchanged.
const changedCluster = (): Resource => clusterResource({ ...edsCluster('x'), connect_timeout: { seconds: '9' } });

test.serial('sotw: a cluster sent again with new settings is followed by its endpoints, unchanged', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('x'), endpoints('x')]);
  const c = h.sotw('n');
  c.request(CDS, []);
  c.ack(await c.next(CDS));
  c.request(EDS, ['x']);
  c.ack(await c.next(EDS), ['x']);
  await eventually(() => typeStatus(h, 'n', EDS)?.acks === 1, 5000, 'the EDS ACK');
  h.set('n', [changedCluster(), endpoints('x')]);
  t.deepEqual(namesIn(await c.next(CDS)), ['x']);
  t.deepEqual(namesIn(await c.next(EDS)), ['x'], 'the unchanged endpoints, sent again');
});

test.serial('delta: a cluster sent again with new settings is followed by its endpoints, unchanged', async (t) => {
  const h = await harness(t);
  h.set('n', [cluster('x'), endpoints('x')]);
  const c = h.delta('n');
  c.subscribe(CDS, []);
  c.ack(await c.next(CDS));
  c.subscribe(EDS, ['x']);
  c.ack(await c.next(EDS));
  await eventually(() => typeStatus(h, 'n', EDS)?.acks === 1, 5000, 'the EDS ACK');
  h.set('n', [changedCluster(), endpoints('x')]);
  t.deepEqual(namesIn(await c.next(CDS)), ['x']);
  t.deepEqual(namesIn(await c.next(EDS)), ['x'], 'the unchanged endpoints, sent again');
});

// ---------------------------------------------------------------------------------------------------
// Many nodes

test.serial('many nodes, both protocols, each gets its own desired state (and node groups share one)', async (t) => {
  const h = await harness(t, { nodeKey: (node) => (node.cluster === 'shared' ? 'group:shared' : node.id) });
  const N = 8;
  for (let i = 0; i < N; i++) h.set(`node-${i}`, [cluster(`only-${i}`), cluster(`also-${i}`)]);
  h.set('group:shared', [cluster('shared-1')]);
  const clients = Array.from({ length: N }, (_, i) => (i % 2 === 0 ? h.sotw(`node-${i}`) : h.delta(`node-${i}`)));
  const shared = [h.sotw('member-a', 'shared'), h.delta('member-b', 'shared')];
  for (const c of [...clients, ...shared]) {
    if (c instanceof SotwClient) c.request(CDS);
    else c.subscribe(CDS, []);
  }
  const first = await Promise.all([...clients, ...shared].map((c) => c.next(CDS)));
  for (let i = 0; i < N; i++) t.deepEqual(namesIn(first[i]), [`also-${i}`, `only-${i}`], `node-${i}`);
  t.deepEqual(namesIn(first[N]), ['shared-1']);
  t.deepEqual(namesIn(first[N + 1]), ['shared-1']);
  [...clients, ...shared].forEach((c, i) => {
    if (c instanceof SotwClient) c.ack(first[i] as Parameters<SotwClient['ack']>[0]);
    else c.ack(first[i] as Parameters<DeltaClient['ack']>[0]);
  });
  await eventually(() => [...Array(N).keys()].every((i) => typeStatus(h, `node-${i}`, CDS)?.acks === 1), 5000, 'every node to ACK');
  t.is(h.server.nodeStatus('member-a')?.nodeKey, 'group:shared');
  t.is(h.server.nodeStatus('node-3')?.nodeKey, 'node-3');
  t.is(h.server.connectedStreams(), N + 2);

  // A change for one node reaches that node only; one for the group reaches both members.
  h.set('node-3', [cluster('only-3'), cluster('new-3')]);
  h.set('group:shared', [cluster('shared-2')]);
  const r3 = await clients[3].next(CDS);
  t.true(namesIn(r3).includes('new-3'));
  const [ra, rb] = await Promise.all(shared.map((c) => c.next(CDS)));
  t.deepEqual(namesIn(ra), ['shared-2']);
  t.deepEqual(namesIn(rb), ['shared-2']);
  for (const [i, c] of clients.entries()) if (i !== 3) t.deepEqual(c.pending(), [], `node-${i} got nothing`);
  await sleep(QUIET_MS);
  for (const [i, c] of clients.entries()) if (i !== 3) t.deepEqual(c.pending(), [], `node-${i} got nothing`);
});

// ---------------------------------------------------------------------------------------------------
// Stream lifecycle

for (const protocol of ['sotw', 'delta'] as const) {
  test.serial(`${protocol}: a client that goes away mid-stream leaves no stream, watch or gauge behind`, async (t) => {
    const h = await harness(t);
    h.set('n', [cluster('c1')]);
    const streamsGauge = (): Promise<number> => metricValue(h.server, 'weft_xds_streams', { protocol });

    // Cancelled with a response in flight (not ACKed).
    const c = protocol === 'sotw' ? h.sotw('n') : h.delta('n');
    if (c instanceof SotwClient) c.request(CDS);
    else c.subscribe(CDS, []);
    await c.next(CDS);
    t.is(h.server.connectedStreams(), 1);
    t.is(h.server.nodeStatus('n')?.connectedStreams, 1);
    t.is(await streamsGauge(), 1);
    c.cancel();
    await eventually(() => h.server.connectedStreams() === 0, 5000, 'the server to drop the stream');
    t.is(h.server.nodeStatus('n')?.connectedStreams, 0);
    t.is(await streamsGauge(), 0);
    const responses = h.events.filter((e) => e.kind === 'response').length;
    h.set('n', [cluster('c2')]);
    await sleep(QUIET_MS);
    t.is(h.events.filter((e) => e.kind === 'response').length, responses, 'no response to a stream that is gone');

    // Half-closed by the client: the server ends its side too.
    const d = protocol === 'sotw' ? h.sotw('n') : h.delta('n');
    if (d instanceof SotwClient) d.request(CDS);
    else d.subscribe(CDS, []);
    await d.next(CDS);
    t.is(h.server.nodeStatus('n')?.connectedStreams, 1);
    d.end();
    const status = await d.status;
    t.is(status.code, grpc.status.OK);
    await eventually(() => h.server.connectedStreams() === 0, 5000, 'the server to drop the half-closed stream');
    t.is(h.server.nodeStatus('n')?.connectedStreams, 0);
    t.is(await streamsGauge(), 0);

    // A stream that never said who it is.
    const e = protocol === 'sotw' ? h.sotw('n') : h.delta('n');
    await eventually(() => h.server.connectedStreams() === 1, 5000, 'the anonymous stream to be open');
    e.cancel();
    await eventually(() => h.server.connectedStreams() === 0, 5000, 'the server to drop the anonymous stream');
    t.is(await streamsGauge(), 0);
  });
}

test.serial('graceful shutdown ends every stream with OK and refuses new ones', async (t) => {
  const h = await harness(t);
  h.set('s', [cluster('c1')]);
  h.set('d', [cluster('c1')]);
  const s = h.sotw('s');
  const d = h.delta('d');
  s.request(CDS);
  d.subscribe(CDS, []);
  await Promise.all([s.next(CDS), d.next(CDS)]);
  t.is(h.server.connectedStreams(), 2);

  await h.shutdown();
  const [ss, ds] = await Promise.all([s.status, d.status]);
  t.is(ss.code, grpc.status.OK, ss.details);
  t.is(ds.code, grpc.status.OK, ds.details);
  t.true(s.ended && d.ended);
  t.is(h.server.connectedStreams(), 0);
  t.is(h.server.nodeStatus('s')?.connectedStreams, 0);
  t.is(h.server.nodeStatus('d')?.connectedStreams, 0);
  t.is(await metricValue(h.server, 'weft_xds_streams', { protocol: 'sotw' }), 0);

  const late = h.sotw('late');
  late.request(CDS);
  t.is((await late.status).code, grpc.status.UNAVAILABLE);
});

// ---------------------------------------------------------------------------------------------------
// Reconnects: what a client declares it holds counts, without resending it

test.serial('sotw: a reconnecting client that names the version it holds gets nothing resent, and shows as holding it', async (t) => {
  const h = await harness(t);
  const state = [cluster('c1'), cluster('c2')];
  h.set('n', state);
  const first = h.sotw('n');
  first.request(CDS);
  const r1 = await first.next(CDS);
  first.ack(r1);
  await eventually(() => typeStatus(h, 'n', CDS)?.acks === 1, 5000, 'the ACK');
  first.cancel();
  await eventually(() => h.server.connectedStreams() === 0, 5000, 'the first stream to close');

  // A new stream from a client that holds nothing: the old stream's state no longer counts.
  const fresh = h.sotw('n');
  fresh.request(CDS);
  t.deepEqual(namesIn(await fresh.next(CDS)), ['c1', 'c2']);
  t.deepEqual([...typeStatus(h, 'n', CDS)!.acked], [], 'a new client holds nothing until it ACKs');
  fresh.cancel();
  await eventually(() => h.server.connectedStreams() === 0, 5000, 'the fresh stream to close');

  // A reconnecting client that holds r1.
  const resumed = h.sotw('n');
  resumed.request(CDS, [], { version_info: r1.version_info });
  t.deepEqual(await resumed.quiet(QUIET_MS), [], 'nothing to resend');
  const status = typeStatus(h, 'n', CDS)!;
  t.is(status.ackedVersion, r1.version_info);
  t.deepEqual(new Map(status.acked), new Map(state.map((r) => [r.name, r.version])));

  // A client holding something older gets the current state.
  resumed.cancel();
  await eventually(() => h.server.connectedStreams() === 0, 5000, 'the resumed stream to close');
  const outdated = h.sotw('n');
  outdated.request(CDS, [], { version_info: 'some-older-version' });
  t.deepEqual(namesIn(await outdated.next(CDS)), ['c1', 'c2']);
});

test.serial('delta: a reconnecting client that declares the versions it holds gets only the difference, and shows as holding them', async (t) => {
  const h = await harness(t);
  const [c1, c2, c3] = [cluster('c1'), cluster('c2'), cluster('c3')];
  h.set('n', [c1, c2]);
  const held = h.delta('n');
  held.subscribe(CDS, [], { initial_resource_versions: { c1: c1.version, c2: c2.version } });
  t.deepEqual(await held.quiet(QUIET_MS), [], 'nothing to resend');
  t.deepEqual(new Map(typeStatus(h, 'n', CDS)!.acked), new Map([['c1', c1.version], ['c2', c2.version]]));
  held.cancel();
  await eventually(() => h.server.connectedStreams() === 0, 5000, 'the stream to close');

  // Holding c1 and a stale c3; the desired state is c1, c2.
  const partial = h.delta('n');
  partial.subscribe(CDS, [], { initial_resource_versions: { c1: c1.version, c3: c3.version } });
  const r = await partial.next(CDS);
  t.deepEqual(namesIn(r), ['c2']);
  // c3 goes too, once nothing can reference it: here at once (no listeners or routes are subscribed).
  t.deepEqual(r.removed_resources, ['c3']);
});

// ---------------------------------------------------------------------------------------------------
// Coalescing

test.serial('cache: 50 sets in a burst publish once, the last state', async (t) => {
  const cache = new InMemorySnapshotCache({ quietMs: 20, maxDelayMs: 60_000 });
  const published: Snapshot[] = [];
  t.teardown(cache.watch('n', (s) => published.push(s)));
  const snapshots = Array.from({ length: 50 }, (_, i) => Snapshot.of([cluster(`c${i}`)]));
  for (const s of snapshots) cache.setSnapshot('n', s);
  t.is(published.length, 0, 'nothing published during the burst');
  t.is(cache.getSnapshot('n'), undefined);
  await eventually(() => published.length > 0, 10_000, 'the burst to be published');
  await sleep(200);
  t.is(published.length, 1);
  t.is(published[0], snapshots[49]);
  t.is(cache.getSnapshot('n'), snapshots[49]);
});

test.serial('cache: changes that never stop are still published, bounded by maxDelayMs', async (t) => {
  // quietMs alone would publish nothing while changes keep coming.
  const cache = new InMemorySnapshotCache({ quietMs: 60_000, maxDelayMs: 50 });
  const published: Snapshot[] = [];
  t.teardown(cache.watch('n', (s) => published.push(s)));
  const sets: Snapshot[] = [];
  const deadline = Date.now() + 20_000;
  while (published.length < 3 && Date.now() < deadline) {
    // Two changes, then a pause: a loaded machine may take longer than maxDelayMs per pause, and one change per
    // window would leave nothing to coalesce.
    for (let k = 0; k < 2; k++) {
      const s = Snapshot.of([cluster(`c${sets.length}`)]);
      sets.push(s);
      cache.setSnapshot('n', s);
    }
    await sleep(5);
  }
  t.true(published.length >= 3, `${published.length} publishes over ${sets.length} sets`);
  t.true(sets.length > published.length, 'changes were coalesced');
  const order = published.map((p) => sets.indexOf(p));
  t.true(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), 'published snapshots are set ones, in order');
  // flush() publishes what is pending now.
  const last = Snapshot.of([cluster('last')]);
  cache.setSnapshot('n', last);
  cache.flush();
  t.is(published.at(-1), last);
});

test.serial('cache: maxDelayMs 0 publishes every set at once', (t) => {
  const cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  const published: Snapshot[] = [];
  t.teardown(cache.watch('n', (s) => published.push(s)));
  for (let i = 0; i < 50; i++) cache.setSnapshot('n', Snapshot.of([cluster(`c${i}`)]));
  t.is(published.length, 50);
});

test.serial('server: a burst of 50 changes reaches a client as one response with the last state', async (t) => {
  const h = await harness(t, { coalesce: { quietMs: 20, maxDelayMs: 60_000 } });
  h.set('n', [cluster('c0')]);
  const c = h.sotw('n');
  c.request(CDS);
  const r0 = await c.next(CDS);
  c.ack(r0);
  await eventually(() => typeStatus(h, 'n', CDS)?.acks === 1, 5000, 'the ACK');
  for (let i = 1; i <= 50; i++) h.set('n', [cluster('c0'), cluster(`burst-${i}`)]);
  const r = await c.next(CDS);
  t.deepEqual(namesIn(r), ['burst-50', 'c0'], 'the first response after the burst is its last state');
  c.ack(r);
  t.deepEqual(await c.quiet(QUIET_MS), []);
  t.is(h.events.filter((e) => e.kind === 'response').length, 2);
});

// ---------------------------------------------------------------------------------------------------
// Make-before-break on the wire

/** A client that behaves like Envoy's subscriptions (wildcard CDS and LDS, named EDS and RDS), step by step. */
class Driver {
  private readonly sotw: SotwClient | undefined;
  private readonly delta: DeltaClient | undefined;
  private readonly names = new Map<string, string[]>();
  private readonly last = new Map<string, { nonce: string; version: string }>();

  constructor(h: Harness, readonly protocol: 'sotw' | 'delta', nodeId: string) {
    if (protocol === 'sotw') this.sotw = h.sotw(nodeId);
    else this.delta = h.delta(nodeId);
  }

  /** Sets the subscription of `type` to exactly `names` ([] for wildcard CDS and LDS). */
  want(type: TypeUrl, names: string[]): void {
    const before = this.names.get(type) ?? [];
    this.names.set(type, names);
    if (this.sotw) {
      const last = this.last.get(type);
      this.sotw.request(type, names, last ? { version_info: last.version, response_nonce: last.nonce } : {});
    } else {
      this.delta!.request(type, {
        resource_names_subscribe: names.filter((n) => !before.includes(n)),
        resource_names_unsubscribe: before.filter((n) => !names.includes(n)),
      });
    }
  }

  /** The next response of `type`: the resources in it (name → decoded body), and the names it removes. */
  async next(type: TypeUrl): Promise<{ names: string[]; removed: string[]; bodies: Map<string, Record<string, unknown>> }> {
    const bodies = new Map<string, Record<string, unknown>>();
    if (this.sotw) {
      const r = await this.sotw.next(type);
      this.last.set(type, { nonce: r.nonce, version: r.version_info });
      for (const any of r.resources) bodies.set(resourceName(any), unpack(any));
      return { names: [...bodies.keys()].sort(), removed: [], bodies };
    }
    const r = await this.delta!.next(type);
    this.last.set(type, { nonce: r.nonce, version: r.system_version_info });
    for (const res of r.resources) bodies.set(res.name, unpack(res.resource!));
    return { names: [...bodies.keys()].sort(), removed: [...r.removed_resources].sort(), bodies };
  }

  ack(type: TypeUrl): void {
    const last = this.last.get(type)!;
    if (this.sotw) this.sotw.request(type, this.names.get(type) ?? [], { version_info: last.version, response_nonce: last.nonce });
    else this.delta!.request(type, { response_nonce: last.nonce });
  }

  /** Unread responses of `type` after waiting QUIET_MS (expected: none). */
  async quiet(type: TypeUrl): Promise<string[]> {
    return ((await (this.sotw ?? this.delta!).quiet(QUIET_MS, type)) as Array<{ nonce: string }>).map((r) => `${shortTypeName(type)} nonce ${r.nonce}`);
  }
}

function routedCluster(body: Record<string, unknown> | undefined): string | undefined {
  const vhosts = (body?.virtual_hosts ?? []) as Array<{ routes?: Array<{ route?: { cluster?: string } }> }>;
  return vhosts[0]?.routes?.[0]?.route?.cluster;
}

for (const protocol of ['sotw', 'delta'] as const) {
  test.serial(`${protocol}: make-before-break on the wire: routes wait for their clusters' ACKs, stale clusters for the routes' ACK`, async (t) => {
    const h = await harness(t);
    h.set('n', [listener('l', 'r'), routeTo('r', 'A'), cluster('A'), endpoints('A')]);
    const d = new Driver(h, protocol, 'n');
    d.want(CDS, []);
    d.want(LDS, []);

    // Initial state: CDS, then EDS, and only then LDS and RDS.
    t.deepEqual((await d.next(CDS)).names, ['A']);
    t.deepEqual(await d.quiet(LDS), [], 'no listener before the clusters it needs are ACKed');
    d.ack(CDS);
    d.want(EDS, ['A']);
    t.deepEqual((await d.next(EDS)).names, ['A']);
    t.deepEqual(await d.quiet(LDS), [], 'no listener before the endpoints it needs are ACKed');
    d.ack(EDS);
    t.deepEqual((await d.next(LDS)).names, ['l']);
    d.ack(LDS);
    d.want(RDS, ['r']);
    t.is(routedCluster((await d.next(RDS)).bodies.get('r')), 'A');
    d.ack(RDS);
    await eventually(() => typeStatus(h, 'n', RDS)?.acks === 1, 5000, 'the RDS ACK');

    // The route moves to a new cluster B; A leaves the desired state in the same change.
    h.set('n', [listener('l', 'r'), routeTo('r', 'B'), cluster('B'), endpoints('B')]);
    const cds = await d.next(CDS);
    if (protocol === 'sotw') t.deepEqual(cds.names, ['A', 'B'], 'A is kept while the route still uses it');
    else t.deepEqual([cds.names, cds.removed], [['B'], []], 'A is not removed while the route still uses it');
    t.deepEqual(await d.quiet(RDS), [], 'no route to B before B is ACKed');
    d.ack(CDS);
    d.want(EDS, ['A', 'B']);
    const eds = await d.next(EDS);
    t.true(eds.names.includes('B'));
    t.deepEqual(eds.removed, []);
    t.deepEqual(await d.quiet(RDS), [], 'no route to B before its endpoints are ACKed');
    d.ack(EDS);
    const rds = await d.next(RDS);
    t.is(routedCluster(rds.bodies.get('r')), 'B');
    t.deepEqual(await d.quiet(CDS), [], 'A stays until the route change is ACKed');
    d.ack(RDS);
    const cleanup = await d.next(CDS);
    if (protocol === 'sotw') t.deepEqual(cleanup.names, ['B']);
    else t.deepEqual(cleanup.removed, ['A']);
    d.ack(CDS);
    d.want(EDS, ['B']);

    // The server's own record agrees on the order: the route went out after the ACKs of B's cluster and
    // endpoints, and A's removal after the route's ACK.
    const at = (pred: (e: Event) => boolean): number => h.events.findIndex(pred);
    const routeToB = at((e) => e.kind === 'response' && e.e.typeUrl === RDS && e.e.nonce === h.events.filter((x) => x.kind === 'response' && x.e.typeUrl === RDS).at(-1)!.e.nonce);
    const ackHas = (type: TypeUrl, name: string) => (e: Event) => e.kind === 'ack' && e.e.typeUrl === type && e.e.versions.has(name);
    t.true(at(ackHas(CDS, 'B')) < routeToB);
    t.true(at(ackHas(EDS, 'B')) < routeToB);
    const removalOfA = h.events.findLastIndex((e) => e.kind === 'response' && e.e.typeUrl === CDS);
    const routeAck = h.events.findLastIndex((e) => e.kind === 'ack' && e.e.typeUrl === RDS);
    t.true(routeToB < routeAck && routeAck < removalOfA);

    // Everything settles on exactly the desired state.
    await eventually(async () => {
      if ((await d.quiet(EDS)).length) {
        await d.next(EDS);
        d.ack(EDS);
      }
      return [CDS, EDS].every((type) => [...(typeStatus(h, 'n', type)?.acked.keys() ?? [])].join() === 'B');
    }, 10_000, 'the client to hold only B');
    t.deepEqual(h.events.filter((e) => e.kind === 'nack'), []);
  });
}

test.serial('negative control: with the gating disabled, the wire order above is violated', async (t) => {
  const restore = disableGating();
  t.teardown(restore);
  const h = await harness(t);
  h.set('n', [listener('l', 'r'), routeTo('r', 'A'), cluster('A'), endpoints('A')]);
  const d = new Driver(h, 'sotw', 'n');
  d.want(CDS, []);
  d.want(LDS, []);
  t.deepEqual((await d.next(CDS)).names, ['A']);
  t.not((await d.quiet(LDS)).length, 0, 'ungated, the listener comes before the clusters are ACKed');
  d.ack(CDS);
  d.want(EDS, ['A']);
  await d.next(EDS);
  d.ack(EDS);
  await d.next(LDS);
  d.ack(LDS);
  d.want(RDS, ['r']);
  await d.next(RDS);
  d.ack(RDS);
  await eventually(() => typeStatus(h, 'n', RDS)?.acks === 1, 5000, 'the RDS ACK');

  h.set('n', [listener('l', 'r'), routeTo('r', 'B'), cluster('B'), endpoints('B')]);
  const cds = await d.next(CDS);
  t.deepEqual(cds.names, ['B'], 'ungated, A is removed at once');
  const early = await d.quiet(RDS);
  t.not(early.length, 0, 'ungated, the route to B comes before B is ACKed');
});
