// Shared helpers of the benchmarks: argument parsing, statistics, the synthetic mesh configuration,
// memory sampling. Loopback and UNIX sockets only.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { edsCluster, httpListener, loadAssignment } from '../src/xds/builders.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import type { RouteConfiguration } from '../src/generated/envoy/config/route/v3/RouteConfiguration.js';
import type { Route } from '../src/generated/envoy/config/route/v3/Route.js';

/** `--name=value` and `--flag` arguments; `WEFT_BENCH_SIZE` is the default of `--size`. */
export function parseArgs(argv = process.argv.slice(2)): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}`);
    out.set(m[1], m[2] ?? 'true');
  }
  if (!out.has('size')) out.set('size', process.env.WEFT_BENCH_SIZE ?? 'quick');
  const size = out.get('size');
  if (size !== 'quick' && size !== 'full') throw new Error(`--size must be quick or full, not ${size}`);
  return out;
}

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: rank(50), p99: rank(99), max: s.at(-1) ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

export function ms(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

/** The project runs on Node 24 (node_modules/.bin/node); figures from another Node are not comparable. */
export function checkNode(): void {
  if (Number(process.versions.node.split('.')[0]) !== 24) {
    console.log(`WARNING: running on Node ${process.version}, not the project's Node 24: put node_modules/.bin first on PATH (npm run bench does)`);
  }
}

export function machine(): string {
  checkNode();
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model ?? 'unknown cpu'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The tests' helper: a TCP port on 127.0.0.1 that was free a moment ago. */
export { freePort } from '../test/helpers/net.js';

export async function waitFor(check: () => boolean, timeoutMs: number, what: string, intervalMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Samples RSS every `intervalMs` and remembers the peak (resourceUsage().maxRSS covers the whole process life). */
export class RssSampler {
  peak = 0;
  /** process.memoryUsage() at the peak. */
  atPeak: NodeJS.MemoryUsage | undefined;
  /** Every sample, when constructed with `timeline`. */
  readonly samples: Array<{ t: number; m: NodeJS.MemoryUsage }> = [];

  constructor(private readonly timeline = false) {}
  private timer: NodeJS.Timeout | undefined;

  start(intervalMs = 20): this {
    this.peak = process.memoryUsage.rss();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    return this;
  }

  sample(): void {
    if (this.timeline) this.samples.push({ t: performance.now(), m: process.memoryUsage() });
    const rss = process.memoryUsage.rss();
    if (rss > this.peak || !this.atPeak) {
      this.peak = rss;
      this.atPeak = process.memoryUsage();
    }
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

// --- The synthetic mesh: ~50 EDS clusters with endpoints, one HTTP listener, N routes over virtual hosts.

export const ROUTE_CONFIG = 'http-routes';
export const LISTENER = 'http';
export const ROUTES_PER_VHOST = 20;

export function clusterName(i: number): string {
  return `svc-${String(i).padStart(2, '0')}.ns-${i % 7}`;
}

export interface MeshSpec {
  routes: number;
  clusters: number;
  listenerPort: number;
  /** Endpoints per cluster. */
  endpoints?: number;
}

/** Route `i`: virtual host i / 20, a versioned API prefix, one of the clusters. */
export function route(i: number, clusters: number, variant = 0): Route {
  const cluster = clusterName((i * 7 + variant) % clusters);
  return {
    name: `r${i}`,
    match: { prefix: `/api/v${1 + (i % 3)}/team-${Math.floor(i / ROUTES_PER_VHOST)}/res-${i % ROUTES_PER_VHOST}${variant ? `-v${variant}` : ''}` },
    route: { cluster, timeout: { seconds: '15', nanos: 0 } },
  };
}

export function routeTable(spec: MeshSpec, changed?: { index: number; variant: number }): RouteConfiguration & { name: string } {
  const vhosts: NonNullable<RouteConfiguration['virtual_hosts']> = [];
  for (let i = 0; i < spec.routes; i++) {
    const v = Math.floor(i / ROUTES_PER_VHOST);
    if (!vhosts[v]) vhosts[v] = { name: `team-${v}`, domains: [`team-${v}.example.com`, `team-${v}.example.com:*`], routes: [] };
    vhosts[v].routes!.push(route(i, spec.clusters, changed?.index === i ? changed.variant : 0));
  }
  return { name: ROUTE_CONFIG, virtual_hosts: vhosts };
}

export function meshResources(spec: MeshSpec): Resource[] {
  const out: Resource[] = [];
  for (let c = 0; c < spec.clusters; c++) {
    const name = clusterName(c);
    out.push(clusterResource(edsCluster(name)));
    const eps = Array.from({ length: spec.endpoints ?? 3 }, (_, e) => ({ address: `10.${c}.${e >> 8}.${e & 255}`, port: 8080 }));
    out.push(endpointsResource(loadAssignment(name, eps)));
  }
  out.push(listenerResource(httpListener({ name: LISTENER, address: '127.0.0.1', port: spec.listenerPort, routeConfigName: ROUTE_CONFIG })));
  out.push(routeConfigurationResource(routeTable(spec)));
  return out;
}

/**
 * CPU time (ms) of every thread of process `pid` (the run times in every /proc/PID/task/TID/schedstat, ns resolution,
 * unlike the 10 ms ticks of /proc/PID/stat); NaN where unavailable.
 */
export function threadsCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * Ratios of paired samples (`other[i] / base[i]`, each pair measured back to back): their median and a 95%
 * bootstrap interval of that median (2,000 resamples, fixed seed). On a shared machine whose speed drifts over
 * seconds, pairing cancels the drift that a ratio of two medians keeps.
 */
export function pairedRatio(base: number[], other: number[]): { median: number; lo: number; hi: number; n: number } {
  const ratios = base.map((b, i) => other[i] / b).filter((r) => Number.isFinite(r));
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  let seed = 0x9e3779b9;
  const random = (): number => {
    // mulberry32: a small deterministic generator, so that the same samples give the same interval.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const medians = Array.from({ length: 2000 }, () => median(ratios.map(() => ratios[Math.floor(random() * ratios.length)])));
  medians.sort((a, b) => a - b);
  return { median: median(ratios), lo: medians[Math.floor(0.025 * medians.length)], hi: medians[Math.ceil(0.975 * medians.length) - 1], n: ratios.length };
}
