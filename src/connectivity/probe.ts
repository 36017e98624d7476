// Runs probe-main.js inside a namespace (and optionally a cgroup, so the socket programs apply to it) and
// returns what it saw.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { netnsCommand, type Place } from './namespaces.js';

const probeMain = fileURLToPath(new URL('./probe-main.js', import.meta.url));

export interface ProbeRequest {
  url: string;
  method?: string;
  /** Host header (the mesh's outbound listener routes by it). */
  host?: string;
  /** Source address to bind (standalone L7 policy tells identities apart by it). */
  localAddress?: string;
  timeoutMs?: number;
}

export type ProbeResult = { ok: true; status: number; body: string; peer: string | undefined } | { ok: false; error: string };

/** One HTTP request from `place`; never rejects (a failure to run the probe is an error result). */
export function probe(place: Place, request: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const [cmd, args] = netnsCommand(place, [process.execPath, probeMain, JSON.stringify(request)]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), (request.timeoutMs ?? 5000) + 15_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `cannot run the probe: ${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out) as ProbeResult);
      } catch {
        resolve({ ok: false, error: `the probe in ${place.netns} exited with ${code}: ${(err || out).trim().slice(0, 300)}` });
      }
    });
  });
}

/** The backend name an echo reply carries, or undefined when the body is no echo reply. */
export function echoBackend(body: string): { backend: string; peer?: string; path?: string; xfcc?: string } | undefined {
  try {
    const v = JSON.parse(body) as { backend?: unknown };
    return typeof v.backend === 'string' ? (v as { backend: string }) : undefined;
  } catch {
    return undefined;
  }
}

/** A short description of a probe's result for a FAIL reason. */
export function describe(r: ProbeResult): string {
  return r.ok ? `HTTP ${r.status} ${JSON.stringify(r.body.slice(0, 120))}` : r.error;
}
