// Push latency: a real Envoy holds a RouteConfiguration of N routes; ONE route changes; how long from
// cache.setSnapshot until the server sees Envoy ACK that RouteConfiguration version?
//
//   node dist/bench/push-latency.js [--size=quick|full] [--protocol=delta|sotw|both] [--coalesce=default|immediate]
//
// Baseline, measured in the same run: the same round trip with a 1-route RouteConfiguration.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeBootstrap } from '../envoy/bootstrap.js';
import { EnvoyProcess } from '../envoy/process.js';
import { DEFAULT_COALESCE, InMemorySnapshotCache, type CoalesceOptions } from '../src/xds/cache.js';
import { routeConfigurationResource } from '../src/xds/envoy-resources.js';
import { adsPackageDefinition } from '../src/xds/protos.js';
import { resourceAsAny, type Resource } from '../src/xds/resource.js';
import { XdsServer } from '../src/xds/server.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { ALL_TYPE_URLS, TypeUrl } from '../src/xds/type-urls.js';
import type { AckEvent, ResponseEvent } from '../src/xds/ads-stream.js';
import { freePort, machine, meshResources, ms, parseArgs, ROUTE_CONFIG, routeTable, stats, waitFor, type MeshSpec, type Stats } from './lib.js';

type Protocol = 'delta' | 'sotw';

const args = parseArgs();
const full = args.get('size') === 'full';
const protocols: Protocol[] = args.get('protocol') === 'sotw' ? ['sotw'] : args.get('protocol') === 'delta' ? ['delta'] : ['delta', 'sotw'];
const coalesce: Partial<CoalesceOptions> = args.get('coalesce') === 'immediate' ? { maxDelayMs: 0 } : {};
const CLUSTERS = 50;
/** Route counts; the first is the baseline. */
const SIZES = [1, 10, 1_000, 10_000];
const iterations = (routes: number): number => (full ? (routes >= 10_000 ? 100 : 200) : routes >= 10_000 ? 20 : 40);
const WARMUP = 5;
const STATS_FLUSH_WAIT_MS = 1_200;
/** Bounds each size's loop however slow the machine is. */
const BUDGET_MS = full ? 120_000 : 40_000;

interface SizeResult {
  protocol: Protocol;
  routes: number;
  bytes: number;
  total: Stats;
  toResponse: Stats;
  ackLatency: Stats;
  encode: Stats;
  serialize: Stats;
  /** Control-plane GC time (ms) inside each setSnapshot→ACK window. */
  gc: Stats;
  /** Envoy's own RDS update_duration histogram (onConfigUpdate, after the response is decoded), diffed over the loop. */
  envoyUpdate: Stats;
  /** Envoy process CPU time per route change, averaged over the loop (all of its threads). */
  envoyCpuMs: number;
}

/** GC pauses of this process, as they happen. */
const gcEntries: Array<{ start: number; duration: number }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcEntries.push({ start: e.startTime, duration: e.duration });
  if (gcEntries.length > 10_000) gcEntries.splice(0, 5_000);
}).observe({ entryTypes: ['gc'] });

function gcBetween(t0: number, t1: number): number {
  let sum = 0;
  for (const e of gcEntries) if (e.start + e.duration >= t0 && e.start <= t1) sum += e.duration;
  return sum;
}

/** CPU time (user + system) of a process, in ms; NaN where /proc is unavailable. */
function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** Deterministic route picks, so runs compare. */
function* lcg(seed: number): Generator<number> {
  let x = seed >>> 0;
  for (;;) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    yield x;
  }
}

const deltaSerialize = (() => {
  const def = adsPackageDefinition()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, { responseSerialize: (v: unknown) => Buffer }>;
  return def.DeltaAggregatedResources.responseSerialize;
})();

