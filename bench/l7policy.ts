// L7 policy: what HTTP rules cost in the node proxy, how long compiling a large policy set takes, and how
// fast one pod's label change reaches Envoy.
//
//   node dist/bench/l7policy.js [--size=quick|full] [--rules=0,10,100,1000]
//   node dist/bench/l7policy.js --variants[=full,no-shadow,…] [--rules=0] [--rounds=N] [--callgrind[=N] [--callgrind-dumps=DIR]]   (attribution)
//   [--net=127.N]: the loopback /16 of the listeners (default 127.3)
//   [--peers=N]: N pods of the client's identity (default 1), the client listed last (the worst case for a linear
//   matcher: route-peer-header's routes), the others at <net>.10.x and up, sending nothing
//   [--seconds=S]: length of each wrk run (default 2); [--pin[=ENVOY:CLIENT]]: Envoy's threads and wrk on their own
//   CPUs (taskset; default 1:0)
//
// 1. Throughput and p99 latency through the real Envoy (one worker) with 0, 10, 100 and 1,000 HTTP rules on
//    one port, each as a ratio to the same Envoy's listener without any policy, measured right before it
//    in the same run. The request matches the last rule (the worst case for a linear matcher). "0 rules":
//    the client is allowed by an L4-only rule while the port is under L7 policy (the RBAC filter runs).
//    Load: wrk (1 thread, 16 keep-alive connections), baseline and policy alternating in 2 s runs (5, or 9
//    with --size=full), medians compared; the upstream is a direct response of the same Envoy.
//    With --variants, only this part runs, at the first --rules count (default 0): the baseline and every
//    variant of the configuration (bench/l7policy-variants.ts: each drops one part, e.g. the access log)
//    take turns in every round, so that the parts of the fixed cost of being under policy can be told apart.
//    Every run also reports Envoy's CPU time per request (all its threads, /proc schedstat), and the ratio of
//    the two sides' costs. Both modes also report paired ratios: each policy run against the baseline run of the
//    same round, their median and a 95% bootstrap interval (the machine's speed drifts over seconds, and pairing
//    cancels what a ratio of two medians keeps); WEFT_BENCH_TRACE=1 prints every run.
//    Variants log-als and with-als stream to a gRPC access log receiver in this process; log-flows writes the file
//    line flows read (the local address and the duration too).
//    With --callgrind[=N] (needs valgrind), Envoy runs under callgrind and each target gets N requests over 4
//    keep-alive connections: instructions per request, which other load on the machine does not change
//    (bench/callgrind.ts); one round is enough.
// 2. Compile time: 1,000 CiliumNetworkPolicies over 5,000 pods (parse, identities, model for every pod,
//    Envoy resources), pure, in process.
// 3. Label change → ACK: a pod's label change (it gains the allowed identity) with 1,000 pods and 100
//    policies: translate, set the snapshot, and the time until Envoy ACKs it (and until a request from that
//    pod is allowed).
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { translateL7Policy, type L7Inputs } from '../src/l7policy/translate.js';
import type { RawPolicyObject } from '../src/l7policy/parse.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { edsCluster, httpListener, loadAssignment } from '../src/xds/builders.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { Mesh } from '../test/helpers/mesh.js';
import { request, type RequestOptions } from '../test/helpers/l7policy.js';
import { applyVariant, logsForFlows, streamsAccessLog, isVariant, routeTableEnforces, VARIANTS, variantEnforcement, type Variant } from './l7policy-variants.js';
import { addAccessLogService } from '../src/observe/access-log-receiver.js';
import { accessLogServiceResources } from '../src/xds/translator/access-log-service.js';
import * as grpc from '@grpc/grpc-js';
import { callgrindEnvoy, fixedRequests, idleInstructionsPerSecond, instructionsDuring } from './callgrind.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, machine, ms, pairedRatio, parseArgs, stats, waitFor, type Stats } from './lib.js';

