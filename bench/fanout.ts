// Fan-out: N simulated ADS clients (bench/fanout-client.ts, in separate child processes) share one
// desired state (grouped by node.cluster through XdsServer's nodeKey) of a 1,000-route configuration.
// Measured in this process, which is only the control plane:
// - convergence: from cache.setSnapshot (clients connected and subscribed) until every client ACKed the
//   desired version of every type (clusters, endpoints, listener, routes);
// - a second push: one route changes; until every client ACKed the new RouteConfiguration;
// - control-plane RSS (sampled every 20 ms) and CPU time.
// Baseline, in the same run: the same with a single client.
//
//   node dist/bench/fanout.js [--size=quick|full] [--clients=1000] [--procs=2] [--protocol=delta|sotw]
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { InMemorySnapshotCache } from '../src/xds/cache.js';
import { routeConfigurationResource } from '../src/xds/envoy-resources.js';
import { XdsServer } from '../src/xds/server.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { fingerprintOf } from '../src/xds/stream-plan.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import type { ClientMessage, ClientProcessOptions, ParentMessage } from './fanout-client.js';
import { machine, meshResources, mib, ms, parseArgs, routeTable, RssSampler, stats, waitFor, type MeshSpec, type Stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const protocol = args.get('protocol') === 'sotw' ? 'sotw' : 'delta';
const CLIENTS = Number(args.get('clients') ?? 1000);
const PROCS = Number(args.get('procs') ?? (CLIENTS >= 500 ? 2 : 1));
const ROUTES = Number(args.get('routes') ?? 1000);
/** Second pushes (one route change each) per phase. */
const PUSHES = full ? 10 : 3;
const CONVERGE_TIMEOUT_MS = 120_000;

const TYPES = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration] as const;
const ALL_BITS = (1 << TYPES.length) - 1;

interface PhaseResult {
  protocol: string;
  clients: number;
  resources: number;
  snapshotBytes: number;
  /** setSnapshot → every client ACKed every type (ms). */
  convergeMs: number;
  /** Per-client time to converge (ms), over the clients. */
  perClient: Stats;
  convergeCpuMs: number;
  clientsCpuMs: number;
  /** setSnapshot of a one-route change → every client ACKed it (ms), over the pushes. */
  push: Stats;
  pushCpuMs: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  heapPeakMiB: number;
}

/** Per-node: which types are at the desired version; when the node got there. */
class Convergence {
  private readonly masks = new Map<string, number>();
  private readonly expected = new Map<string, string>();
  done = 0;
  readonly doneAt: number[] = [];

  constructor(readonly prefix: string, readonly clients: number) {}

  expect(snapshot: Snapshot, types: readonly string[]): void {
    for (const t of types) this.expected.set(t, fingerprintOf(snapshot.resources(t as TypeUrl)));
    const clear = types.reduce((m, t) => m | (1 << TYPES.indexOf(t as (typeof TYPES)[number])), 0);
    this.done = 0;
    this.doneAt.length = 0;
    for (const [node, mask] of this.masks) this.masks.set(node, mask & ~clear);
  }

  onAck(nodeId: string, typeUrl: string, versionInfo: string): void {
    if (!nodeId.startsWith(this.prefix)) return;
    const bit = 1 << TYPES.indexOf(typeUrl as (typeof TYPES)[number]);
    const before = this.masks.get(nodeId) ?? 0;
    const after = versionInfo === this.expected.get(typeUrl) ? before | bit : before & ~bit;
    this.masks.set(nodeId, after);
    if (after === ALL_BITS && before !== ALL_BITS) {
      this.done++;
      this.doneAt.push(performance.now());
    } else if (before === ALL_BITS && after !== ALL_BITS) {
      this.done--;
    }
  }
}

function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

function procCpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

async function startClients(opts: Omit<ClientProcessOptions, 'first' | 'count'>, clients: number, procs: number): Promise<ChildProcess[]> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fanout-client.js');
  const children: ChildProcess[] = [];
  const ready: Array<Promise<void>> = [];
  const per = Math.ceil(clients / procs);
  for (let p = 0; p < procs; p++) {
    const first = p * per;
    const count = Math.min(per, clients - first);
    if (count <= 0) break;
    const child = fork(script, [JSON.stringify({ ...opts, first, count } satisfies ClientProcessOptions)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.on('message', (m: ClientMessage) => {
          if (m.type === 'ready') resolve();
          if (m.type === 'error') console.error(`client error: ${m.message}`);
        });
        child.once('exit', (code) => reject(new Error(`client process exited with ${code} before it was ready`)));
      }),
    );
  }
  await Promise.all(ready);
  return children;
}

