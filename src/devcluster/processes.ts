// Long-running control-plane processes started inside a network namespace, detached from the `weft` command that
// started them (the cluster outlives `weft dev cluster up`), each with its own log file.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface StartedProcess {
  name: string;
  pid: number;
  binary: string;
  log: string;
  /** Where and how it was started, so that it can be restarted the same way. */
  netns?: string;
  args?: string[];
}

export function startInNamespace(netns: string, name: string, binary: string, args: string[], log: string): StartedProcess {
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn('ip', ['netns', 'exec', netns, binary, ...args], { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`);
    child.unref();
    return { name, pid: child.pid, binary, log, netns, args };
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is alive and still runs `binary` (a recycled PID must never be signalled). A process in the middle
 * of execve (`ip netns exec` becoming the binary) shows an empty cmdline for a moment, its new image's arguments not
 * mapped yet: that is read again, not taken for an exit (a kube-apiserver "exited" with nothing in its log once).
 */
export async function isRunning(proc: StartedProcess): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${proc.pid}/cmdline`, 'utf8');
    } catch {
      return false;
    }
    if (cmdline !== '') return cmdline.split('\0').includes(proc.binary);
    // A zombie's (or a dead one's) cmdline is empty for good.
    const state = await processState(proc.pid);
    if (state === undefined || state === 'Z' || state === 'X') return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** The state letter of /proc/<pid>/stat (R, S, D, Z, …), or undefined when there is no such process. */
async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Stops the process and starts it again with the same arguments in the same namespace (e.g. to test recovery). */
export async function restartProcess(proc: StartedProcess): Promise<StartedProcess> {
  if (!proc.netns || !proc.args) throw new Error(`${proc.name}: started without a record of its arguments`);
  await stopProcess(proc);
  return startInNamespace(proc.netns, proc.name, proc.binary, proc.args, proc.log);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(proc: StartedProcess, graceMs = 5000): Promise<void> {
  if (!(await isRunning(proc))) return;
  process.kill(proc.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isRunning(proc))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (await isRunning(proc)) process.kill(proc.pid, 'SIGKILL');
  while (await isRunning(proc)) await new Promise((r) => setTimeout(r, 20));
}

export async function tailOf(log: string, lines = 15): Promise<string> {
  try {
    return (await readFile(log, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Like startInNamespace, but enters only the network namespace (nsenter), not a private mount namespace as
 * `ip netns exec` does: a process that itself creates namespaces with `ip netns add` (the kubelet) must see and
 * make mounts in the host's mount namespace.
 */
export function startInNetworkOnly(netns: string, name: string, binary: string, args: string[], log: string): StartedProcess {
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, binary, ...args], { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`);
    child.unref();
    return { name, pid: child.pid, binary, log };
  } finally {
    closeSync(fd);
  }
}