const execFileAsync = promisify(execFile);
const args = parseArgs();
const full = args.get('size') === 'full';
const variantsArg = args.get('variants');
const VARIANT_LIST: Variant[] | undefined =
  variantsArg === undefined ? undefined : variantsArg === '' || variantsArg === 'true' ? [...VARIANTS] : variantsArg.split(',').map((v) => {
    if (!isVariant(v)) throw new Error(`--variants: unknown variant ${v} (known: ${VARIANTS.join(', ')})`);
    return v;
  });
const RULES = (args.get('rules') ?? (VARIANT_LIST ? '0' : '0,10,100,1000')).split(',').map(Number);
/** The machine is shared: baseline and policy alternate in short runs, and the medians are compared. */
const ROUNDS = Number(args.get('rounds') ?? (full ? 9 : 5));
const SECONDS = Number(args.get('seconds') ?? 2);
/** --callgrind[=N]: with --variants, count Envoy's instructions for N requests per target instead of timing load (bench/callgrind.ts). */
const CALLGRIND = args.has('callgrind') ? Number(args.get('callgrind') === 'true' || args.get('callgrind') === '' ? 400 : args.get('callgrind')) : undefined;
/** --callgrind-dumps=DIR: keep each target's callgrind dump there (`<variant>.<round>.out`), for callgrind_annotate. */
const DUMPS = args.get('callgrind-dumps');
/** --perf=DIR: with --variants, sample Envoy's threads during every timed run (`perf record -e cpu-clock`, kernel and user), kept as DIR/<target>.<round>.data for `perf report`. */
const PERF = args.get('perf');
/** --net=127.N: the loopback /16 the listeners use (sessions benchmarking at the same time pick different ones). */
const NET = args.get('net') ?? '127.3';
const SERVER = `${NET}.0.2`;
/** --peers=N: the policy names N addresses of the client's identity (the enforcing matcher copies its decision to each). */
const PEERS = Number(args.get('peers') ?? 1);
if (!Number.isInteger(PEERS) || PEERS < 1 || PEERS > 60_000) throw new Error(`--peers: a whole number from 1 to 60000, not ${args.get('peers')}`);
const TRACE = process.env.WEFT_BENCH_TRACE === '1';
const BASELINE = `${NET}.0.3`;
const source = { file: 'bench', line: 1 };
/** --pin=ENVOY:CLIENT (CPU lists): Envoy's threads and wrk each on their own CPUs, so that neither migrates nor shares a core's caches with the other. */
const PIN = args.has('pin') ? (([envoy, client]) => ({ envoy, client }))((args.get('pin') === 'true' || !args.get('pin') ? '1:0' : args.get('pin')!).split(':')) : undefined;
function pinEnvoy(pid: number): void {
  if (PIN) spawnSync('taskset', ['-a', '-p', '-c', PIN.envoy, String(pid)], { stdio: 'ignore' });
}

function backendResources(port: number): Resource[] {
  const route = { name: 'bench-backend', virtual_hosts: [{ name: 'b', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }] }] };
  return [listenerResource(httpListener({ name: 'bench-backend', address: '127.0.0.1', port, routeConfigName: 'bench-backend' })), routeConfigurationResource(route)];
}

/** The same path through the same Envoy without any policy: a plain HTTP listener to the same upstream. */
function baselineResources(port: number, backendPort: number): Resource[] {
  const route = { name: 'bench-baseline', virtual_hosts: [{ name: 'b', domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster: 'bench-baseline' } }] }] };
  return [
    clusterResource(edsCluster('bench-baseline')),
    endpointsResource(loadAssignment('bench-baseline', [{ address: '127.0.0.1', port: backendPort }])),
    listenerResource(httpListener({ name: 'bench-baseline', address: BASELINE, port, routeConfigName: 'bench-baseline' })),
    routeConfigurationResource(route),
  ];
}

