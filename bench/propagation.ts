// Route propagation through `weft run`: a StandaloneRunner watches a directory of manifests and serves a
// real Envoy. With N HTTPRoutes present, a new HTTPRoute file is written for a new path: how long from the
// file write until Envoy answers 200 on that path? Then: continuous route churn under HTTP load, counting
// every non-2xx reply.
//
//   node --max-semi-space-size=16 dist/bench/propagation.js [--size=quick|full] [--routes=10,1000,3000]
//        [--per-file=100] [--churn-routes=N] [--churn-seconds=10] [--no-churn] [--load=wrk|node] [--debounce-ms=N]
//
// --debounce-ms sets the runner's debounceMs (default: the runner's own, DEFAULT_DEBOUNCE_MS, as `weft run` uses).
//
// Baseline, measured in the same run: the 10-route directory. Loopback only; the backend is one HTTP
// server in a child process; Envoy and the child are stopped at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { classifyManifests } from '../src/sources/kinds.js';
import { loadManifestDir } from '../src/sources/manifests.js';
import { translateManifests } from '../src/standalone/pipeline.js';
import { StandaloneRunner } from '../src/standalone/runner.js';
import type { AckEvent } from '../src/xds/ads-stream.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { gatewayDocs, namespaceOf, serviceDocs, toYaml, treeState, type Doc } from './gateway-manifests.js';
import { freePort, machine, mib, ms, parseArgs, stats, threadsCpuMs, waitFor, type Stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const SIZES = (args.get('routes') ?? '10,1000,3000').split(',').map(Number);
const PER_FILE = Number(args.get('per-file') ?? 100);
const SERVICES = 50;
const iterations = (routes: number): number => (full ? (routes >= 3_000 ? 30 : 60) : routes >= 3_000 ? 10 : 20);
const WARMUP = 3;
/** Bounds each size's loop however slow the machine is. */
const BUDGET_MS = full ? 150_000 : 60_000;
/** Give up on one change after this long. */
const CHANGE_TIMEOUT_MS = 20_000;
const POLL_MS = 1;
const CHURN_SECONDS = Number(args.get('churn-seconds') ?? 10);
const CHURN_EVERY_MS = 100;
const HOST = (j: number): string => `app-${j % SERVICES}.example.com`;

/** HTTPRoute `name`: one rule, requests under `prefix` on its hostname to one Service of its namespace. */
function simpleRoute(name: string, j: number, prefix: string, service: number | string = j % SERVICES, extra: Record<string, unknown> = {}): Doc {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: namespaceOf(j) },
    spec: {
      parentRefs: [{ name: 'bench', namespace: 'infra' }],
      hostnames: [HOST(j)],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: [{ name: typeof service === 'string' ? service : `svc-${service}`, port: 80 }], ...extra }],
    },
  };
}

/** The route files: routes-NNN.yaml with PER_FILE HTTPRoutes each; `change` rewrites one route of them. */
function routeFile(file: number, routes: number, change?: { j: number; k: number; service?: string }): string {
  const docs: Doc[] = [];
  for (let j = file * PER_FILE; j < Math.min(routes, (file + 1) * PER_FILE); j++) {
    if (change?.j === j) {
      // Another Service of the same namespace (same backend process), a header, a request timeout.
      const service = change.service ?? (j + NS_STRIDE * (1 + (change.k % 3))) % SERVICES;
      docs.push(simpleRoute(`route-${j}`, j, `/r${j}`, service, { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-churn', value: String(change.k) }] } }], timeouts: { request: `${5 + (change.k % 5)}s` } }));
    } else {
      docs.push(simpleRoute(`route-${j}`, j, `/r${j}`));
    }
  }
  return toYaml(docs);
}
const NS_STRIDE = 5;

function fileName(file: number): string {
  return `routes-${String(file).padStart(3, '0')}.yaml`;
}

/** Writes the way editors and `kubectl`-like tools do: a temporary file renamed over the old one. */
function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** One HTTP server on 127.0.0.1 in a child process (so that it takes no time from the runner's event loop). */
async function startBackend(): Promise<{ port: number; child: ChildProcess }> {
  const code = `const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok\\n'); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { port, child };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin?.end();
  });
}

function get(agent: http.Agent, port: number, host: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: timed out`)));
    req.on('error', reject);
  });
}

