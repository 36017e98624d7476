// Translation: Gateway API manifests → statuses, IR and encoded xDS resources, in process, no Envoy.
// How long does one full translation take, and how much does it allocate, for three input sizes?
//
//   node --expose-gc dist/bench/translate.js [--size=quick|full] [--cpu-prof-size=small|medium|large]
//   node --expose-gc dist/bench/translate.js --against=DIR   (this tree against another built checkout, same process)
//
// Timed: translateManifests() (src/standalone/pipeline.ts: classifyManifests → translateGatewayApi →
// translateIrToXds) on manifests already parsed; the YAML parse (parseManifests) separately.
// Baseline, measured in the same run: the small input.
import { Session } from 'node:inspector/promises';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { translateGatewayApi } from '../src/gateway/translate.js';
import { classifyManifests } from '../src/sources/kinds.js';
import { parseManifests, type Manifest } from '../src/sources/manifests.js';
import { translateManifests, TranslationCache, type Translation } from '../src/standalone/pipeline.js';
import { translateIrToXds } from '../src/xds/translator/translate-ir.js';
import { INPUT_SIZES, inputDocs, toYaml, treeState, type InputSize } from './gateway-manifests.js';
import { machine, mib, ms, parseArgs, stats, type Stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const WARMUP = { small: 50, medium: 20, large: 5 } as Record<string, number>;
const ITERATIONS = full ? ({ small: 1000, medium: 300, large: 100 } as Record<string, number>) : ({ small: 200, medium: 60, large: 20 } as Record<string, number>);
const MEMORY_ITERATIONS = full ? 20 : 8;
/** Bounds each size's loops however slow the machine is. */
const BUDGET_MS = full ? 60_000 : 20_000;

// A full collection before each measured allocation window: with --expose-gc, or by enabling it now.
const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();

interface SizeResult {
  size: string;
  httpRoutes: number;
  grpcRoutes: number;
  services: number;
  manifests: number;
  yamlKiB: number;
  /** What came out: HTTPRoutes / GRPCRoutes with a status (i.e. translated), Envoy routes, virtual hosts, xDS resources. */
  httpRoutesTranslated: number;
  grpcRoutesTranslated: number;
  envoyRoutes: number;
  virtualHosts: number;
  clusters: number;
  resources: number;
  resourceKiB: number;
  problems: number;
  total: Stats;
  /** translateManifests with the cache `weft run` keeps, after one HTTPRoute changed (a reload). */
  reload: Stats;
  parse: Stats;
  classify: Stats;
  gateway: Stats;
  xds: Stats;
  /** Bytes allocated per translation (translateManifests), MiB. */
  allocatedMiB: Stats;
  /** Of it, per stage (MiB, p50 of the same windows). */
  allocatedStageMiB: { classify: number; gateway: number; xds: number };
  /** Heap the translation's result keeps alive, MiB. */
  retainedMiB: number;
}

/** Bytes allocated while `f` runs: heap growth plus whatever the GCs inside the window freed. */
function allocated<T>(f: () => T): { bytes: number; value: T } {
  gc();
  const profiler = new v8.GCProfiler();
  profiler.start();
  const before = v8.getHeapStatistics().used_heap_size;
  const value = f();
  const after = v8.getHeapStatistics().used_heap_size;
  const report = profiler.stop();
  let freed = 0;
  for (const s of report?.statistics ?? []) freed += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize);
  return { bytes: after - before + freed, value };
}

function describeOutput(t: Translation): Pick<SizeResult, 'httpRoutesTranslated' | 'grpcRoutesTranslated' | 'envoyRoutes' | 'virtualHosts' | 'clusters' | 'resources' | 'resourceKiB' | 'problems'> {
  const vhosts = t.ir.httpListeners.flatMap((l) => l.virtualHosts);
  return {
    httpRoutesTranslated: t.statuses.filter((s) => s.kind === 'HTTPRoute').length,
    grpcRoutesTranslated: t.statuses.filter((s) => s.kind === 'GRPCRoute').length,
    envoyRoutes: vhosts.reduce((n, v) => n + v.routes.length, 0),
    virtualHosts: vhosts.length,
    clusters: t.resources.filter((r) => r.typeUrl.endsWith('.Cluster')).length,
    resources: t.resources.length,
    resourceKiB: t.resources.reduce((n, r) => n + r.body.byteLength, 0) / 1024,
    problems: t.problems.length,
  };
}