/** The other pods of the client's identity (--peers), listed before it. */
function peerPods(): string {
  return Array.from({ length: PEERS - 1 }, (_, k) => `apiVersion: v1
kind: Pod
metadata: { name: peer-${k}, namespace: default, labels: { app: client } }
status: { podIP: ${NET}.${10 + (k >> 8)}.${k & 255} }
---
`).join('');
}

/** The client pod is 127.0.0.1 (wrk's source address); the node's own addresses are left out for that. */
function policyYaml(rules: number, port: number, backendPort: number): string {
  const pods = `${peerPods()}apiVersion: v1
kind: Pod
metadata: { name: server, namespace: default, labels: { app: server }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backendPort}" } }
status: { podIP: ${SERVER} }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: default, labels: { app: client } }
status: { podIP: 127.0.0.1 }
`;
  const http = Array.from({ length: rules }, (_, i) => ({ method: 'GET', path: `/api/v1/resource-${i}(/.*)?` }));
  const ingress =
    rules === 0
      ? [
          { fromEndpoints: [{ matchLabels: { app: 'client' } }], toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' }] }] },
          { fromEndpoints: [{ matchLabels: { app: 'nobody' } }], toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' }], rules: { http: [{ path: '/never' }] } }] },
        ]
      : [{ fromEndpoints: [{ matchLabels: { app: 'client' } }], toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' }], rules: { http } }] }];
  return `${pods}---\n${stringify({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'bench', namespace: 'default' }, spec: { endpointSelector: { matchLabels: { app: 'server' } }, ingress } })}`;
}

function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Envoy's CPU time (all its threads) per request served during the run, in microseconds. */
  cpuUsPerRequest: number;
  /** Requests completed. */
  requests: number;
}

/** CPU time Envoy's threads have run so far, in nanoseconds (schedstat: nanosecond resolution, unlike stat's ticks). */
function cpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return total;
}

/**
 * One wrk run, and Envoy's CPU time per request during it. On this shared machine (other sessions' builds
 * and tests, everything here at nice 19) the request rate mostly measures how much CPU Envoy was given;
 * CPU per request measures what a request costs, and the ratio of the two sides' costs is the throughput
 * ratio an Envoy with a core of its own would show (its worker being the bottleneck).
 */
async function wrk(url: string, envoyPid: number, perfData?: string): Promise<LoadResult> {
  // cpu-clock: this VM has no hardware counters; the kernel's part of a request is sampled too.
  const perf = perfData ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '4999', '-g', '-p', String(envoyPid), '-o', perfData], { stdio: 'ignore' }) : undefined;
  if (perf) await new Promise((resolve) => setTimeout(resolve, 300));
  const before = cpuNs(envoyPid);
  // Asynchronous: the bench's own gRPC access log receiver (--variants=log-als) must keep reading meanwhile.
  const wrkArgs = ['-t1', '-c16', `-d${SECONDS}s`, '--latency', '--timeout', '5s', url];
  const { stdout: out } = PIN ? await execFileAsync('taskset', ['-c', PIN.client, 'wrk', ...wrkArgs], { encoding: 'utf8' }) : await execFileAsync('wrk', wrkArgs, { encoding: 'utf8' });
  const cpu = cpuNs(envoyPid) - before;
  if (perf) {
    const exited = new Promise((resolve) => perf.once('exit', resolve));
    perf.kill('SIGINT');
    await exited;
  }
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50Ms: wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99Ms: wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    non2xx,
    cpuUsPerRequest: cpu / 1000 / requests,
    requests,
  };
}

/** Per-field medians of several runs. */
function median(runs: LoadResult[]): LoadResult {
  const m = (f: (r: LoadResult) => number): number => stats(runs.map(f)).p50;
  return { rps: m((r) => r.rps), p50Ms: m((r) => r.p50Ms), p99Ms: m((r) => r.p99Ms), non2xx: runs.reduce((n, r) => n + r.non2xx, 0), cpuUsPerRequest: m((r) => r.cpuUsPerRequest), requests: runs.reduce((n, r) => n + r.requests, 0) };
}