const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

interface Sample {
  total: number;
  /** file write → the first fs.watch event on the directory (a watcher of the bench's own). */
  watch: number;
  /** first event → the runner's reload() starting (its debounce, plus later events re-arming it). */
  debounce: number;
  /** reload(): loadManifestDir (read + YAML-parse every file) + translate + setSnapshot + statuses. */
  reload: number;
  /** snapshot set → Envoy's ACK of the RouteConfiguration (coalescing, encoding, Envoy's apply). */
  ack: number;
  /** ACK → the first 200 (Envoy's workers, and the 1 ms polling). */
  serve: number;
  /** Requests sent until the 200. */
  polls: number;
  /** CPU time of this process inside reload() calls (synchronous; GC and other threads included). */
  reloadCpu: number;
  /** Envoy's CPU time (all threads) from the file write to its ACK: applying the change, and answering the polls. */
  envoyCpu: number;
}

interface SizeResult {
  routes: number;
  files: number;
  yamlKiB: number;
  envoyRoutes: number;
  total: Stats;
  watch: Stats;
  debounce: Stats;
  reload: Stats;
  ack: Stats;
  serve: Stats;
  reloadCpu: Stats;
  envoyCpu: Stats;
  /** Offline, on the same directory: loadManifestDir, classify, translateManifests (ms p50). */
  offline: { loadDir: Stats; classify: Stats; translate: Stats };
  churn?: ChurnResult;
}

interface ChurnResult {
  routes: number;
  seconds: number;
  changes: number;
  reloads: number;
  nacks: number;
  tool: string;
  requests: number;
  non2xx: number;
  errors: number;
  detail: string;
}

