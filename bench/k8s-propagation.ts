// Kubernetes mode: from creating an HTTPRoute in the API server (what `kubectl apply` does) to the first 200 through
// the Gateway, with N HTTPRoutes already present; and the control plane's CPU and memory at steady state and while
// the N routes are created. Real etcd + kube-apiserver (the local cluster, in network namespaces with no route out),
// `weft operator` on the host and `weft agent` with its Envoy in the node's namespace, both as child processes; the
// backend is an echo pod on the node. Traffic goes from the host to the Gateway's pool address on the cluster bridge.
//
//   node dist/bench/k8s-propagation.js [--size=quick|full] [--routes=100,1000] [--cluster=NAME --subnet=A.B.C.0/24] [--trace]  (root)
//
// Baseline, measured in the same run, interleaved with the changes: the API server's create round trip for a
// ConfigMap (what any controller pays to see an object exist), so the ratio says what Weft adds on top of the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { clusterDown, clusterOptions, clusterUp } from '../src/devcluster/cluster.js';
import { createNodeNetwork, deleteNodeNetwork } from '../src/devcluster/nodes.js';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { serviceForPod, startEchoPod, type TestPod } from '../test/helpers/pods.js';
import { treeState } from './gateway-manifests.js';
import { machine, mib, ms, parseArgs, stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const SIZES = (args.get('routes') ?? '100,1000').split(',').map(Number);
const ITERATIONS = full ? 50 : 20;
const WARMUP = 3;
const CHANGE_TIMEOUT_MS = 30_000;
const NS = 'bench';
const mainJs = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const command = `node dist/bench/k8s-propagation.js ${process.argv.slice(2).join(' ')}`.trim();

/** CPU time (user+system, ms) and RSS (bytes) of a process, from /proc. */
function usage(pid: number): { cpuMs: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  return { cpuMs: ticks * 10, rss };
}

/** CPU per second of wall time and peak RSS of the processes over a window. */
class Window {
  private readonly start: Map<number, number>;
  private readonly t0 = performance.now();
  private peak = new Map<number, number>();
  private timer: NodeJS.Timeout;

  constructor(private readonly pids: Record<string, number>) {
    this.start = new Map(Object.values(pids).map((p) => [p, usage(p).cpuMs]));
    this.timer = setInterval(() => this.sample(), 100);
  }

  private sample(): void {
    for (const p of Object.values(this.pids)) this.peak.set(p, Math.max(this.peak.get(p) ?? 0, usage(p).rss));
  }

  end(): string {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.t0) / 1000;
    return Object.entries(this.pids)
      .map(([name, p]) => `${name} ${((usage(p).cpuMs - this.start.get(p)!) / seconds).toFixed(0)} ms CPU/s, ${mib(this.peak.get(p) ?? 0)} MiB RSS`)
      .join('; ') + ` (over ${seconds.toFixed(1)} s)`;
  }
}

/**
 * --trace: the agent logs at debug level, and each create is broken down along its critical path from the agent's
 * log lines (epoch ms): API server + watch → change seen → debounce → snapshot taken → translation and snapshot set
 * → xDS response (RouteConfiguration) sent → Envoy's ACK → the first 200 seen by the poller.
 */
interface TraceEvent { time: number; msg: string; type?: string; translateMs?: number }
const TRACED = ['change seen', 'snapshot taken', 'configuration served', 'xDS response', 'xDS ACK'];

class Trace {
  private partial = '';
  private readonly events: TraceEvent[] = [];
  private readonly rows: number[][] = [];

  feed(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const e = JSON.parse(line) as TraceEvent;
        if (TRACED.includes(e.msg)) this.events.push(e);
      } catch { /* not a log line */ }
    }
  }

  private first(after: number, msg: string, type?: string): TraceEvent | undefined {
    return this.events.find((e) => e.time >= after && e.msg === msg && (type === undefined || e.type === type));
  }

  private last(upTo: number, msg: string): TraceEvent | undefined {
    return this.events.findLast((e) => e.time <= upTo && e.msg === msg);
  }

  /** One create: from `created` (epoch ms) to the first 200 at `ok`. */
  record(created: number, ok: number): void {
    // Backwards from the route's push (changes that leave the RouteConfiguration alone, e.g. the baseline's ConfigMap,
    // push nothing): the translation served last before it, its snapshot, the change that opened that snapshot.
    const sent = this.first(created, 'xDS response', 'RouteConfiguration');
    const ack = sent && this.first(sent.time, 'xDS ACK', 'RouteConfiguration');
    const served = sent && this.last(sent.time, 'configuration served');
    const snap = served && this.last(served.time, 'snapshot taken');
    const seen = snap && this.last(snap.time, 'change seen');
    if (process.env.WEFT_BENCH_TRACE_EVENTS) {
      console.log(`    +0 create … +${ok - created} 200: ${this.events.filter((e) => e.time >= created - 50 && e.time <= ok).map((e) => `${e.msg}${e.type ? ` ${e.type}` : ''}@${e.time - created}`).join(', ')}`);
    }
    if (!seen || !ack || ack.time > ok + 5) return; // not found (or a later change's): left out
    // A change seen before the create opened the window the route's event joined: its wait starts with the create.
    const seenAt = Math.max(seen.time, created);
    this.rows.push([seenAt - created, snap.time - seenAt, served.translateMs ?? 0, served.time - snap.time, sent.time - served.time, ack.time - sent.time, ok - ack.time]);
  }

  summary(): string {
    const names = ['API+watch (and a busy agent)', 'debounce', '(translation)', 'translate+set', 'to xDS send', 'Envoy to ACK', 'ACK to 200'];
    const n = this.rows.length;
    const out = names.map((name, i) => {
      const s = stats(this.rows.map((r) => r[i]));
      return `${name} p50 ${ms(s.p50)} p99 ${ms(s.p99)}`;
    });
    this.rows.length = 0;
    return `breakdown (n=${n}, ms): ${out.join('; ')}`;
  }
}

