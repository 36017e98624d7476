// Cold start: how long does `weft run -c DIR` take to parse the large translation input (1,500 Services and
// EndpointSlices, 500 HTTPRoutes, 250 GRPCRoutes: 1.6 MB of YAML) before it can translate anything?
//
//   node dist/bench/parse.js [--size=quick|full]
//
// Timed: parseManifests() on each file's text (the fast parse, with the positional parse for files it leaves),
// against the baseline measured in the same run: the positional parse alone (`yaml`'s Document with a
// LineCounter, which every file went through before). Also loadManifestDir() on the directory, as `weft run`
// reads it at start (readdir, reads, parses; no cache).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadManifestDir, parseManifests } from '../src/sources/manifests.js';
import { INPUT_SIZES, inputDocs, toYaml, treeState } from './gateway-manifests.js';
import { machine, ms, parseArgs, stats } from './lib.js';

const args = parseArgs();
const ROUNDS = args.get('size') === 'full' ? 15 : 5;
/** Documents per file, as a team might split a large directory. */
const PER_FILE = 100;

console.log(`# parse  node dist/bench/parse.js --size=${args.get('size')}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);

const large = INPUT_SIZES.find((s) => s.name === 'large')!;
const docs = inputDocs(large);
const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-parse-'));
const files: Array<{ file: string; text: string }> = [];
for (let i = 0; i < docs.length; i += PER_FILE) {
  const file = path.join(dir, `part-${String(i / PER_FILE).padStart(3, '0')}.yaml`);
  const text = toYaml(docs.slice(i, i + PER_FILE));
  writeFileSync(file, text);
  files.push({ file, text });
}
const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.text), 0);

// Both parses must give the same manifests, lines included, before either is timed.
for (const { file, text } of files) {
  const fast = parseManifests(file, text);
  if (fast.problems.length) throw new Error(`${file}: unexpected problems: ${JSON.stringify(fast.problems.slice(0, 3))}`);
  if (!isDeepStrictEqual(fast, parseManifests(file, text, { withPositions: true }))) throw new Error(`${file}: the fast and the positional parse differ`);
}

const positional: number[] = [];
const fast: number[] = [];
const dirLoad: number[] = [];
// Rounds alternate the three, so that a busy moment of the machine is shared between them.
for (let round = 0; round < ROUNDS + 1; round++) {
  let t0 = performance.now();
  for (const { file, text } of files) parseManifests(file, text, { withPositions: true });
  const tPositional = performance.now() - t0;
  t0 = performance.now();
  for (const { file, text } of files) parseManifests(file, text);
  const tFast = performance.now() - t0;
  t0 = performance.now();
  const loaded = loadManifestDir(dir);
  const tDir = performance.now() - t0;
  if (loaded.manifests.length !== docs.length) throw new Error(`loadManifestDir: ${loaded.manifests.length} manifests, expected ${docs.length}`);
  if (round === 0) continue; // warm-up
  positional.push(tPositional);
  fast.push(tFast);
  dirLoad.push(tDir);
}
rmSync(dir, { recursive: true, force: true });

const p = stats(positional);
const f = stats(fast);
const d = stats(dirLoad);
const mibps = (t: number): string => (bytes / 2 ** 20 / (t / 1000)).toFixed(1);
console.log(`input: ${docs.length} documents in ${files.length} files, ${(bytes / 1e6).toFixed(2)} MB`);
console.log(`positional parse (baseline, yaml Document + LineCounter): p50 ${ms(p.p50)} ms, max ${ms(p.max)} ms (${mibps(p.p50)} MiB/s, n=${p.n})`);
console.log(`parseManifests (fast parse):                          p50 ${ms(f.p50)} ms, max ${ms(f.max)} ms (${mibps(f.p50)} MiB/s, n=${f.n}) → ×${(f.p50 / p.p50).toFixed(2)} of the baseline`);
console.log(`loadManifestDir (readdir + read + parse, no cache):    p50 ${ms(d.p50)} ms, max ${ms(d.max)} ms (n=${d.n})`);
console.log(`RESULT parse ${JSON.stringify({ bytes, documents: docs.length, files: files.length, positional: p, fast: f, loadManifestDir: d })}`);