type Paired = ReturnType<typeof pairedRatio>;
interface ThroughputRow {
  rules: number;
  baseline: LoadResult;
  policy: LoadResult;
  /** Per-round ratios (each policy run against the baseline run of the same round): request rate, and cost (baseline CPU per request / policy's). */
  paired: { rps: Paired; cost: Paired };
}

function pairs(baselines: LoadResult[], policies: LoadResult[]): { rps: Paired; cost: Paired } {
  return { rps: pairedRatio(baselines.map((r) => r.rps), policies.map((r) => r.rps)), cost: pairedRatio(policies.map((r) => r.cpuUsPerRequest), baselines.map((r) => r.cpuUsPerRequest)) };
}

function describePairs(p: { rps: Paired; cost: Paired }): string {
  const f = (r: Paired): string => `×${r.median.toFixed(3)} [${r.lo.toFixed(3)}–${r.hi.toFixed(3)}]`;
  return `paired over ${p.rps.n} rounds: req/s ${f(p.rps)}, cost ${f(p.cost)} (median, 95% interval)`;
}

async function throughput(): Promise<ThroughputRow[]> {
  if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) throw new Error('wrk is needed for the throughput part (scripts/setup.sh installs it)');
  const port = await freePort();
  const backendPort = await freePort();
  const fixed = [...backendResources(backendPort), ...baselineResources(port, backendPort)];
  const mesh = new Mesh({ protocol: 'delta' });
  const rows: ThroughputRow[] = [];
  try {
    await mesh.start(fixed);
    const envoyPid = mesh.envoy.pid!;
    pinEnvoy(envoyPid);
    for (const rules of RULES) {
      const t = translateYaml('bench.yaml', policyYaml(rules, port, backendPort), { l7: { accessLogPath: '/dev/null', hostIps: [] } });
      if (t.problems.length) throw new Error(JSON.stringify(t.problems));
      mesh.set([...fixed, ...t.resources]);
      await mesh.converged(60_000);
      const path = rules === 0 ? '/anything' : `/api/v1/resource-${rules - 1}/x`;
      const check = await request(SERVER, port, { from: '127.0.0.1', path });
      if (check.status !== 200) throw new Error(`${rules} rules: ${path} → ${check.status}`);
      const baselines: LoadResult[] = [];
      const policies: LoadResult[] = [];
      // Which side runs first alternates too: the first run after a pause or a reconfiguration is not always the same side.
      for (let round = 0; round < ROUNDS; round++) {
        const sides = [async () => baselines.push(await wrk(`http://${BASELINE}:${port}${path}`, envoyPid)), async () => policies.push(await wrk(`http://${SERVER}:${port}${path}`, envoyPid))];
        if (round % 2 === 1) sides.reverse();
        for (const side of sides) await side();
      }
      const baseline = median(baselines);
      const policy = median(policies);
      if (policy.non2xx || baseline.non2xx) throw new Error(`non-2xx replies under load: ${JSON.stringify({ baseline, policy })}`);
      const paired = pairs(baselines, policies);
      rows.push({ rules, baseline, policy, paired });
      console.log(`${rules} rules: ${policy.rps.toFixed(0)} req/s (baseline ${baseline.rps.toFixed(0)}, ×${(policy.rps / baseline.rps).toFixed(3)}), p99 ${policy.p99Ms} ms (baseline ${baseline.p99Ms} ms); Envoy CPU ${policy.cpuUsPerRequest.toFixed(1)} µs/request (baseline ${baseline.cpuUsPerRequest.toFixed(1)}, cost ratio ×${(baseline.cpuUsPerRequest / policy.cpuUsPerRequest).toFixed(3)}); ${describePairs(paired)}`);
    }
  } finally {
    await mesh.stop();
  }
  return rows;
}

