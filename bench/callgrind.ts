// Counting the instructions Envoy executes per request, under valgrind's callgrind: unlike throughput or CPU
// time, the count does not depend on how much of the machine other processes take (on a shared machine with
// a load average of 20, both swing by ±20 % between runs of the same configuration). It counts user-space
// instructions only (not the kernel's socket work, which is the same for every listener) and says nothing
// about cache misses; the ratio of two configurations' counts is what their throughput ratio would be on an
// otherwise idle machine to the extent that Envoy's worker is the bottleneck and instructions cost alike.
// WEFT_CALLGRIND_ARGS adds valgrind options, e.g. `--cache-sim=yes --branch-sim=yes` for simulated cache misses
// and mispredicted branches in the kept dumps (--callgrind-dumps; the instruction count stays the first event).
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveEnvoyBinary } from '../envoy/binary.js';

const execFileAsync = promisify(execFile);

/** A script that runs Envoy under callgrind, writing its dumps into `dir`; use it as the Envoy binary. */
export function callgrindEnvoy(dir: string): string {
  if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).error) throw new Error('--callgrind needs valgrind (apt-get install valgrind)');
  const script = path.join(dir, 'envoy-callgrind.sh');
  const out = path.join(dir, 'callgrind.out');
  writeFileSync(script, `#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=${out} --dump-instr=no --dump-line=no ${process.env.WEFT_CALLGRIND_ARGS ?? ""} ${resolveEnvoyBinary().path} "$@"\n`);
  chmodSync(script, 0o755);
  return script;
}

/** Callgrind's newest dump in `dir` (the instructions since the counters were last zeroed). */
function newestDump(dir: string): string {
  const dumps = readdirSync(dir).filter((f) => f.startsWith('callgrind.out')).map((f) => path.join(dir, f));
  const newest = dumps.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) throw new Error(`no callgrind dump in ${dir}`);
  return newest;
}

function dumpTotal(dump: string): number {
  const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(dump, 'utf8'));
  if (!m) throw new Error(`${dump}: no summary line`);
  return Number(m[1]);
}

/**
 * Instructions Envoy (process `pid`, under callgrind) executed while `work` ran (counters zeroed before, dumped
 * after), less what it executes idle in that time (`idlePerSecond`: timers such as the stats flush). With
 * `keepAs`, the dump is also copied there (per-function figures: `callgrind_annotate --inclusive=yes <file>`).
 */
export async function instructionsDuring(pid: number, dir: string, work: () => Promise<void>, idlePerSecond = 0, keepAs?: string): Promise<number> {
  await execFileAsync('callgrind_control', ['--zero', String(pid)], { timeout: 120_000 });
  const t0 = performance.now();
  await work();
  await execFileAsync('callgrind_control', ['--dump', String(pid)], { timeout: 120_000 });
  const dump = newestDump(dir);
  if (keepAs) copyFileSync(dump, keepAs);
  return dumpTotal(dump) - idlePerSecond * ((performance.now() - t0) / 1000);
}

/** Instructions per second Envoy executes with no requests (measured over `seconds`). */
export async function idleInstructionsPerSecond(pid: number, dir: string, seconds: number): Promise<number> {
  const t0 = performance.now();
  const total = await instructionsDuring(pid, dir, () => new Promise((resolve) => setTimeout(resolve, seconds * 1000)));
  return total / ((performance.now() - t0) / 1000);
}

/** Exactly `n` GET requests over `connections` keep-alive connections; throws unless every one gets 200. */
export async function fixedRequests(url: string, n: number, connections: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`))));
      });
      req.on('error', reject);
    });
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await one();
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    agent.destroy();
  }
}
