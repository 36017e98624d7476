// Runs every benchmark, each in its own process (so that one's memory does not count against another's),
// and prints each figure with the exact command that produced it.
//
//   node dist/bench/run.js [--size=quick|full] [--only=NAME,...]   (or WEFT_BENCH_SIZE=quick|full; quick by default)
//
// --only runs the benchmarks whose names start with one of the NAMEs (e.g. --only=translate,propagation).
//
// Each benchmark stops by itself; this runner also kills one that overruns its time limit.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, ms, parseArgs, type Stats } from './lib.js';

const args = parseArgs();
const size = args.get('size')!;
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

interface Bench {
  name: string;
  nodeFlags: string[];
  script: string;
  args: string[];
  timeoutMs: number;
}

const benches: Bench[] = [
  { name: 'push-latency', nodeFlags: [], script: 'push-latency.js', args: [`--size=${size}`], timeoutMs: 20 * 60_000 },
  { name: 'push-latency (no debounce)', nodeFlags: [], script: 'push-latency.js', args: [`--size=${size}`, '--protocol=delta', '--coalesce=immediate'], timeoutMs: 20 * 60_000 },
  { name: 'fanout delta', nodeFlags: [], script: 'fanout.js', args: [`--size=${size}`, '--protocol=delta'], timeoutMs: 10 * 60_000 },
  { name: 'fanout sotw', nodeFlags: [], script: 'fanout.js', args: [`--size=${size}`, '--protocol=sotw'], timeoutMs: 10 * 60_000 },
  // The same with V8's young generation capped at 2 × 16 MiB (Node 24's default cap is 2 × 64 MiB).
  { name: 'fanout delta, --max-semi-space-size=16', nodeFlags: ['--max-semi-space-size=16'], script: 'fanout.js', args: [`--size=${size}`, '--protocol=delta'], timeoutMs: 10 * 60_000 },
  // Gateway API → xDS in process; --expose-gc for the full collection before each allocation window.
  { name: 'translate', nodeFlags: ['--expose-gc'], script: 'translate.js', args: [`--size=${size}`], timeoutMs: 10 * 60_000 },
  // Ingress → xDS against the same routing as HTTPRoutes, in one process (ratio Ingress / HTTPRoute).
  { name: 'ingress-translate', nodeFlags: [], script: 'ingress-translate.js', args: [`--size=${size}`], timeoutMs: 10 * 60_000 },
  // `weft run` with a real Envoy, under the flags bin/weft gives it.
  { name: 'propagation', nodeFlags: ['--max-semi-space-size=16'], script: 'propagation.js', args: [`--size=${size}`], timeoutMs: 20 * 60_000 },
  // The same without most of the watcher's debounce (the runner's debounceMs option), to size its share.
  { name: 'propagation, debounce 5 ms', nodeFlags: ['--max-semi-space-size=16'], script: 'propagation.js', args: [`--size=${size}`, '--routes=10,3000', '--no-churn', '--debounce-ms=5'], timeoutMs: 20 * 60_000 },
  // Mutual auth: SVID issuance (CPU time, one thread), then two node Envoys in network namespaces (root).
  { name: 'mtls', nodeFlags: [], script: 'mtls.js', args: [`--size=${size}`], timeoutMs: 15 * 60_000 },
  // TLS termination on one Envoy: HTTPS keep-alive req/s and new handshakes/s vs plain HTTP, ECDSA vs RSA.
  { name: 'tls', nodeFlags: [], script: 'tls.js', args: [`--size=${size}`], timeoutMs: 10 * 60_000 },
  // The eBPF datapath in network namespaces (root only; says why it skips otherwise).
  { name: 'datapath', nodeFlags: [], script: 'datapath.js', args: [`--size=${size}`], timeoutMs: 30 * 60_000 },
  // L7 policy: HTTP rules through Envoy (vs the same Envoy without policy), compile time, label change → ACK.
  { name: 'l7policy', nodeFlags: [], script: 'l7policy.js', args: [`--size=${size}`], timeoutMs: 20 * 60_000 },
  // Flows: events/s one node's flow agent ingests and serves (vs decode-only), loop delay, CPU per 100k/s.
  { name: 'flows', nodeFlags: [], script: 'observe.js', args: [`--size=${size}`], timeoutMs: 20 * 60_000 },
  // L7 flows: the agent's CPU per request from the access log file's lines vs the gRPC access log's entries.
  { name: 'flows from L7 access logs', nodeFlags: [], script: 'l7-flow-sources.js', args: [`--requests=${size === 'full' ? 50_000 : 10_000}`], timeoutMs: 10 * 60_000 },
].filter((b) => !args.has('only') || args.get('only')!.split(',').some((name) => b.name.startsWith(name)));