/** --variants: baseline and each variant in turn, every round, on separate ports of the same Envoy. */
async function variantThroughput(variants: Variant[]): Promise<Array<{ variant: Variant; rules: number; baseline: LoadResult; policy: LoadResult; paired: { rps: Paired; cost: Paired } } | { variant: Variant; rules: number; baselineInstructions: number; instructions: number }>> {
  if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) throw new Error('wrk is needed for the throughput part (scripts/setup.sh installs it)');
  const rules = RULES[0];
  const port = await freePort();
  const backendPort = await freePort();
  const fixed = [...backendResources(backendPort), ...baselineResources(port, backendPort)];
  const cgDir = CALLGRIND ? mkdtempSync(join(tmpdir(), 'weft-l7-callgrind-')) : undefined;
  // Under valgrind Envoy starts and converges tens of times slower. Stats are flushed only when asked (no
  // periodic flush): the instructions counted while idle are then mostly gone (see idleInstructionsPerSecond).
  const mesh = new Mesh({ protocol: 'delta', ...(cgDir ? { envoyBinary: callgrindEnvoy(cgDir), envoyStartTimeoutMs: 900_000, bootstrap: { stats_flush_on_admin: true } } : {}) });
  const path = rules === 0 ? '/anything' : `/api/v1/resource-${rules - 1}/x`;
  // Each variant listens on its own server address (<net>.1.N) and port set, named apart.
  const servers = variants.map((_, i) => `${NET}.1.${i + 1}`);
  let als: Awaited<ReturnType<typeof accessLogReceiver>> | undefined;
  try {
    await mesh.start(fixed);
    const envoyPid = mesh.envoy.pid!;
    pinEnvoy(envoyPid);
    const all: Resource[] = [...fixed];
    if (variants.some(streamsAccessLog)) {
      als = await accessLogReceiver();
      all.push(...alsResources(als.port));
    }
    for (const [i, variant] of variants.entries()) {
      const yaml = policyYaml(rules, port, backendPort).replaceAll(SERVER, servers[i]).replaceAll('name: server,', `name: server-${i},`).replaceAll('name: client,', `name: client-${i},`);
      const t = translateYaml('bench.yaml', yaml, { l7: { accessLogPath: '/dev/null', hostIps: [], enforcement: variantEnforcement(variant), accessLogForFlows: logsForFlows(variant) } });
      if (t.problems.length) throw new Error(JSON.stringify(t.problems));
      all.push(...applyVariant(t.resources.filter((r) => r.name.startsWith('l7/')), variant));
    }
    mesh.set(all);
    await mesh.converged(cgDir ? 900_000 : 60_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; NACKs: ${JSON.stringify(mesh.nacks)}`);
    });
    for (const [i, variant] of variants.entries()) {
      // Under callgrind the first requests take seconds (translation), beyond request()'s timeout; they also warm up.
      if (cgDir) await fixedRequests(`http://${servers[i]}:${port}${path}`, 20, 4);
      const check = cgDir ? { status: 200 } : await request(servers[i], port, { from: '127.0.0.1', path });
      if (check.status !== 200) throw new Error(`${variant}: ${path} → ${check.status}`);
      if (routeTableEnforces(variant) && !cgDir) {
        // The route table enforces: an unlisted peer is refused, also when it names the allowed client in the peer
        // header or in X-Forwarded-For; the client's other paths and methods are refused (with rules).
        const forged: Array<Record<string, string>> = [{}, { 'x-envoy-external-address': '127.0.0.1' }, { 'x-forwarded-for': '127.0.0.1' }];
        const refusals: RequestOptions[] = [
          ...forged.map((headers) => ({ from: `${NET}.0.99`, path, headers })),
          ...(rules ? [{ from: '127.0.0.1', path: '/api/v2/other' }, { from: '127.0.0.1', method: 'POST', path }] : []),
        ];
        for (const r of refusals) {
          const refused = await request(servers[i], port, r);
          if (refused.status !== 403) throw new Error(`${variant}: ${JSON.stringify(r)} got ${refused.status}`);
        }
      }
    }
    if (cgDir) await fixedRequests(`http://${BASELINE}:${port}${path}`, 20, 4);
    if (cgDir) return await instructionCounts(variants, servers, port, path, mesh.envoy.pid!, cgDir);
    const baselines: LoadResult[] = [];
    const runs = variants.map((): LoadResult[] => []);
    // The order rotates every round: whichever runs first after a pause or another load is not always the same.
    const targets = [{ name: 'baseline', url: `http://${BASELINE}:${port}${path}`, into: baselines }, ...variants.map((v, i) => ({ name: `${i}-${v}`, url: `http://${servers[i]}:${port}${path}`, into: runs[i] }))];
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < targets.length; k++) {
        const target = targets[(round + k) % targets.length];
        const run = await wrk(target.url, envoyPid, PERF ? join(PERF, `${target.name}.${round + 1}.data`) : undefined);
        target.into.push(run);
        if (TRACE) console.log(`    round ${round + 1} ${target.url}: ${run.rps.toFixed(0)} req/s, ${run.cpuUsPerRequest.toFixed(1)} µs/request`);
      }
    }
    if (als) {
      // Every request of the streaming variants reached the receiver (Envoy flushes every 100 ms).
      const expected = variants.reduce((n, v, i) => n + (streamsAccessLog(v) ? runs[i].reduce((m, r) => m + r.requests, 0) : 0), 0);
      await waitFor(() => als!.entries() >= expected, 30_000, `the access log receiver to get ${expected} entries`, 50).catch(() => {
        throw new Error(`the access log receiver got ${als!.entries()} of ${expected} entries`);
      });
      console.log(`access log service: ${als.entries()} entries received (${expected} requests)`);
    }
    const baseline = median(baselines);
    console.log(`${rules} rules, baseline ${baseline.rps.toFixed(0)} req/s, Envoy CPU ${baseline.cpuUsPerRequest.toFixed(1)} µs/request`);
    return variants.map((variant, i) => {
      const policy = median(runs[i]);
      if (policy.non2xx) throw new Error(`${variant}: non-2xx replies under load`);
      const paired = pairs(baselines, runs[i]);
      console.log(`  ${variant}: ${policy.rps.toFixed(0)} req/s, ×${(policy.rps / baseline.rps).toFixed(3)}; ${policy.cpuUsPerRequest.toFixed(1)} µs/request, cost ratio ×${(baseline.cpuUsPerRequest / policy.cpuUsPerRequest).toFixed(3)}; ${describePairs(paired)}`);
      return { variant, rules, baseline, policy, paired };
    });
  } finally {
    await mesh.stop();
    als?.stop();
    if (cgDir) rmSync(cgDir, { recursive: true, force: true });
  }
}