/** Refuses to measure a translation that does not do what it should (a schema problem, a route not Accepted). */
function check(size: InputSize, t: Translation): void {
  if (t.problems.length) throw new Error(`${size.name}: unexpected problems: ${JSON.stringify(t.problems.slice(0, 3))}`);
  for (const s of t.statuses) {
    const parents = (s.status as { parents?: Array<{ conditions: Array<{ type: string; status: string; message?: string }> }> }).parents ?? [];
    for (const p of parents) {
      for (const c of p.conditions) {
        if ((c.type === 'Accepted' || c.type === 'ResolvedRefs') && c.status !== 'True') throw new Error(`${size.name}: ${s.kind} ${s.namespace}/${s.name}: ${c.type}=${c.status}: ${c.message}`);
      }
    }
  }
}

function measure(size: InputSize): SizeResult {
  const docs = inputDocs(size);
  const yaml = toYaml(docs);
  const parsed = parseManifests('bench.yaml', yaml);
  if (parsed.problems.length) throw new Error(`${size.name}: YAML problems: ${JSON.stringify(parsed.problems.slice(0, 3))}`);
  const manifests: Manifest[] = parsed.manifests;
  const first = translateManifests(manifests);
  check(size, first);
  const out = describeOutput(first);

  const total: number[] = [];
  const classify: number[] = [];
  const gateway: number[] = [];
  const xds: number[] = [];
  const parse: number[] = [];
  const warmup = WARMUP[size.name];
  const n = ITERATIONS[size.name];
  let started = performance.now();
  // The headline: translateManifests as `weft run` calls it (after the directory was parsed).
  for (let i = 0; i < warmup + n && performance.now() - started < BUDGET_MS; i++) {
    const t0 = performance.now();
    translateManifests(manifests);
    const t1 = performance.now();
    if (i >= warmup) total.push(t1 - t0);
  }
  // A reload as `weft run` does it: the previous translation's cache, one HTTPRoute edited (a new
  // manifest object, as the file cache gives for a changed file). The edit is made outside the timing.
  const reload: number[] = [];
  const cache = new TranslationCache();
  translateManifests(manifests, [], { cache });
  const edited = manifests.findIndex((m) => m.kind === 'HTTPRoute');
  started = performance.now();
  for (let i = 0; i < warmup + n && performance.now() - started < BUDGET_MS / 2; i++) {
    const changed = manifests.slice();
    const m = structuredClone(manifests[edited]) as Manifest & { spec: { rules: Array<{ matches: Array<{ path: { value: string } }> }> } };
    m.spec.rules[0].matches[0].path.value = `/reload-${i}`;
    changed[edited] = m;
    const t0 = performance.now();
    translateManifests(changed, [], { cache });
    const t1 = performance.now();
    if (i >= warmup) reload.push(t1 - t0);
  }
  // The same three stages timed one by one (interleaving them with the loop above would not change them).
  started = performance.now();
  for (let i = 0; i < warmup + n && performance.now() - started < BUDGET_MS / 2; i++) {
    const t0 = performance.now();
    const { inputs } = classifyManifests(manifests);
    const t1 = performance.now();
    const { ir } = translateGatewayApi(inputs);
    const t2 = performance.now();
    translateIrToXds(ir);
    const t3 = performance.now();
    if (i >= warmup) {
      classify.push(t1 - t0);
      gateway.push(t2 - t1);
      xds.push(t3 - t2);
    }
  }
  // YAML → manifests, as loadManifestDir does for each file.
  started = performance.now();
  for (let i = 0; i < Math.max(5, Math.ceil(n / 4)) + 2 && performance.now() - started < BUDGET_MS / 2; i++) {
    const t0 = performance.now();
    parseManifests('bench.yaml', yaml);
    const t1 = performance.now();
    if (i >= 2) parse.push(t1 - t0);
  }
  // Allocation per translation, and per stage, each window after a full GC.
  const alloc: number[] = [];
  const aClassify: number[] = [];
  const aGateway: number[] = [];
  const aXds: number[] = [];
  for (let i = 0; i < MEMORY_ITERATIONS; i++) {
    alloc.push(allocated(() => translateManifests(manifests)).bytes);
    const c = allocated(() => classifyManifests(manifests));
    const g = allocated(() => translateGatewayApi(c.value.inputs));
    const x = allocated(() => translateIrToXds(g.value.ir));
    aClassify.push(c.bytes);
    aGateway.push(g.bytes);
    aXds.push(x.bytes);
  }
  gc();
  const base = v8.getHeapStatistics().used_heap_size;
  const held = [translateManifests(manifests)];
  gc();
  const retained = v8.getHeapStatistics().used_heap_size - base;
  if (held.pop()?.resources.length !== out.resources) throw new Error('unreachable');

  const M = 2 ** 20;
  return {
    size: size.name,
    httpRoutes: size.httpRoutes,
    grpcRoutes: size.grpcRoutes,
    services: size.services,
    manifests: manifests.length,
    yamlKiB: Buffer.byteLength(yaml) / 1024,
    ...out,
    total: stats(total),
    reload: stats(reload),
    parse: stats(parse),
    classify: stats(classify),
    gateway: stats(gateway),
    xds: stats(xds),
    allocatedMiB: stats(alloc.map((b) => b / M)),
    allocatedStageMiB: { classify: stats(aClassify).p50 / M, gateway: stats(aGateway).p50 / M, xds: stats(aXds).p50 / M },
    retainedMiB: retained / M,
  };
}