function commandOf(b: Bench): string {
  return ['node', ...b.nodeFlags, path.relative(root, path.join(here, b.script)), ...b.args].join(' ');
}

async function run(b: Bench): Promise<{ code: number | null; results: Map<string, unknown> }> {
  const results = new Map<string, unknown>();
  const child = spawn(process.execPath, [...b.nodeFlags, path.join(here, b.script), ...b.args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const m = /^RESULT (\S+) (.*)$/.exec(line);
      if (m) results.set(m[1], JSON.parse(m[2]));
      else console.log(`  ${line}`);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), b.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, results };
}

interface PushRow {
  protocol: string;
  routes: number;
  total: Stats;
  encode: Stats;
}
interface FanoutRow {
  protocol: string;
  clients: number;
  convergeMs: number;
  convergeCpuMs: number;
  push: Stats;
  rssPeakMiB: number;
}

interface TranslateRow {
  size: string;
  httpRoutes: number;
  grpcRoutes: number;
  services: number;
  envoyRoutes: number;
  grpcRoutesTranslated: number;
  total: Stats;
  parse: Stats;
  allocatedMiB: Stats;
}
interface PropagationRow {
  routes: number;
  total: Stats;
  debounce: Stats;
  reload: Stats;
  ack: Stats;
  churn?: { routes: number; seconds: number; changes: number; reloads: number; tool: string; requests: number; non2xx: number; errors: number };
}