/** --callgrind: instructions per request of the baseline and every variant, in turns (deterministic, so few rounds). */
async function instructionCounts(variants: Variant[], servers: string[], port: number, path: string, pid: number, dir: string): Promise<Array<{ variant: Variant; rules: number; baselineInstructions: number; instructions: number }>> {
  const n = CALLGRIND!;
  const targets = [{ name: 'baseline', url: `http://${BASELINE}:${port}${path}` }, ...variants.map((v, i) => ({ name: v, url: `http://${servers[i]}:${port}${path}` }))];
  const counts = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const idle = await idleInstructionsPerSecond(pid, dir, 20);
  console.log(`  idle: ${idle.toFixed(0)} instructions/s (subtracted from each run for its duration)`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const ir = await instructionsDuring(pid, dir, () => fixedRequests(t.url, n, 4), idle, DUMPS ? join(DUMPS, `${t.name}.${round + 1}.out`) : undefined);
      counts.get(t.name)!.push(ir / n);
      console.log(`  round ${round + 1} ${t.name}: ${(ir / n).toFixed(0)} instructions/request`);
    }
  }
  const perRequest = (name: string): number => Math.min(...counts.get(name)!);
  const baseline = perRequest('baseline');
  console.log(`${RULES[0]} rules, ${n} requests per run over 4 connections, baseline ${baseline.toFixed(0)} instructions/request (minimum of ${ROUNDS})`);
  return variants.map((variant) => {
    const instructions = perRequest(variant);
    console.log(`  ${variant}: ${instructions.toFixed(0)} instructions/request, ratio ×${(baseline / instructions).toFixed(3)}`);
    return { variant, rules: RULES[0], baselineInstructions: baseline, instructions };
  });
}