/** --cpu-prof-size=NAME: a CPU profile of that size's timed loop only, written to translate-NAME.cpuprofile. */
async function profile(name: string): Promise<void> {
  const size = INPUT_SIZES.find((s) => s.name === name);
  if (!size) throw new Error(`--cpu-prof-size must be one of ${INPUT_SIZES.map((s) => s.name).join(', ')}`);
  const manifests = parseManifests('bench.yaml', toYaml(inputDocs(size))).manifests;
  for (let i = 0; i < WARMUP[name]; i++) translateManifests(manifests);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  for (let i = 0; i < ITERATIONS[name]; i++) translateManifests(manifests);
  const { profile: p } = await session.post('Profiler.stop');
  session.disconnect();
  const file = `translate-${name}.cpuprofile`;
  writeFileSync(file, JSON.stringify(p));
  console.log(`wrote ${file} (${ITERATIONS[name]} translations)`);
}

type TranslateFn = (manifests: Manifest[], earlier?: [], options?: { cache?: TranslationCache }) => Translation;

/** The three stages of a translation, as a built tree exports them. */
interface Stages {
  classifyManifests: typeof classifyManifests;
  translateGatewayApi: typeof translateGatewayApi;
  translateIrToXds: typeof translateIrToXds;
}

/** What a translation puts out, for checking that two trees agree: problems, statuses, every resource's bytes and version. */
function outputDigest(t: Translation): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ problems: t.problems, statuses: t.statuses }));
  for (const r of t.resources) h.update(`${r.typeUrl} ${r.name} ${r.version} ${JSON.stringify(r.references)}\n`).update(r.body);
  return h.digest('hex').slice(0, 16);
}

/**
 * --against=DIR: this tree against another built checkout of Weft (its dist/src/standalone/pipeline.js),
 * in one process, call after call (other tree from scratch, this tree from scratch, each tree reloading
 * with its cache after one HTTPRoute changed), so that both see the same machine load. Wall time and the
 * process's CPU time per call; on a busy machine CPU time is the steadier of the two. Then the three stages
 * of a from-scratch translation (classify, gateway, xDS), the two trees alternated, CPU time each; and
 * whether both trees give the same output (problems, statuses, resource bytes and versions).
 */