async function stopClients(children: ChildProcess[]): Promise<number> {
  let cpu = 0;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.on('message', (m: ClientMessage) => {
            if (m.type === 'stopped') cpu += m.cpuMs;
          });
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.send({ type: 'stop' } satisfies ParentMessage);
        }),
    ),
  );
  return cpu;
}

async function phase(server: XdsServer, cache: InMemorySnapshotCache, target: string, clients: number, procs: number): Promise<PhaseResult> {
  const nodeCluster = `fanout-${protocol}-${clients}`;
  const prefix = `${nodeCluster}-node`;
  const conv = new Convergence(prefix, clients);
  const onAck = (e: { nodeId: string; typeUrl: string; versionInfo: string }): void => conv.onAck(e.nodeId, e.typeUrl, e.versionInfo);
  server.on('ack', onAck);
  const spec: MeshSpec = { routes: ROUTES, clusters: 50, listenerPort: 10_080 };
  let snapshot = Snapshot.of(meshResources(spec));
  const resources = [...snapshot.all()];
  const snapshotBytes = resources.reduce((n, r) => n + r.body.byteLength, 0);
  const children = await startClients({ target, protocol, nodeCluster, nodeIdPrefix: prefix }, clients, procs);
  try {
    const childPids = children.map((c) => c.pid);
    // Connected: every client's stream is bound to its node (its first request arrived).
    const bound = (): number => server.status.all().filter((n) => n.nodeKey === nodeCluster && n.connectedStreams > 0).length;
    await waitFor(() => bound() === clients, 60_000, `${clients} clients to connect`, 20);
    // Their second request (LDS) follows the first on the same stream; give it time to land.
    await new Promise((r) => setTimeout(r, 500));
    global.gc?.();
    if (args.has('trace-memory')) console.log(`  before the push: new_space ${(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / 2 ** 20).toFixed(0)} MiB`);
    const rss = new RssSampler(args.has('trace-memory')).start(20);
    const rssBefore = rss.peak;
    let heapPeak = process.memoryUsage().heapUsed;
    const heapTimer = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 50);

    conv.expect(snapshot, TYPES);
    const clientsCpu0 = childPids.reduce<number>((n, pid) => n + procCpuMs(pid), 0);
    const cpu0 = cpuMs();
    const t0 = performance.now();
    cache.setSnapshot(nodeCluster, snapshot);
    await waitFor(() => conv.done === clients, CONVERGE_TIMEOUT_MS, `${clients} clients to converge`, 2);
    const convergeMs = Math.max(...conv.doneAt) - t0;
    const perClient = stats(conv.doneAt.map((t) => t - t0));
    const convergeCpuMs = cpuMs() - cpu0;
    const clientsCpuMs = childPids.reduce<number>((n, pid) => n + procCpuMs(pid), 0) - clientsCpu0;

    const push: number[] = [];
    let pushCpu = 0;
    for (let i = 0; i < PUSHES; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const changed = routeConfigurationResource(routeTable(spec, { index: (i * 97) % ROUTES, variant: i + 1 }));
      snapshot = snapshot.with([changed]);
      conv.expect(snapshot, [TypeUrl.RouteConfiguration]);
      const c0 = cpuMs();
      const p0 = performance.now();
      cache.setSnapshot(nodeCluster, snapshot);
      await waitFor(() => conv.done === clients, CONVERGE_TIMEOUT_MS, `${clients} clients to ACK route change ${i}`, 2);
      push.push(Math.max(...conv.doneAt) - p0);
      pushCpu += cpuMs() - c0;
    }
    clearInterval(heapTimer);
    const rssPeak = rss.stop();
    const atPeak = rss.atPeak!;
    const m = (x: number): string => (x / 2 ** 20).toFixed(0);
    if (args.has('trace-memory')) for (const sp of v8.getHeapSpaceStatistics()) console.log(`  ${sp.space_name}: size ${m(sp.space_size)} used ${m(sp.space_used_size)}`);
    for (const { t, m: u } of rss.samples) console.log(`  t=${(t - t0).toFixed(0)}ms rss ${m(u.rss)} heapTotal ${m(u.heapTotal)} heapUsed ${m(u.heapUsed)} external ${m(u.external)}`);
    console.log(`  memory at the RSS peak (MiB): rss ${m(atPeak.rss)} heapTotal ${m(atPeak.heapTotal)} heapUsed ${m(atPeak.heapUsed)} external ${m(atPeak.external)} arrayBuffers ${m(atPeak.arrayBuffers)}`);
    return {
      protocol, clients, resources: resources.length, snapshotBytes,
      convergeMs, perClient, convergeCpuMs, clientsCpuMs,
      push: stats(push), pushCpuMs: pushCpu / PUSHES,
      rssBeforeMiB: rssBefore / 2 ** 20, rssPeakMiB: rssPeak / 2 ** 20, heapPeakMiB: heapPeak / 2 ** 20,
    };
  } finally {
    server.off('ack', onAck);
    await stopClients(children);
    cache.clearSnapshot(nodeCluster);
  }
}