/** The receiving end of the gRPC access log service, in this process (the node agent's, src/observe), counting entries. */
async function accessLogReceiver(): Promise<{ port: number; entries: () => number; stop: () => void }> {
  const server = new grpc.Server();
  let entries = 0;
  addAccessLogService(server, { onEntries: (e) => void (entries += e.length) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, entries: () => entries, stop: () => server.forceShutdown() };
}

/** The access log service's cluster and endpoint (the variants' connection managers stream over it). */
function alsResources(port: number): Resource[] {
  return accessLogServiceResources({ address: '127.0.0.1', port });
}

function largeInputs(pods: number, policies: number, backends: boolean, relabel?: { pod: number; app: string }): L7Inputs {
  const APPS = 100;
  const NAMESPACES = 20;
  const podList: L7Inputs['pods'] = [];
  for (let i = 0; i < pods; i++) {
    const app = relabel?.pod === i ? relabel.app : `app-${i % APPS}`;
    podList.push({
      metadata: { name: `pod-${i}`, namespace: `ns-${i % NAMESPACES}`, labels: { app, version: `v${i % 3}` }, ...(backends ? { annotations: { 'weft.dev/standalone-backends': `8080=127.0.0.1:${20000 + (i % 1000)}` } } : {}) },
      spec: { containers: [{ name: 'app', ports: [{ containerPort: 8080, name: 'http' }] }] },
      status: { podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
      source,
    });
  }
  const policyList: RawPolicyObject[] = [];
  for (let j = 0; j < policies; j++) {
    const ns = `ns-${j % NAMESPACES}`;
    policyList.push({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: `policy-${j}`, namespace: ns },
      spec: {
        endpointSelector: { matchLabels: { app: `app-${j % APPS}` } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { app: `app-${(j + 1) % APPS}` } }, { matchLabels: { 'k8s:io.kubernetes.pod.namespace': `ns-${(j + 3) % NAMESPACES}`, app: `app-${(j + 7) % APPS}` } }],
            toPorts: [{ ports: [{ port: 'http', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: `/v1/items/${j}/.*` }, { method: 'POST', path: '/v1/orders', headers: ['X-Tenant: a'] }] } }],
          },
          { fromEntities: ['cluster'], toPorts: [{ ports: [{ port: '9090', protocol: 'TCP' }] }] },
        ],
      },
      source,
    });
  }
  return { pods: podList, namespaces: [], secrets: [], policies: policyList };
}

interface CompileResult {
  pods: number;
  policies: number;
  total: Stats;
  model: Stats;
  listeners: number;
  resources: number;
}

function compile(): CompileResult {
  const PODS = 5000;
  const POLICIES = 1000;
  const totals: number[] = [];
  const models: number[] = [];
  let listeners = 0;
  let resources = 0;
  for (let i = 0; i < (full ? 5 : 2); i++) {
    const t0 = performance.now();
    const t = translateL7Policy(largeInputs(PODS, POLICIES, true), { accessLogPath: '/dev/null' });
    totals.push(performance.now() - t0);
    listeners = t.listeners.length;
    resources = t.resources.length;
    // The model alone, for every pod (what the datapath consumes).
    const t1 = performance.now();
    const fresh = translateL7Policy(largeInputs(PODS, POLICIES, false), { accessLogPath: '/dev/null' });
    for (const e of fresh.table.endpoints) fresh.model.endpointPolicy(e);
    models.push(performance.now() - t1);
    console.log(`compile ${POLICIES} policies × ${PODS} pods: ${ms(totals.at(-1)!)} ms with Envoy resources (${listeners} L7 listeners), ${ms(models.at(-1)!)} ms model only`);
  }
  return { pods: PODS, policies: POLICIES, total: stats(totals), model: stats(models), listeners, resources };
}