const trace = args.has('trace') ? new Trace() : undefined;

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

function status(host: string, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host, port: 8080, path: urlPath, agent: keepAlive, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function until(host: string, urlPath: string, want: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < CHANGE_TIMEOUT_MS) {
    if ((await status(host, urlPath)) === want) return performance.now();
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`no ${want} for ${urlPath} within ${CHANGE_TIMEOUT_MS} ms`);
}

function route(name: string, prefix: string): k8s.KubernetesObject & { spec: unknown } {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: NS },
    spec: { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: [{ name: 'echo', port: 80 }] }] },
  };
}

function spawnLogged(cmd: string, argv: string[], log: string, trace?: Trace): ChildProcess {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(trace ? { env: { ...process.env, WEFT_LOG_LEVEL: 'debug' } } : {}) });
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (trace) child.stderr.on('data', (d: Buffer) => trace.feed(d.toString()));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') console.error(`${log} exited (${code ?? signal}); last output:\n${tail}`);
  });
  return child;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root: the cluster lives in network namespaces');
  console.log(`# k8s-propagation  size=${args.get('size') ?? 'quick'}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);
  console.log(`# ${command}`);
  // --cluster/--subnet: a name and /24 of the caller's (several sessions share the machine); else unique to this process.
  const subnet = args.get('subnet') ?? `10.84.${process.pid % 250}.0/24`;
  const opts = clusterOptions(args.get('cluster') ?? `kb${process.pid.toString(36)}`.slice(0, 11), subnet, path.join(mkdtempSync(path.join(tmpdir(), 'weft-bench-k8s-')), 'state'));
  const prefix = subnet.split('.').slice(0, 3).join('.');
  const gatewayIp = `${prefix}.200`;
  const children: ChildProcess[] = [];
  let pod: TestPod | undefined;
  let nodeCreated = false;
  const state = await clusterUp(opts);
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const node = await createNodeNetwork(state, 1);
    nodeCreated = true;
    pod = await startEchoPod(node, 0, 'echo', 3000);
    for (const o of [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
        spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'Same' } } }] } },
      ...serviceForPod(NS, 'echo', pod.address),
    ]) await objects.create(o);
    const operator = spawnLogged(process.execPath, ['--max-semi-space-size=16', mainJs, 'operator', '--kubeconfig', state.kubeconfig, '--gateway-address-pool', `${prefix}.200-${prefix}.210`], 'operator');
    const agent = spawnLogged('ip', ['netns', 'exec', node.netns, process.execPath, '--max-semi-space-size=16', mainJs, 'agent', '--kubeconfig', state.kubeconfig,
      '--node', node.name, '--announce-interface', 'eth0'], 'agent', trace);
    children.push(operator, agent);
    await until(gatewayIp, '/nothing-yet', 404);
    const pids = { operator: operator.pid!, agent: agent.pid! };
    const cms = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `baseline-${i}`, namespace: NS }, data: { i: String(i) } });

    let present = 0;
    for (const size of SIZES) {
      // Scale up to `size` routes, then wait until the last one is served.
      const scale = new Window(pids);
      const t0 = performance.now();
      for (let j = present; j < size; j++) await objects.create(route(`r-${j}`, `/r-${j}`));
      await until(gatewayIp, `/r-${size - 1}/x`, 200);
      const scaleUp = `${size - present} routes created and served in ${ms(performance.now() - t0)} ms: ${scale.end()}`;
      present = size;
      const steady = new Window(pids);
      await new Promise((r) => setTimeout(r, 5000));
      const steadyLine = steady.end();

      const latencies: number[] = [];
      const baseline: number[] = [];
      for (let i = 0; i < WARMUP + ITERATIONS; i++) {
        const b0 = performance.now();
        await objects.create(cms(i));
        const b = performance.now() - b0;
        await objects.delete(cms(i));
        const r = route(`new-${i}`, `/new-${i}`);
        const c0 = performance.now();
        const created = Date.now();
        await objects.create(r);
        const served = await until(gatewayIp, `/new-${i}/x`, 200);
        if (i >= WARMUP) trace?.record(created, Date.now());
        await objects.delete(r);
        await until(gatewayIp, `/new-${i}/x`, 404);
        if (i < WARMUP) continue;
        latencies.push(served - c0);
        baseline.push(b);
      }
      const l = stats(latencies);
      const base = stats(baseline);
      console.log(`routes=${size}: create → first 200 p50 ${ms(l.p50)} p99 ${ms(l.p99)} max ${ms(l.max)} ms (n=${latencies.length}); ` +
        `baseline (API create round trip) p50 ${ms(base.p50)} p99 ${ms(base.p99)} ms; ×${(l.p50 / base.p50).toFixed(1)} p50, ×${(l.p99 / base.p99).toFixed(1)} p99`);
      console.log(`  scale-up: ${scaleUp}`);
      console.log(`  steady (5 s idle): ${steadyLine}`);
      if (trace) console.log(`  ${trace.summary()}`);
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve())));
    await pod?.remove().catch(() => undefined);
    if (nodeCreated) await deleteNodeNetwork(state, 1).catch(() => undefined);
    await clusterDown(opts);
    rmSync(path.dirname(opts.stateDir), { recursive: true, force: true });
    keepAlive.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
