// Envoy's working directory (bootstrap, admin address file) under the system's temporary directory. A Weft
// killed with SIGKILL cannot remove its own (its Envoy dies with it, envoy/parent-death.ts), so each
// directory names its owner in a file, and the next Weft to create one removes those whose owner is gone.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const WORK_DIR_PREFIX = 'weft-envoy-';
/** In each work directory: `{"pid":…,"start":…}` of the process that made it. */
export const OWNER_FILE = 'weft-owner.json';

interface Owner {
  pid: number;
  /** The process's start time (/proc/PID/stat, clock ticks since boot): a reused PID is another process. */
  start: string | null;
}

/** The start time of process `pid`, or null where /proc does not say (not Linux, or no such process). */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, which may hold spaces): state is field 3, starttime 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: Owner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: it exists, as another user's process.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return owner.start === null || processStart(owner.pid) === owner.start;
}

/**
 * Removes the work directories in `parent` whose owner process is gone. A directory without an owner file
 * is left alone: another process may have just made it, or it predates owner files.
 */
export function removeStaleWorkDirs(parent = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(WORK_DIR_PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = path.join(parent, name);
    let owner: Owner;
    try {
      owner = JSON.parse(readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as Owner;
    } catch {
      continue; // no owner file (or not ours to judge)
    }
    if (typeof owner.pid !== 'number' || alive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

let swept = false;

/** A new work directory owned by this process; the first call also removes stale ones. */
export function createWorkDir(): string {
  if (!swept) {
    swept = true;
    removeStaleWorkDirs();
  }
  const dir = mkdtempSync(path.join(tmpdir(), WORK_DIR_PREFIX));
  const owner: Owner = { pid: process.pid, start: processStart(process.pid) };
  writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify(owner));
  return dir;
}