interface LabelChangeResult {
  pods: number;
  policies: number;
  translate: Stats;
  ack: Stats;
  total: Stats;
}

/** One pod's label flips between an allowed and a denied identity; time to translate and until Envoy ACKs. */
async function labelChange(): Promise<LabelChangeResult> {
  const PODS = 1000;
  const POLICIES = 100;
  const backendPort = await freePort();
  const mesh = new Mesh({ protocol: 'delta' });
  const translates: number[] = [];
  const acks: number[] = [];
  const totals: number[] = [];
  // Pod 0 is the server (app-0, the L7 endpoint the policies select); pod 1 is the client that flips.
  const inputs = (app: string): L7Inputs => {
    const base = largeInputs(PODS, POLICIES, false, { pod: 1, app });
    base.pods[0] = { ...base.pods[0], metadata: { ...base.pods[0].metadata, annotations: { 'weft.dev/standalone-backends': `8080=127.0.0.1:${backendPort}` } }, status: { podIP: SERVER } };
    base.pods[1] = { ...base.pods[1], metadata: { ...base.pods[1].metadata, namespace: 'ns-0' }, status: { podIP: `${NET}.0.10` } };
    return base;
  };
  try {
    await mesh.start(backendResources(backendPort));
    const first = translateL7Policy(inputs('app-1'), { accessLogPath: '/dev/null' });
    mesh.set([...backendResources(backendPort), ...first.resources]);
    await mesh.converged(60_000);
    const n = full ? 40 : 15;
    for (let i = 0; i < n + 2; i++) {
      const app = i % 2 === 0 ? 'app-50' : 'app-1';
      const t0 = performance.now();
      const t = translateL7Policy(inputs(app), { accessLogPath: '/dev/null' });
      const t1 = performance.now();
      mesh.set([...backendResources(backendPort), ...t.resources]);
      await waitFor(() => mesh.divergence() === undefined, 30_000, 'Envoy to ACK the label change', 1);
      const t2 = performance.now();
      if (i >= 2) {
        translates.push(t1 - t0);
        acks.push(t2 - t1);
        totals.push(t2 - t0);
      }
    }
    // The change is real: the pod's requests on the L7 port follow its identity (app-1 is allowed, app-50 not).
    for (const [app, status] of [['app-1', 200], ['app-50', 403]] as const) {
      mesh.set([...backendResources(backendPort), ...translateL7Policy(inputs(app), { accessLogPath: '/dev/null' }).resources]);
      await waitFor(() => mesh.divergence() === undefined, 30_000, 'Envoy to ACK', 1);
      const reply = await request(SERVER, 8080, { from: `${NET}.0.10`, path: '/v1/items/0/x' });
      if (reply.status !== status) throw new Error(`the pod labelled ${app} should get ${status}, not ${reply.status}`);
    }
  } finally {
    await mesh.stop();
  }
  const r = { pods: PODS, policies: POLICIES, translate: stats(translates), ack: stats(acks), total: stats(totals) };
  console.log(`label change (${PODS} pods, ${POLICIES} policies): translate p50 ${ms(r.translate.p50)} ms, →ACK p50 ${ms(r.ack.p50)} ms, total p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} ms`);
  return r;
}

console.log(`# l7policy  ${machine()}`);
if (VARIANT_LIST) {
  const variants = await variantThroughput(VARIANT_LIST);
  console.log(`RESULT l7policy-variants ${JSON.stringify({ variants, seconds: SECONDS, rounds: ROUNDS })}`);
  process.exit(0);
}
const rows = await throughput();
const compileResult = compile();
const label = await labelChange();
console.log(`RESULT l7policy ${JSON.stringify({ throughput: rows, compile: compileResult, labelChange: label, seconds: SECONDS, rounds: ROUNDS })}`);