async function against(dir: string): Promise<void> {
  const other = (await import(path.resolve(dir, 'dist/src/standalone/pipeline.js'))) as { translateManifests: TranslateFn; TranslationCache: new () => TranslationCache };
  const otherStages: Stages = {
    ...((await import(path.resolve(dir, 'dist/src/sources/kinds.js'))) as Pick<Stages, 'classifyManifests'>),
    ...((await import(path.resolve(dir, 'dist/src/gateway/translate.js'))) as Pick<Stages, 'translateGatewayApi'>),
    ...((await import(path.resolve(dir, 'dist/src/xds/translator/translate-ir.js'))) as Pick<Stages, 'translateIrToXds'>),
  };
  const thisStages: Stages = { classifyManifests, translateGatewayApi, translateIrToXds };
  const rounds = full ? 60 : 20;
  const cpuNow = (): number => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const time = (f: () => unknown): [number, number] => {
    const c0 = cpuNow();
    const t0 = performance.now();
    f();
    return [performance.now() - t0, cpuNow() - c0];
  };
  for (const size of INPUT_SIZES.filter((s) => s.name !== 'small')) {
    const manifests = parseManifests('bench.yaml', toYaml(inputDocs(size))).manifests;
    const same = outputDigest(other.translateManifests(manifests)) === outputDigest(translateManifests(manifests));
    const cache = new TranslationCache();
    translateManifests(manifests, [], { cache });
    const otherCache = new other.TranslationCache();
    other.translateManifests(manifests, [], { cache: otherCache });
    const edited = manifests.findIndex((m) => m.kind === 'HTTPRoute');
    const runs = { other: [[], []] as number[][], scratch: [[], []] as number[][], otherReload: [[], []] as number[][], reload: [[], []] as number[][] };
    for (let i = 0; i < rounds + 3; i++) {
      const changed = manifests.slice();
      const m = structuredClone(manifests[edited]) as Manifest & { spec: { rules: Array<{ matches: Array<{ path: { value: string } }> }> } };
      m.spec.rules[0].matches[0].path.value = `/against-${i}`;
      changed[edited] = m;
      const measured: Array<[keyof typeof runs, [number, number]]> = [
        ['other', time(() => other.translateManifests(manifests))],
        ['scratch', time(() => translateManifests(manifests))],
        ['otherReload', time(() => other.translateManifests(changed, [], { cache: otherCache }))],
        ['reload', time(() => translateManifests(changed, [], { cache }))],
      ];
      if (i < 3) continue; // warm-up
      for (const [k, [wall, cpu]] of measured) {
        runs[k][0].push(wall);
        runs[k][1].push(cpu);
      }
    }
    const line = (k: keyof typeof runs): string => `wall p50 ${ms(stats(runs[k][0]).p50)} p90 ${ms(quantile(runs[k][0], 0.9))} / CPU p50 ${ms(stats(runs[k][1]).p50)} p90 ${ms(quantile(runs[k][1], 0.9))} p99 ${ms(stats(runs[k][1]).p99)} ms`;
    const cpu = (k: keyof typeof runs): number => stats(runs[k][1]).p50;
    console.log(
      `${size.name}: ${dir} from scratch: ${line('other')} | this tree from scratch: ${line('scratch')} (CPU ×${(cpu('scratch') / cpu('other')).toFixed(2)}) | ` +
        `${dir}, reload (cached, one HTTPRoute changed): ${line('otherReload')} | this tree, reload: ${line('reload')} (CPU ×${(cpu('reload') / cpu('other')).toFixed(3)} of ${dir} from scratch, ` +
        `×${(cpu('reload') / cpu('otherReload')).toFixed(2)} of its reload) (n=${runs.other[0].length}); ` +
        `same output (problems, statuses, resource bytes and versions): ${same ? 'yes' : 'NO'}`,
    );
    // Stage by stage, from scratch, the trees alternated: CPU time of each stage.
    const stageNames = ['classify', 'gateway', 'xds'] as const;
    const stageCpu = { other: stageNames.map((): number[] => []), this: stageNames.map((): number[] => []) };
    const stagesOnce = (s: Stages): number[] => {
      const c0 = cpuNow();
      const { inputs } = s.classifyManifests(manifests);
      const c1 = cpuNow();
      const { ir } = s.translateGatewayApi(inputs);
      const c2 = cpuNow();
      s.translateIrToXds(ir);
      return [c1 - c0, c2 - c1, cpuNow() - c2];
    };
    for (let i = 0; i < rounds + 3; i++) {
      const o = stagesOnce(otherStages);
      const t = stagesOnce(thisStages);
      if (i < 3) continue;
      o.forEach((x, j) => stageCpu.other[j].push(x));
      t.forEach((x, j) => stageCpu.this[j].push(x));
    }
    const stageLine = stageNames
      .map((n, j) => {
        const o = stats(stageCpu.other[j]);
        const t = stats(stageCpu.this[j]);
        return `${n} ${ms(o.p50)} / ${ms(o.p99)} → ${ms(t.p50)} / ${ms(t.p99)} (×${(t.p50 / o.p50).toFixed(2)})`;
      })
      .join('; ');
    console.log(`${size.name}: stages from scratch, CPU p50 / p99 (ms), ${dir} → this tree: ${stageLine} (n=${stageCpu.other[0].length})`);
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

async function main(): Promise<void> {
  console.log(`# translate  size=${args.get('size')}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);
  if (args.has('cpu-prof-size')) {
    await profile(args.get('cpu-prof-size')!);
    return;
  }
  if (args.has('against')) {
    await against(args.get('against')!);
    return;
  }
  const rss0 = process.memoryUsage.rss();
  const all: SizeResult[] = [];
  for (const size of INPUT_SIZES) {
    const r = measure(size);
    all.push(r);
    console.log(
      `${r.size.padEnd(6)} ${r.httpRoutes} HTTPRoutes, ${r.grpcRoutes} GRPCRoutes, ${r.services} Services (${r.manifests} manifests, ${r.yamlKiB.toFixed(0)} KiB YAML) → ` +
        `${r.httpRoutesTranslated} HTTPRoutes / ${r.grpcRoutesTranslated} GRPCRoutes translated, ${r.envoyRoutes} Envoy routes in ${r.virtualHosts} virtual hosts, ${r.clusters} clusters, ${r.resources} resources (${r.resourceKiB.toFixed(0)} KiB): ` +
        `translateManifests p50 ${ms(r.total.p50)} p99 ${ms(r.total.p99)} max ${ms(r.total.max)} ms (n=${r.total.n}); ` +
        `reload (cached, one HTTPRoute changed) p50 ${ms(r.reload.p50)} p99 ${ms(r.reload.p99)} ms (n=${r.reload.n}); ` +
        `classify / gateway / xds p50 ${ms(r.classify.p50)} / ${ms(r.gateway.p50)} / ${ms(r.xds.p50)} ms; parseManifests p50 ${ms(r.parse.p50)} p99 ${ms(r.parse.p99)} ms (n=${r.parse.n}); ` +
        `allocated p50 ${r.allocatedMiB.p50.toFixed(1)} MiB (classify ${r.allocatedStageMiB.classify.toFixed(1)}, gateway ${r.allocatedStageMiB.gateway.toFixed(1)}, xds ${r.allocatedStageMiB.xds.toFixed(1)}); retained ${r.retainedMiB.toFixed(1)} MiB`,
    );
  }
  const base = all[0];
  console.log(
    '\nsize | HTTPRoutes / GRPCRoutes / Services | Envoy routes | resources (KiB) | translateManifests p50 / p99 / max (ms) | ×small p50 / p99 | reload p50 / p99 (ms) | ×small reload p50 | classify / gateway / xds p50 (ms) | parseManifests p50 / p99 (ms) | allocated p50 / max (MiB) | retained (MiB) | Envoy Gateway (ms)',
  );
  const eg: Record<string, string> = { small: '5.5', medium: '16', large: '139 (58 MiB)' };
  for (const r of all) {
    console.log(
      `${r.size} | ${r.httpRoutes} / ${r.grpcRoutes} / ${r.services} | ${r.envoyRoutes} | ${r.resources} (${r.resourceKiB.toFixed(0)}) | ${ms(r.total.p50)} / ${ms(r.total.p99)} / ${ms(r.total.max)} | ` +
        `${(r.total.p50 / base.total.p50).toFixed(1)} / ${(r.total.p99 / base.total.p99).toFixed(1)} | ${ms(r.reload.p50)} / ${ms(r.reload.p99)} | ${(r.reload.p50 / base.reload.p50).toFixed(1)} | ${ms(r.classify.p50)} / ${ms(r.gateway.p50)} / ${ms(r.xds.p50)} | ${ms(r.parse.p50)} / ${ms(r.parse.p99)} | ` +
        `${r.allocatedMiB.p50.toFixed(1)} / ${r.allocatedMiB.max.toFixed(1)} | ${r.retainedMiB.toFixed(1)} | ${eg[r.size]}`,
    );
  }
  const large = all.find((r) => r.size === 'large')!;
  const verdict = (x: Stats): string => (x.p99 < 50 ? 'MET (p99)' : x.p50 < 50 ? 'MET at p50, MISSED at p99' : 'MISSED');
  console.log(`\ntarget: large translation under 50 ms: from scratch p50 ${ms(large.total.p50)} p99 ${ms(large.total.p99)} ms → ${verdict(large.total)}`);
  console.log(`                                      reload (cached, one HTTPRoute changed) p50 ${ms(large.reload.p50)} p99 ${ms(large.reload.p99)} ms → ${verdict(large.reload)}`);
  if (large.grpcRoutesTranslated === 0) console.log(`note: the ${large.grpcRoutes} GRPCRoutes are classified (schema-validated) but not translated yet: no status, no Envoy routes`);
  console.log(`RSS ${mib(rss0)} → ${mib(process.memoryUsage.rss())} MiB; peak ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);
  console.log(`RESULT translate ${JSON.stringify(all)}`);
}

await main();