async function runProtocol(protocol: Protocol): Promise<SizeResult[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-'));
  const socket = path.join(dir, 'xds.sock');
  const nodeId = `bench-${protocol}-${process.pid}`;
  const cache = new InMemorySnapshotCache(coalesce);
  const server = new XdsServer({ cache });
  const acks: Array<(e: AckEvent) => void> = [];
  const responses: Array<(e: ResponseEvent) => void> = [];
  server.on('ack', (e) => {
    for (const f of acks) f(e);
  });
  server.on('response', (e) => {
    for (const f of responses) f(e);
  });
  let nacked: string | undefined;
  server.on('nack', (e) => {
    nacked ??= `Envoy NACKed ${e.typeUrl}: ${e.errorMessage}`;
  });
  await server.listen({ unix: socket });
  // Envoy merges histograms into what /stats shows on each stats flush: flush every second.
  const envoy = new EnvoyProcess({ bootstrap: { ...nodeBootstrap({ nodeId, protocol, xds: { unix: socket } }), stats_flush_interval: { seconds: '1' } } });
  const results: SizeResult[] = [];
  try {
    await envoy.start();
    const listenerPort = await freePort();
    let snapshot: Snapshot | undefined;
    const converged = (): boolean => {
      const status = server.nodeStatus(nodeId);
      if (!status || status.connectedStreams === 0 || !snapshot) return false;
      for (const type of ALL_TYPE_URLS) {
        const desired = snapshot.resources(type);
        const acked = status.types.get(type)?.acked ?? new Map<string, string>();
        if (acked.size !== desired.size) return false;
        for (const [name, r] of desired) if (acked.get(name) !== r.version) return false;
      }
      return true;
    };
    for (const routes of SIZES) {
      const spec: MeshSpec = { routes, clusters: CLUSTERS, listenerPort };
      snapshot = Snapshot.of(meshResources(spec));
      cache.setSnapshot(nodeId, snapshot);
      await waitFor(converged, 60_000, `Envoy to converge on ${routes} routes`);
      const pick = lcg(routes);
      const total: number[] = [];
      const toResponse: number[] = [];
      const ackLatency: number[] = [];
      const encode: number[] = [];
      const serialize: number[] = [];
      const gc: number[] = [];
      let bytes = 0;
      const started = performance.now();
      const n = iterations(routes);
      let cpuWarm = NaN;
      let histWarm: Histogram = new Map();
      for (let i = 0; i < n + WARMUP && performance.now() - started < BUDGET_MS; i++) {
        const index = pick.next().value! % routes;
        const config = routeTable(spec, { index, variant: i + 1 });
        // The translate-free part: encoding the changed resource (protobufjs fromObject + encode + hash).
        const e0 = performance.now();
        const changed: Resource = routeConfigurationResource(config);
        const e1 = performance.now();
        bytes = changed.body.byteLength;
        const next: Snapshot = snapshot.with([changed]);
        let tResponse = NaN;
        let ack: AckEvent | undefined;
        let t1 = NaN;
        let acked!: () => void;
        const ackedPromise = new Promise<void>((resolve) => (acked = resolve));
        const onResponse = (e: ResponseEvent): void => {
          if (e.nodeId === nodeId && e.typeUrl === TypeUrl.RouteConfiguration && Number.isNaN(tResponse)) tResponse = performance.now();
        };
        const onAck = (e: AckEvent): void => {
          if (e.nodeId === nodeId && e.typeUrl === TypeUrl.RouteConfiguration && e.versions.get(ROUTE_CONFIG) === changed.version && !ack) {
            t1 = performance.now();
            ack = e;
            acked();
          }
        };
        responses.push(onResponse);
        acks.push(onAck);
        snapshot = next;
        const t0 = performance.now();
        cache.setSnapshot(nodeId, next);
        const timeout = setTimeout(() => acked(), 30_000);
        await ackedPromise;
        clearTimeout(timeout);
        if (nacked) throw new Error(nacked);
        if (!ack) throw new Error(`no ACK of route change ${i} (${routes} routes) within 30 s`);
        responses.length = 0;
        acks.length = 0;
        // The response the server writes (the same encode path grpc-js runs), measured off the clock.
        const s0 = performance.now();
        deltaSerialize({ type_url: changed.typeUrl, nonce: '1', system_version_info: 'x', resources: [{ name: changed.name, version: changed.version, resource: resourceAsAny(changed) }], removed_resources: [] });
        const s1 = performance.now();
        if (i >= WARMUP) {
          total.push(t1 - t0);
          toResponse.push(tResponse - t0);
          ackLatency.push(ack.latencyMs);
          encode.push(e1 - e0);
          serialize.push(s1 - s0);
          gc.push(gcBetween(t0, t1));
        }
        if (i === WARMUP - 1) {
          await new Promise((r) => setTimeout(r, STATS_FLUSH_WAIT_MS));
          cpuWarm = processCpuMs(envoy.pid);
          histWarm = await rdsUpdateHistogram(envoy);
        }
        // Changes are not back to back in practice; let Envoy finish propagating to its workers.
        await new Promise((r) => setTimeout(r, 10));
      }
      // The loop paused 10 ms after each ACK, so the CPU Envoy used is its work on the updates (and idle ticks).
      const envoyCpuMs = (processCpuMs(envoy.pid) - cpuWarm) / total.length;
      await new Promise((r) => setTimeout(r, STATS_FLUSH_WAIT_MS));
      const envoyUpdate = histogramStats(diffHistogram(await rdsUpdateHistogram(envoy), histWarm));
      const r: SizeResult = {
        protocol, routes, bytes,
        total: stats(total), toResponse: stats(toResponse), ackLatency: stats(ackLatency), encode: stats(encode), serialize: stats(serialize), gc: stats(gc),
        envoyUpdate, envoyCpuMs,
      };
      results.push(r);
      console.log(
        `${protocol.padEnd(5)} ${String(routes).padStart(6)} routes (${(bytes / 1024).toFixed(0)} KiB): setSnapshot→ACK p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} max ${ms(r.total.max)} ms (n=${r.total.n}); ` +
          `→response p50 ${ms(r.toResponse.p50)} p99 ${ms(r.toResponse.p99)}; response→ACK p50 ${ms(r.ackLatency.p50)} p99 ${ms(r.ackLatency.p99)}; ` +
          `makeResource p50 ${ms(r.encode.p50)} p99 ${ms(r.encode.p99)}; serialize p50 ${ms(r.serialize.p50)}; control-plane GC in window p50 ${ms(r.gc.p50)} max ${ms(r.gc.max)}; ` +
          `Envoy RDS update_duration p50 ${ms(r.envoyUpdate.p50)} p99 ${ms(r.envoyUpdate.p99)}; Envoy CPU/update ${ms(envoyCpuMs)} ms`,
      );
    }
  } finally {
    await envoy.stop();
    await server.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

type Histogram = Map<number, { width: number; count: number }>;

/** Envoy's detailed cumulative histogram of its RDS update_duration (ms), by bucket lower bound. */
async function rdsUpdateHistogram(envoy: EnvoyProcess): Promise<Histogram> {
  const out: Histogram = new Map();
  try {
    const text = await envoy.admin(`/stats?format=json&histogram_buckets=detailed&filter=${encodeURIComponent('rds\\..*update_duration')}`);
    const json = JSON.parse(text) as { stats: Array<{ histograms?: { details?: Array<{ totals: Array<{ lower_bound: number; width: number; count: number }> }> } }> };
    for (const s of json.stats) for (const d of s.histograms?.details ?? []) for (const b of d.totals) out.set(b.lower_bound, { width: b.width, count: b.count });
  } catch {
    // an Envoy without the detailed histogram output: leave it empty
  }
  return out;
}

function diffHistogram(after: Histogram, before: Histogram): Histogram {
  const out: Histogram = new Map();
  for (const [lb, b] of after) {
    const count = b.count - (before.get(lb)?.count ?? 0);
    if (count > 0) out.set(lb, { width: b.width, count });
  }
  return out;
}

function histogramStats(h: Histogram): Stats {
  const samples: number[] = [];
  for (const [lb, b] of h) for (let i = 0; i < b.count; i++) samples.push(lb + b.width / 2);
  return stats(samples);
}

async function main(): Promise<void> {
  const c = { ...DEFAULT_COALESCE, ...coalesce };
  console.log(`# push-latency  size=${args.get('size')}  coalescing quietMs=${c.quietMs} maxDelayMs=${c.maxDelayMs}  ${machine()}  ${new Date().toISOString()}`);
  const all: SizeResult[] = [];
  for (const protocol of protocols) all.push(...(await runProtocol(protocol)));
  console.log('\nprotocol | routes | RDS KiB | setSnapshot→ACK p50 / p99 / max (ms) | ×baseline p50 / p99 | →response p50 | response→ACK p50 / p99 | Envoy update_duration p50 / p99 | Envoy CPU/update | CP GC in window max | makeResource p50 / p99 (ms)');
  for (const r of all) {
    const base = all.find((b) => b.protocol === r.protocol && b.routes === SIZES[0])!;
    console.log(
      `${r.protocol} | ${r.routes} | ${(r.bytes / 1024).toFixed(1)} | ${ms(r.total.p50)} / ${ms(r.total.p99)} / ${ms(r.total.max)} | ${(r.total.p50 / base.total.p50).toFixed(2)} / ${(r.total.p99 / base.total.p99).toFixed(2)} | ` +
        `${ms(r.toResponse.p50)} | ${ms(r.ackLatency.p50)} / ${ms(r.ackLatency.p99)} | ${ms(r.envoyUpdate.p50)} / ${ms(r.envoyUpdate.p99)} | ${ms(r.envoyCpuMs)} | ${ms(r.gc.max)} | ${ms(r.encode.p50)} / ${ms(r.encode.p99)}`,
    );
  }
  const delta10k = all.find((r) => r.protocol === 'delta' && r.routes === 10_000);
  if (delta10k) console.log(`\ntarget: one route change ACKed within 50 ms p99 with 10,000 routes (delta): p99 ${ms(delta10k.total.p99)} ms → ${delta10k.total.p99 <= 50 ? 'MET' : 'MISSED'}`);
  console.log(`RESULT push-latency ${JSON.stringify(all)}`);
}

await main();
