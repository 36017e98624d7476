// What one `weft` command costs to start: CPU time (user + system) of `node dist/src/cli/main.js ARGS` for a
// few cheap commands, in this tree and, alternated in the same run, in a baseline tree built beside it
// (e.g. `git worktree add ../base main`, then gen-types and tsc there).
//
//   node dist/bench/cli-start.js --base=DIR [--size=quick|full]
//
// Each run is a fresh process; its CPU is what bash's `times` reports for its children (getrusage), so an
// Envoy that `weft version` starts counts too. Both trees must print the same (their own paths aside).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeState } from './gateway-manifests.js';
import { machine, ms, parseArgs, stats } from './lib.js';

const args = parseArgs();
const ROUNDS = args.get('size') === 'full' ? 21 : 7;
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const base = args.get('base') ? path.resolve(args.get('base')!) : undefined;
if (!base) throw new Error('--base=DIR: the baseline tree (built: DIR/dist/src/cli/main.js)');

const COMMANDS = [['version'], ['--help'], ['status', '--help'], ['translate', '-c', 'examples/quickstart']];
const trees = [{ name: 'baseline', root: base }, { name: 'this tree', root: here }];

interface Sample { cpuMs: number; wallMs: number; stdout: string; code: number | null }

/** One run of the CLI in `root`; CPU from bash's `times` (its children's user and system time). */
function runOnce(root: string, cliArgs: string[]): Sample {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', '"$@" 2>/dev/null; rc=$?; times >&2; exit $rc', 'bash', process.execPath, path.join(root, 'dist/src/cli/main.js'), ...cliArgs],
    { cwd: root, encoding: 'utf8' });
  const wallMs = performance.now() - t0;
  // `times`: the shell's user and system time, then its children's ("0m1.234s 0m0.056s").
  const children = r.stderr.trim().split('\n').at(-1) ?? '';
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(children);
  if (!m) throw new Error(`${cliArgs.join(' ')} in ${root}: no CPU times in ${JSON.stringify(r.stderr)}`);
  const cpuMs = (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
  return { cpuMs, wallMs, stdout: r.stdout.split(root).join('<tree>'), code: r.status };
}

console.log(`# cli-start  node dist/bench/cli-start.js --base=${base} --size=${args.get('size')}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);

const samples = new Map<string, Sample[]>();
const key = (tree: string, cmd: string[]): string => `${tree}\0${cmd.join(' ')}`;
// Round 0 warms the file cache; the trees alternate, and which goes first alternates too.
for (let round = 0; round <= ROUNDS; round++) {
  for (const cmd of COMMANDS) {
    for (const tree of round % 2 ? [...trees].reverse() : trees) {
      const s = runOnce(tree.root, cmd);
      if (round === 0) continue;
      samples.set(key(tree.name, cmd), [...(samples.get(key(tree.name, cmd)) ?? []), s]);
    }
  }
}

console.log(`\n${ROUNDS} runs of each | CPU ms p50 baseline / this tree | ratio | wall ms p50 baseline / this tree | exit code`);
console.log('---|---|---|---|---');
for (const cmd of COMMANDS) {
  const [b, t] = trees.map((tree) => samples.get(key(tree.name, cmd))!);
  const differs = [...b, ...t].find((s) => s.stdout !== b[0].stdout || s.code !== b[0].code);
  if (differs) throw new Error(`weft ${cmd.join(' ')}: the trees' output or exit code differ:\n${b[0].stdout}\n---\n${differs.stdout}`);
  const cpu = [b, t].map((s) => stats(s.map((x) => x.cpuMs)).p50);
  const wall = [b, t].map((s) => stats(s.map((x) => x.wallMs)).p50);
  console.log(`weft ${cmd.join(' ')} | ${ms(cpu[0])} / ${ms(cpu[1])} | ×${(cpu[1] / cpu[0]).toFixed(3)} | ${ms(wall[0])} / ${ms(wall[1])} | ${b[0].code}`);
}