async function main(): Promise<void> {
  console.log(`# fanout  size=${args.get('size')}  protocol=${protocol}  clients=${CLIENTS} in ${PROCS} processes  routes=${ROUTES}  coalescing default  ${machine()}  ${new Date().toISOString()}`);
  const cache = new InMemorySnapshotCache();
  const server = new XdsServer({ cache, nodeKey: (node) => node.cluster });
  const port = await server.listen({ tcp: { host: '127.0.0.1', port: 0 } });
  const target = `127.0.0.1:${port}`;
  const results: PhaseResult[] = [];
  // --alloc-prof=FILE: a sampling profile of every allocation (kept or collected), for finding churn.
  const allocProf = args.get('alloc-prof');
  const inspector = allocProf ? new Session() : undefined;
  if (inspector) {
    inspector.connect();
    await inspector.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  try {
    for (const clients of [1, CLIENTS]) {
      const r = await phase(server, cache, target, clients, clients === 1 ? 1 : PROCS);
      results.push(r);
      console.log(
        `${protocol} ${String(clients).padStart(5)} clients: converged in ${ms(r.convergeMs)} ms (per-client p50 ${ms(r.perClient.p50)} p99 ${ms(r.perClient.p99)}), ` +
          `control-plane CPU ${ms(r.convergeCpuMs)} ms, clients' CPU ${ms(r.clientsCpuMs)} ms; one-route push to all p50 ${ms(r.push.p50)} max ${ms(r.push.max)} ms ` +
          `(CPU ${ms(r.pushCpuMs)} ms); RSS ${r.rssBeforeMiB.toFixed(0)} → peak ${r.rssPeakMiB.toFixed(0)} MiB, heap peak ${r.heapPeakMiB.toFixed(0)} MiB`,
      );
    }
  } finally {
    await server.shutdown(1000);
    if (inspector && allocProf) {
      const { profile } = await inspector.post('HeapProfiler.stopSampling');
      writeFileSync(allocProf, JSON.stringify(profile));
      inspector.disconnect();
    }
  }
  const [one, many] = results as [PhaseResult, PhaseResult];
  const maxRss = process.resourceUsage().maxRSS * 1024;
  console.log(`\nsnapshot: ${one.resources} resources, ${(one.snapshotBytes / 1024).toFixed(0)} KiB encoded; control-plane maxRSS over the whole run ${mib(maxRss)} MiB`);
  console.log('protocol | clients | converge (ms) | ×1 client | CP CPU (ms) | CP CPU per client (ms) | push p50 / max (ms) | ×1 client | CP RSS before → peak (MiB)');
  for (const r of results) {
    console.log(
      `${r.protocol} | ${r.clients} | ${ms(r.convergeMs)} | ${(r.convergeMs / one.convergeMs).toFixed(1)} | ${ms(r.convergeCpuMs)} | ${ms(r.convergeCpuMs / r.clients)} | ` +
        `${ms(r.push.p50)} / ${ms(r.push.max)} | ${(r.push.p50 / one.push.p50).toFixed(1)} | ${r.rssBeforeMiB.toFixed(0)} → ${r.rssPeakMiB.toFixed(0)}`,
    );
  }
  console.log(
    `\ntarget: ${CLIENTS} clients converged within 5 s: ${ms(many.convergeMs)} ms → ${many.convergeMs <= 5000 ? 'MET' : 'MISSED'}; ` +
      `control plane under 300 MiB: peak RSS ${many.rssPeakMiB.toFixed(0)} MiB (maxRSS ${mib(maxRss)}) → ${Math.max(many.rssPeakMiB, maxRss / 2 ** 20) <= 300 ? 'MET' : 'MISSED'}`,
  );
  console.log(`RESULT fanout ${JSON.stringify({ results, maxRssMiB: maxRss / 2 ** 20 })}`);
}

await main();