async function runSize(routes: number, backendPort: number, churn: boolean): Promise<SizeResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-prop-'));
  const listenerPort = await freePort();
  writeFileSync(path.join(dir, 'gateway.yaml'), toYaml(gatewayDocs(listenerPort)));
  const services: Doc[] = [];
  for (let i = 0; i < SERVICES; i++) services.push(...serviceDocs(i, ['127.0.0.1'], backendPort, backendPort));
  writeFileSync(path.join(dir, 'services.yaml'), toYaml(services));
  const files = Math.ceil(routes / PER_FILE);
  let yamlBytes = 0;
  for (let f = 0; f < files; f++) {
    const text = routeFile(f, routes);
    yamlBytes += Buffer.byteLength(text);
    writeFileSync(path.join(dir, fileName(f)), text);
  }
  const runner = new StandaloneRunner({ dir, print: () => {}, ...(args.has('debounce-ms') ? { debounceMs: Number(args.get('debounce-ms')) } : {}) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const events: Array<{ t: number; file: string | null }> = [];
  const watcher = watch(dir, (_e, file) => events.push({ t: performance.now(), file }));
  let reloadStarts: number[] = [];
  let reloadeds: number[] = [];
  let acks: number[] = [];
  let ackCpus: number[] = [];
  let reloadCpu = 0;
  try {
    await runner.start();
    await runner.ready();
    const original = runner.reload.bind(runner);
    runner.reload = (holdLosses?: boolean) => {
      reloadStarts.push(performance.now());
      const c0 = process.cpuUsage();
      original(holdLosses);
      const c = process.cpuUsage(c0);
      reloadCpu += (c.user + c.system) / 1000;
    };
    runner.on('reloaded', () => reloadeds.push(performance.now()));
    runner.server.on('ack', (e: AckEvent) => {
      if (e.typeUrl !== TypeUrl.RouteConfiguration) return;
      acks.push(performance.now());
      ackCpus.push(threadsCpuMs(runner.envoy?.pid));
    });
    const envoyRoutes = (runner.last?.ir.httpListeners ?? []).reduce((n, l) => n + l.virtualHosts.reduce((m, v) => m + v.routes.length, 0), 0);
    // Sanity: an existing route answers.
    const probe = await get(agent, listenerPort, HOST(0), '/r0/x');
    if (probe !== 200) throw new Error(`${routes} routes: GET /r0/x on ${HOST(0)} answered ${probe}, not 200`);

    const samples: Sample[] = [];
    const n = iterations(routes);
    const started = performance.now();
    for (let i = 0; i < n + WARMUP && performance.now() - started < BUDGET_MS; i++) {
      const name = `new-${i}`;
      const file = path.join(dir, `${name}.yaml`);
      const text = toYaml([simpleRoute(name, 0, `/${name}`)]);
      events.length = 0;
      reloadStarts = [];
      reloadeds = [];
      acks = [];
      ackCpus = [];
      reloadCpu = 0;
      const envoyCpu0 = threadsCpuMs(runner.envoy?.pid);
      const t0 = performance.now();
      writeFileSync(file, text);
      let status = 0;
      let polls = 0;
      for (;;) {
        polls++;
        try {
          status = await get(agent, listenerPort, HOST(0), `/${name}/x`);
        } catch {
          status = 0;
        }
        if (status === 200) break;
        if (performance.now() - t0 > CHANGE_TIMEOUT_MS) throw new Error(`${routes} routes: /${name} not served within ${CHANGE_TIMEOUT_MS} ms (last status ${status})`);
        await sleep(POLL_MS);
      }
      const t200 = performance.now();
      // Envoy's workers may serve before the control plane has read the ACK: wait for it (off the clock).
      await waitFor(() => reloadeds.length > 0 && acks.some((t) => t >= reloadeds[0]), CHANGE_TIMEOUT_MS, 'the ACK of the new route', 1);
      const tWatch = events[0]?.t ?? NaN;
      const tStart = reloadStarts[0] ?? NaN;
      const tReloaded = reloadeds[0] ?? NaN;
      const ackIndex = acks.findIndex((t) => t >= tReloaded);
      const tAck = acks[ackIndex] ?? NaN;
      const envoyCpu = (ackCpus[ackIndex] ?? NaN) - envoyCpu0;
      if (i >= WARMUP) samples.push({ total: t200 - t0, watch: tWatch - t0, debounce: tStart - tWatch, reload: tReloaded - tStart, ack: tAck - tReloaded, serve: t200 - tAck, polls, reloadCpu, envoyCpu });
      // Remove it again (so that the size stays N) and wait until Envoy holds that.
      const before = runner.generation;
      unlinkSync(file);
      await waitFor(() => runner.generation > before && runner.divergence() === undefined, CHANGE_TIMEOUT_MS, 'the removal to be ACKed', 2);
      await sleep(20);
    }
    const pick = (f: (s: Sample) => number): Stats => stats(samples.map(f).filter(Number.isFinite));
    // The same directory, translated offline: where does reload() spend its time?
    const loadDir: number[] = [];
    const classify: number[] = [];
    const translate: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const loaded = loadManifestDir(dir);
      const t1 = performance.now();
      classifyManifests(loaded.manifests);
      const t2 = performance.now();
      translateManifests(loaded.manifests, loaded.problems);
      const t3 = performance.now();
      if (i >= 2) {
        loadDir.push(t1 - t0);
        classify.push(t2 - t1);
        translate.push(t3 - t2);
      }
    }
    const result: SizeResult = {
      routes,
      files,
      yamlKiB: yamlBytes / 1024,
      envoyRoutes,
      total: pick((s) => s.total),
      watch: pick((s) => s.watch),
      debounce: pick((s) => s.debounce),
      reload: pick((s) => s.reload),
      ack: pick((s) => s.ack),
      serve: pick((s) => s.serve),
      reloadCpu: pick((s) => s.reloadCpu),
      envoyCpu: pick((s) => s.envoyCpu),
      offline: { loadDir: stats(loadDir), classify: stats(classify), translate: stats(translate) },
    };
    console.log(
      `${String(routes).padStart(5)} routes (${files} route files, ${(yamlBytes / 1024).toFixed(0)} KiB YAML, ${envoyRoutes} Envoy routes): write→200 p50 ${ms(result.total.p50)} p99 ${ms(result.total.p99)} max ${ms(result.total.max)} ms (n=${result.total.n}, ${ms(stats(samples.map((s) => s.polls)).p50)} polls p50); ` +
        `p50 of: watch ${ms(result.watch.p50)} + debounce ${ms(result.debounce.p50)} + reload ${ms(result.reload.p50)} + →ACK ${ms(result.ack.p50)} + ACK→200 ${ms(result.serve.p50)}; CPU p50 / p99: reload ${ms(result.reloadCpu.p50)} / ${ms(result.reloadCpu.p99)}, Envoy write→ACK ${ms(result.envoyCpu.p50)} / ${ms(result.envoyCpu.p99)}; ` +
        `offline: loadManifestDir ${ms(result.offline.loadDir.p50)} + translateManifests ${ms(result.offline.translate.p50)} (classify ${ms(result.offline.classify.p50)}) ms`,
    );
    if (churn) result.churn = await churnUnderLoad(runner, dir, routes, listenerPort, backendPort);
    return result;
  } finally {
    watcher.close();
    agent.destroy();
    await runner.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Paths of routes 0..19 (each on its own hostname): the load goes to these while routes change. */
function loadTargets(routes: number): Array<{ host: string; path: string }> {
  return Array.from({ length: Math.min(20, routes) }, (_, j) => ({ host: HOST(j), path: `/r${j}/load` }));
}

function haveWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/**
 * The churn, in a child process of its own (as an editor or a deploy tool would be, so that the runner's
 * translations do not slow the writes down): every CHURN_EVERY_MS for CHURN_SECONDS, in turn, add a route
 * file, change one of the routes under load (another Service, a header filter, a timeout), remove the route
 * file added 5 changes earlier; every other route change also adds a Service (so a route moves to a
 * cluster Envoy has not seen yet). Meanwhile keep-alive load on 20 existing routes; every reply that is not 2xx
 * counts.
 */
async function churnUnderLoad(runner: StandaloneRunner, dir: string, routes: number, port: number, backendPort: number): Promise<ChurnResult> {
  const targets = loadTargets(routes);
  const tool = args.get('load') ?? (haveWrk() ? 'wrk' : 'node');
  const reloadsBefore = runner.generation;
  const nacksBefore = runner.nacks.length;
  const writer = spawn(process.execPath, [process.argv[1], `--churn-writer=${dir}`, `--routes=${routes}`, `--per-file=${PER_FILE}`, `--churn-seconds=${CHURN_SECONDS}`, `--backend-port=${backendPort}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let writerOut = '';
  writer.stdout.on('data', (d: Buffer) => (writerOut += d.toString()));
  let result: Pick<ChurnResult, 'requests' | 'non2xx' | 'errors' | 'detail'>;
  try {
    result = tool === 'wrk' ? await wrkLoad(port, targets, CHURN_SECONDS) : await nodeLoad(port, targets, CHURN_SECONDS);
  } finally {
    const killer = setTimeout(() => writer.kill('SIGKILL'), 5_000);
    if (writer.exitCode === null) await new Promise((resolve) => writer.once('exit', resolve));
    clearTimeout(killer);
  }
  const changes = Number(/changes (\d+)/.exec(writerOut)?.[1] ?? NaN);
  // Let the last change settle, so that the next size starts clean.
  await waitFor(() => runner.divergence() === undefined, CHANGE_TIMEOUT_MS, 'the last churn change to be ACKed', 5);
  const out: ChurnResult = { routes, seconds: CHURN_SECONDS, changes, reloads: runner.generation - reloadsBefore, nacks: runner.nacks.length - nacksBefore, tool, ...result };
  console.log(
    `churn with ${routes} routes: ${out.changes} changes in ${CHURN_SECONDS} s (one per ${CHURN_EVERY_MS} ms), ${out.reloads} reloads, ${out.nacks} NACKs; ` +
      `${tool} on ${targets.length} existing routes: ${out.requests} requests, ${out.non2xx} non-2xx, ${out.errors} transport errors ${out.detail}`,
  );
  return out;
}

/** The child of churnUnderLoad: writes to `dir`, then prints how many changes it made. */
async function churnWriter(dir: string, routes: number, backendPort: number): Promise<void> {
  const targets = loadTargets(routes);
  const added: string[] = [];
  let changes = 0;
  const start = performance.now();
  for (let k = 0; performance.now() - start < CHURN_SECONDS * 1000; k++) {
    // A fixed cadence: the k-th change is due at k × CHURN_EVERY_MS.
    await sleep(Math.max(0, start + (k + 1) * CHURN_EVERY_MS - performance.now()));
    if (performance.now() - start >= CHURN_SECONDS * 1000) break;
    const what = k % 3;
    if (what === 0 || added.length <= 5) {
      const name = `churn-${k}`;
      const file = path.join(dir, `${name}.yaml`);
      writeFileSync(file, toYaml([simpleRoute(name, k, `/${name}`)]));
      added.push(file);
    }
    if (what === 1) {
      const j = k % targets.length;
      // Every other change moves the route to a Service that did not exist (a new cluster for Envoy to warm).
      let service: string | undefined;
      if (k % 2 === 1) {
        service = `churn-svc-${k}`;
        const docs = serviceDocs(0, ['127.0.0.1'], backendPort, backendPort).map((d): Doc => ({ ...d, metadata: { ...d.metadata, namespace: namespaceOf(j) } }));
        docs[0].metadata.name = service;
        docs[1].metadata.name = service;
        docs[1].metadata.labels = { 'kubernetes.io/service-name': service };
        writeFileSync(path.join(dir, `${service}.yaml`), toYaml(docs));
      }
      replaceFile(path.join(dir, fileName(Math.floor(j / PER_FILE))), routeFile(Math.floor(j / PER_FILE), routes, { j, k, service }));
    } else if (what === 2 && added.length > 5) {
      unlinkSync(added.shift()!);
    }
    changes++;
  }
  console.log(`changes ${changes}`);
}

/** wrk, 1 thread, 8 keep-alive connections, requests cycling over the targets (Host header set per request). */
async function wrkLoad(port: number, targets: Array<{ host: string; path: string }>, seconds: number): Promise<Pick<ChurnResult, 'requests' | 'non2xx' | 'errors' | 'detail'>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-wrk-'));
  const script = path.join(dir, 'targets.lua');
  writeFileSync(
    script,
    `local targets = { ${targets.map((t) => `{ ${JSON.stringify(t.host)}, ${JSON.stringify(t.path)} }`).join(', ')} }
local i = 0
request = function()
  i = i % #targets + 1
  return wrk.format("GET", targets[i][2], { ["Host"] = targets[i][1] })
end
`,
  );
  try {
    const child = spawn('wrk', ['-t1', '-c8', `-d${seconds}s`, '--timeout', '5s', '-s', script, `http://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    await new Promise((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    const latency = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
    return { requests, non2xx, errors, detail: latency ? `(latency avg ${latency[1]}, max ${latency[3]})` : '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Without wrk: 8 keep-alive request loops in this process (they share its event loop with the runner). */
async function nodeLoad(port: number, targets: Array<{ host: string; path: string }>, seconds: number): Promise<Pick<ChurnResult, 'requests' | 'non2xx' | 'errors' | 'detail'>> {
  let requests = 0;
  let non2xx = 0;
  let errors = 0;
  const statuses = new Map<number, number>();
  const end = performance.now() + seconds * 1000;
  const loops = Array.from({ length: 8 }, async (_, c) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = c; performance.now() < end && requests < 2_000_000; i++) {
      const t = targets[i % targets.length];
      requests++;
      try {
        const s = await get(agent, port, t.host, t.path);
        if (s < 200 || s > 299) {
          non2xx++;
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
        }
      } catch {
        errors++;
        await sleep(5);
      }
    }
    agent.destroy();
  });
  await Promise.all(loops);
  return { requests, non2xx, errors, detail: statuses.size ? `(statuses ${JSON.stringify(Object.fromEntries(statuses))})` : '' };
}

async function main(): Promise<void> {
  if (args.has('churn-writer')) {
    await churnWriter(args.get('churn-writer')!, SIZES[0], Number(args.get('backend-port')));
    return;
  }
  console.log(`# propagation  size=${args.get('size')}  routes=${SIZES.join(',')}  ${PER_FILE} HTTPRoutes per file  debounce ${args.get('debounce-ms') ?? 'default'}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);
  const backend = await startBackend();
  const all: SizeResult[] = [];
  const churnAt = args.has('no-churn') ? -1 : Number(args.get('churn-routes') ?? SIZES.at(-1));
  try {
    for (const routes of SIZES) all.push(await runSize(routes, backend.port, routes === churnAt));
  } finally {
    await stopChild(backend.child);
  }
  console.log(
    '\nroutes | YAML KiB | write→200 p50 / p99 / max (ms) | ×baseline p50 / p99 | watch p50 | debounce p50 | reload p50 / p99 | →ACK p50 / p99 | ACK→200 p50 | CPU reload p50 / p99 | CPU Envoy write→ACK p50 / p99 | offline loadManifestDir / translateManifests p50 (ms)',
  );
  const base = all[0];
  for (const r of all) {
    console.log(
      `${r.routes} | ${r.yamlKiB.toFixed(0)} | ${ms(r.total.p50)} / ${ms(r.total.p99)} / ${ms(r.total.max)} | ${(r.total.p50 / base.total.p50).toFixed(1)} / ${(r.total.p99 / base.total.p99).toFixed(1)} | ` +
        `${ms(r.watch.p50)} | ${ms(r.debounce.p50)} | ${ms(r.reload.p50)} / ${ms(r.reload.p99)} | ${ms(r.ack.p50)} / ${ms(r.ack.p99)} | ${ms(r.serve.p50)} | ${ms(r.reloadCpu.p50)} / ${ms(r.reloadCpu.p99)} | ${ms(r.envoyCpu.p50)} / ${ms(r.envoyCpu.p99)} | ${ms(r.offline.loadDir.p50)} / ${ms(r.offline.translate.p50)}`,
    );
  }
  const big = all.find((r) => r.routes === 3_000);
  if (big) console.log(`\ntarget: write→200 p99 under 100 ms with 3,000 routes: p99 ${ms(big.total.p99)} ms → ${big.total.p99 < 100 ? 'MET' : 'MISSED'}`);
  const churn = all.find((r) => r.churn)?.churn;
  if (churn) console.log(`target: zero non-2xx during churn (${churn.routes} routes): ${churn.non2xx} non-2xx, ${churn.errors} errors of ${churn.requests} → ${churn.non2xx + churn.errors === 0 ? 'MET' : 'MISSED'}`);
  console.log(`peak RSS of the bench process (runner + poller) ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);
  console.log(`RESULT propagation ${JSON.stringify(all)}`);
}

await main();