interface MtlsResult {
  issuance: Array<{ method: string; perCpuSecond: number; perWallSecond: number }>;
  mesh: null | {
    tool: string;
    sliceSeconds: number;
    load: Array<{ mode: string; slice: number; rps: number; p99Ms: number; errors: number }>;
    handshakes: Array<{ mode: string; slice: number; connectionsPerSecond: number; handshakes: number; errors: number }>;
  };
  skipped: string | null;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function mtlsSummary(r: MtlsResult | undefined, name: string, command: string): string[] {
  if (!r) return [];
  const out: string[] = [];
  const native = r.issuance[0];
  for (const i of r.issuance) {
    out.push(`${name} issuance ${i.method}: ${i.perCpuSecond.toFixed(i.perCpuSecond < 10 ? 2 : 0)} SVIDs/CPU-s (×${(i.perCpuSecond / native.perCpuSecond).toFixed(4)} the native default), ${i.perWallSecond.toFixed(i.perWallSecond < 10 ? 2 : 0)}/wall-s  [${command}]`);
  }
  const m = r.mesh;
  if (!m) return [...out, `${name} mesh: skipped (${r.skipped})`];
  const slices = [...new Set(m.load.map((l) => l.slice))];
  const pick = <T extends { mode: string; slice: number }>(rows: T[], mode: string, slice: number): T => rows.find((x) => x.mode === mode && x.slice === slice)!;
  const ratio = (f: (slice: number) => number): string => `×${median(slices.map(f)).toFixed(2)}`;
  const med = (rows: Array<{ mode: string }>, mode: string, f: (x: never) => number): number => median(rows.filter((x) => x.mode === mode).map((x) => f(x as never)));
  const errors = [...m.load, ...m.handshakes].reduce((a, x) => a + x.errors, 0);
  out.push(
    `${name} keep-alive, ${slices.length} alternating ${m.sliceSeconds}-s slices (${m.tool}, 16 connections): mTLS ${med(m.load, 'mtls', (x: { rps: number }) => x.rps).toFixed(0)} req/s p99 ${med(m.load, 'mtls', (x: { p99Ms: number }) => x.p99Ms).toFixed(1)} ms, ` +
      `plaintext ${med(m.load, 'plaintext', (x: { rps: number }) => x.rps).toFixed(0)} req/s p99 ${med(m.load, 'plaintext', (x: { p99Ms: number }) => x.p99Ms).toFixed(1)} ms (medians); ` +
      `per-slice ratio mTLS/plaintext (median): req/s ${ratio((s) => pick(m.load, 'mtls', s).rps / pick(m.load, 'plaintext', s).rps)}, p99 ${ratio((s) => pick(m.load, 'mtls', s).p99Ms / pick(m.load, 'plaintext', s).p99Ms)}  [${command}]`,
  );
  out.push(
    `${name} new connection per request (8 connections): ${med(m.handshakes, 'mtls', (x: { connectionsPerSecond: number }) => x.connectionsPerSecond).toFixed(0)} mTLS handshakes/s vs ${med(m.handshakes, 'plaintext', (x: { connectionsPerSecond: number }) => x.connectionsPerSecond).toFixed(0)} plaintext connections/s (medians); ` +
      `per-slice ratio ${ratio((s) => pick(m.handshakes, 'mtls', s).connectionsPerSecond / pick(m.handshakes, 'plaintext', s).connectionsPerSecond)}; errors ${errors}  [${command}]`,
  );
  return out;
}

interface TlsResult {
  rows: Array<{ mode: string; round: number; keepAliveRps: number; newConnPerSecond: number; fullHandshakesPerSecond: number; resumed: number; handshakes: number; errors: number }>;
  skipped: string | null;
}

function tlsSummary(r: TlsResult | undefined, name: string, command: string): string[] {
  if (!r) return [];
  if (r.skipped) return [`${name}: skipped (${r.skipped})`];
  const out: string[] = [];
  for (const round of [...new Set(r.rows.map((x) => x.round))]) {
    const plain = r.rows.find((x) => x.round === round && x.mode === 'http')!;
    for (const x of r.rows.filter((y) => y.round === round && y.mode !== 'http')) {
      out.push(
        `${name} round ${round} ${x.mode}: keep-alive ${x.keepAliveRps.toFixed(0)} req/s (×${(x.keepAliveRps / plain.keepAliveRps).toFixed(2)} plain HTTP ${plain.keepAliveRps.toFixed(0)}); ` +
          `new connection per request (wrk, ${x.resumed}/${x.handshakes} resumed) ${x.newConnPerSecond.toFixed(0)}/s (×${(x.newConnPerSecond / plain.newConnPerSecond).toFixed(3)} plain ${plain.newConnPerSecond.toFixed(0)}); ` +
          `full handshakes ${x.fullHandshakesPerSecond.toFixed(0)}/s (×${(x.fullHandshakesPerSecond / plain.newConnPerSecond).toFixed(3)} plain connections/s); errors ${x.errors + plain.errors}  [${command}]`,
      );
    }
  }
  return out;
}

interface DatapathResult {
  skipped?: string;
  throughput?: { withoutGbps: number; withGbps: number; ratio: number };
  rates?: Array<{ services: number; mode: string; connectionsPerSecond: number; latency: Stats; errors: number; setupMs: number }>;
  updates?: { endpointUpsertUs: Stats; policyApplyUs: Stats };
}

function datapathSummary(r: DatapathResult | undefined, name: string, command: string): string[] {
  if (!r) return [];
  if (r.skipped || !r.throughput || !r.rates || !r.updates) return [`${name}: skipped (${r.skipped ?? 'no result'})`];
  const out = [`${name} iperf3 pod → pod: ${r.throughput.withGbps.toFixed(2)} Gbit/s with programs vs ${r.throughput.withoutGbps.toFixed(2)} without (×${r.throughput.ratio.toFixed(3)})  [${command}]`];
  for (const e of r.rates.filter((x) => x.mode.startsWith('ebpf'))) {
    const i = r.rates.find((x) => x.mode === 'iptables' && x.services === e.services);
    if (!i) continue;
    out.push(`${name} ${e.services} ClusterIPs: ${e.mode} ${e.connectionsPerSecond.toFixed(0)} conn/s p50 ${ms(e.latency.p50)} p99 ${ms(e.latency.p99)} ms vs kube-proxy iptables ${i.connectionsPerSecond.toFixed(0)} conn/s p50 ${ms(i.latency.p50)} p99 ${ms(i.latency.p99)} ms (×${(e.connectionsPerSecond / i.connectionsPerSecond).toFixed(2)} conn/s); programmed in ${ms(e.setupMs)} vs ${ms(i.setupMs)} ms; errors ${e.errors}/${i.errors}  [${command}]`);
  }
  out.push(`${name} map updates: endpoint upsert p50 ${r.updates.endpointUpsertUs.p50.toFixed(1)} µs p99 ${r.updates.endpointUpsertUs.p99.toFixed(1)} µs; one-rule policy apply p50 ${r.updates.policyApplyUs.p50.toFixed(1)} µs p99 ${r.updates.policyApplyUs.p99.toFixed(1)} µs  [${command}]`);
  return out;
}

interface L7PolicyResult {
  throughput: Array<{ rules: number; baseline: { rps: number; p99Ms: number }; policy: { rps: number; p99Ms: number } }>;
  compile: { pods: number; policies: number; total: Stats; model: Stats; listeners: number };
  labelChange: { pods: number; policies: number; translate: Stats; ack: Stats; total: Stats };
}

interface FlowsResult {
  seconds: number;
  steps: Array<{ mode: string; rate: number; achieved: number; dropped: number; cpuPer100k: number; loopP99Ms: number; loopMaxMs: number; followerFlows: number | null; followerLost: number | null; expectedAtFollower: number | null }>;
  sustained: Record<string, number>;
}

function flowsSummary(r: FlowsResult | undefined, name: string, command: string): string[] {
  if (!r) return [];
  const base = r.steps.filter((s) => s.mode.startsWith('baseline'));
  return Object.entries(r.sustained).map(([mode, rate]) => {
    const at = r.steps.find((s) => s.mode === mode && s.rate === 200_000);
    const b = base.find((s) => s.rate === 200_000);
    const detail = at && b ? `; at 200,000/s: CPU ${(at.cpuPer100k * 100).toFixed(1)} % of a core per 100,000 flows/s (×${(at.cpuPer100k / b.cpuPer100k).toFixed(1)} decode-only), loop delay p99 ${at.loopP99Ms.toFixed(1)} max ${at.loopMaxMs.toFixed(1)} ms, dropped ${at.dropped}${at.followerFlows === null ? '' : `, reader got ${at.followerFlows}/${at.expectedAtFollower} (lost ${at.followerLost})`}` : '';
    return `${name} ${mode}: highest rate without drops or reader loss ${rate.toLocaleString('en')}/s${detail}  [${command}]`;
  });
}

async function main(): Promise<void> {
  console.log(`# weft benchmarks  size=${size}  ${machine()}  ${new Date().toISOString()}\n`);
  const summary: string[] = [];
  let failed = false;
  for (const b of benches) {
    const command = commandOf(b);
    console.log(`$ ${command}`);
    const { code, results } = await run(b);
    if (code !== 0) {
      failed = true;
      summary.push(`${b.name}: FAILED (exit ${code})  [${command}]`);
      continue;
    }
    const push = results.get('push-latency') as PushRow[] | undefined;
    for (const r of push ?? []) {
      const base = push!.find((x) => x.protocol === r.protocol && x.routes === 1)!;
      summary.push(
        `${b.name} ${r.protocol} ${r.routes} routes: setSnapshot→ACK p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} ms (×${(r.total.p50 / base.total.p50).toFixed(1)} / ×${(r.total.p99 / base.total.p99).toFixed(1)} the 1-route baseline); makeResource p50 ${ms(r.encode.p50)} ms  [${command}]`,
      );
    }
    const fan = results.get('fanout') as { results: FanoutRow[]; maxRssMiB: number } | undefined;
    if (fan) {
      const one = fan.results[0];
      for (const r of fan.results) {
        summary.push(
          `${b.name} ${r.clients} client(s): converged ${ms(r.convergeMs)} ms (×${(r.convergeMs / one.convergeMs).toFixed(0)} of 1 client), CP CPU ${ms(r.convergeCpuMs)} ms; ` +
            `one-route push p50 ${ms(r.push.p50)} ms; CP RSS peak ${r.rssPeakMiB.toFixed(0)} MiB  [${command}]`,
        );
      }
    }
    const tr = results.get('translate') as TranslateRow[] | undefined;
    for (const r of tr ?? []) {
      const base = tr![0];
      summary.push(
        `${b.name} ${r.size} (${r.httpRoutes} HTTPRoutes, ${r.grpcRoutes} GRPCRoutes${r.grpcRoutes && !r.grpcRoutesTranslated ? ' not translated' : ''}, ${r.services} Services → ${r.envoyRoutes} Envoy routes): ` +
          `translateManifests p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} ms (×${(r.total.p50 / base.total.p50).toFixed(1)} / ×${(r.total.p99 / base.total.p99).toFixed(1)} the small baseline); ` +
          `allocated ${r.allocatedMiB.p50.toFixed(1)} MiB; parseManifests p50 ${ms(r.parse.p50)} ms  [${command}]`,
      );
    }
    const ingress = results.get('ingress-translate') as Array<{ count: number; ingress: Stats; gateway: Stats; ingressEnvoyRoutes: number }> | undefined;
    for (const r of ingress ?? []) {
      summary.push(`${b.name} ${r.count} Ingresses (${r.ingressEnvoyRoutes} routes): p50 ${ms(r.ingress.p50)} ms, ×${(r.ingress.p50 / r.gateway.p50).toFixed(2)} the same routing as HTTPRoutes (p50 ${ms(r.gateway.p50)} ms)  [${command}]`);
    }
    const prop = results.get('propagation') as PropagationRow[] | undefined;
    for (const r of prop ?? []) {
      const base = prop![0];
      summary.push(
        `${b.name} ${r.routes} routes: file write→first 200 p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} ms (×${(r.total.p50 / base.total.p50).toFixed(1)} / ×${(r.total.p99 / base.total.p99).toFixed(1)} the ${base.routes}-route baseline); ` +
          `debounce ${ms(r.debounce.p50)} + reload ${ms(r.reload.p50)} + →ACK ${ms(r.ack.p50)} ms p50  [${command}]`,
      );
      const c = r.churn;
      if (c) summary.push(`${b.name} churn with ${c.routes} routes: ${c.changes} changes / ${c.seconds} s, ${c.reloads} reloads; ${c.tool}: ${c.requests} requests, ${c.non2xx} non-2xx, ${c.errors} errors  [${command}]`);
    }
    summary.push(...datapathSummary(results.get('datapath') as DatapathResult | undefined, b.name, command));
    summary.push(...mtlsSummary(results.get('mtls') as MtlsResult | undefined, b.name, command));
    summary.push(...flowsSummary(results.get('flows') as FlowsResult | undefined, b.name, command));
    summary.push(...tlsSummary(results.get('tls') as TlsResult | undefined, b.name, command));
    const l7 = results.get('l7policy') as L7PolicyResult | undefined;
    for (const r of l7?.throughput ?? []) {
      summary.push(`${b.name} ${r.rules} HTTP rules on one port: ${r.policy.rps.toFixed(0)} req/s (×${(r.policy.rps / r.baseline.rps).toFixed(2)} the same Envoy without policy), p99 ${ms(r.policy.p99Ms)} ms (×${(r.policy.p99Ms / r.baseline.p99Ms).toFixed(2)})  [${command}]`);
    }
    if (l7) {
      summary.push(`${b.name} compile ${l7.compile.policies} policies × ${l7.compile.pods} pods: ${ms(l7.compile.total.p50)} ms with Envoy resources (${l7.compile.listeners} L7 listeners), model only ${ms(l7.compile.model.p50)} ms  [${command}]`);
      summary.push(`${b.name} pod label change (${l7.labelChange.pods} pods, ${l7.labelChange.policies} policies) → Envoy ACK: p50 ${ms(l7.labelChange.total.p50)} p99 ${ms(l7.labelChange.total.p99)} ms (translate ${ms(l7.labelChange.translate.p50)} + push→ACK ${ms(l7.labelChange.ack.p50)} ms p50)  [${command}]`);
    }
    console.log('');
  }
  console.log('# summary');
  for (const line of summary) console.log(line);
  process.exitCode = failed ? 1 : 0;
}

await main();
