// `weft` as a process in tests: `weft run` on a directory of manifests, with its admin endpoint on a known
// port, stopped (SIGTERM) at teardown; and one-shot commands with their exit code and output.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { eventually, freePort } from './net.js';

export const weftBin = path.resolve('bin', 'weft');

/**
 * How long a `weft run` may take to serve. Loading Weft alone costs a process 1.5-2 s of CPU; on a loaded two-core
 * CI machine, with a test file's runs starting at once, ready took 20 s (status.test.ts) and past 30 s once.
 */
export const START_DEADLINE_MS = 90_000;

export interface WeftRun {
  child: ChildProcess;
  dir: string;
  adminPort: number;
  admin: string;
  stdout(): string;
  stderr(): string;
  /** The Envoy it started, from its log. */
  envoy(): StartedEnvoy | undefined;
  /** SIGTERM, resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Writes `files` into a fresh directory and runs `weft run -c DIR --admin-port P ...extra` until it is ready. */
export async function startWeftRun(t: ExecutionContext, files: Record<string, string>, extra: string[] = [], opts: { waitReady?: boolean } = {}): Promise<WeftRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-run-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const adminPort = await freePort();
  const child = spawn(weftBin, ['run', '-c', dir, '--admin-port', String(adminPort), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // SIGTERM first: weft run then stops its Envoy (a SIGKILLed weft run would leave its Envoy running when a test
  // fails before stop()); SIGKILL only if it has not exited within 10 s.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const admin = `http://127.0.0.1:${adminPort}`;
  // What it said by the deadline (not when the wait began, when it had said nothing yet).
  const withStderr = (e: Error): never => {
    throw new Error(`${e.message} (stderr: ${err.slice(-1000)})`);
  };
  if (opts.waitReady === false) {
    await eventually(async () => (await fetch(`${admin}/debug/xds`)).ok, START_DEADLINE_MS, 'weft run\'s admin endpoint').catch(withStderr);
  } else {
    await eventually(() => out.includes('weft: ready'), START_DEADLINE_MS, 'weft run to be ready').catch(withStderr);
  }
  return {
    child, dir, adminPort, admin,
    stdout: () => out,
    stderr: () => err,
    envoy: () => startedEnvoy(err),
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface StartedEnvoy { pid: number; admin: string }

/** The last Envoy a weft process started, from the "envoy started" line of its JSON log (stderr). */
export function startedEnvoy(stderr: string): StartedEnvoy | undefined {
  let found: StartedEnvoy | undefined;
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{') || !line.endsWith('}')) continue; // a line still being written
    const entry = JSON.parse(line) as { msg?: string; envoyPid?: number; admin?: string };
    if (entry.msg === 'envoy started' && entry.envoyPid && entry.admin) found = { pid: entry.envoyPid, admin: entry.admin };
  }
  return found;
}

export function runWeft(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(weftBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the process may exit before its output has been read from the pipes.
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
