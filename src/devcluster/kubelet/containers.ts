// A container is a process group inside its pod's network namespace (`ip netns exec`, which execs the command so
// the PID is the container's), detached so it outlives a kubelet restart. A PID is only trusted together with the
// process's start time, so a recycled PID is never signalled.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface ProcessRef { pid: number; startTicks: string }

export function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // exited, not yet reaped
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isAlive(ref: ProcessRef): boolean {
  return startTicks(ref.pid) === ref.startTicks;
}

export interface Started { ref: ProcessRef; exited: Promise<number | null> }

export function startContainer(netns: string, argv: string[], env: Record<string, string>, cwd: string | undefined, log: string): Started {
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], {
      detached: true, stdio: ['ignore', fd, fd], cwd: cwd ?? '/',
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...env },
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : null)));
      child.on('error', () => resolve(127));
    });
    child.unref();
    const ticks = startTicks(child.pid);
    return { ref: { pid: child.pid, startTicks: ticks ?? '' }, exited };
  } finally {
    closeSync(fd);
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

/** Signals the container's process group (its children too). */
export function signalContainer(ref: ProcessRef, signal: NodeJS.Signals): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(-ref.pid, signal);
  } catch {
    try { process.kill(ref.pid, signal); } catch { /* gone meanwhile */ }
  }
}

/** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when all are gone. */
export async function stopContainers(refs: ProcessRef[], graceMs: number): Promise<void> {
  for (const r of refs) signalContainer(r, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (refs.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const r of refs) signalContainer(r, 'SIGKILL');
  while (refs.some(isAlive)) await new Promise((r) => setTimeout(r, 20));
}
