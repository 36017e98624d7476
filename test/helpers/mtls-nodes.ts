// Two "nodes" as network namespaces joined by a veth pair (no other interface, no route out), each
// with its own Envoy (run inside the namespace, admin on a UNIX socket) and its own Weft xDS server
// (in this process, reached by Envoy over a UNIX socket: the filesystem is shared, the network is
// not). Pods are processes started inside a namespace: an echo backend and a load client.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { resolveEnvoyBinary } from '../../envoy/binary.js';
import { envoyRunFlags } from '../../envoy/process.js';
import { InMemorySnapshotCache } from '../../src/xds/cache.js';
import { ackDivergence } from '../../src/xds/node-status.js';
import type { NackEvent } from '../../src/xds/ads-stream.js';
import type { Resource } from '../../src/xds/resource.js';
import { XdsServer } from '../../src/xds/server.js';
import { Snapshot } from '../../src/xds/snapshot.js';
import { eventually } from './net.js';

/** Why two-node tests cannot run here (they need root for `ip netns`), or undefined. */
export function netnsMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'pipe' });
  } catch {
    return 'iproute2 (ip) is missing';
  }
  return undefined;
}

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

export interface NodePair {
  a: string;
  b: string;
  addrA: string;
  addrB: string;
  cleanup(): void;
}

let pairs = 0;
/** Two namespaces with a veth between them: A 10.<x>.<y>.1, B .2, /30; loopback up in each. */
export function createNodePair(): NodePair {
  const tag = `${process.pid % 100000}-${pairs++}`;
  const a = `weft-mtls-a-${tag}`;
  const b = `weft-mtls-b-${tag}`;
  const octet = (process.pid + pairs) % 250;
  const [addrA, addrB] = [`10.213.${octet}.1`, `10.213.${octet}.2`];
  const vethA = `wma${tag}`.slice(0, 15);
  const vethB = `wmb${tag}`.slice(0, 15);
  const cleanup = (): void => {
    for (const ns of [a, b]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', vethA, 'netns', a, 'type', 'veth', 'peer', 'name', vethB, 'netns', b);
    ip('-n', a, 'addr', 'add', `${addrA}/30`, 'dev', vethA);
    ip('-n', b, 'addr', 'add', `${addrB}/30`, 'dev', vethB);
    for (const [ns, dev] of [[a, vethA], [b, vethB]]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return { a, b, addrA, addrB, cleanup };
}

/** Starts `node -e script` inside a namespace; its stdout lines are JSON. */
export function nodeInNetns(ns: string, script: string, env: Record<string, string> = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

/** Resolves with the first stdout line of a child that is JSON, or rejects when it exits first. */
export function firstJsonLine<T>(child: ChildProcess, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`no output within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(buffered.slice(0, nl)) as T);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before a line: ${stderr}`));
    });
  });
}

/** An HTTP backend (a pod): answers 200 with its name and the request headers it received. */
export const ECHO_POD = `
import http from 'node:http';
const name = process.env.NAME;
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ backend: name, headers: req.headers }));
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT), process.env.ADDRESS, () => console.log(JSON.stringify({ listening: server.address().port })));
`;

export interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  errors: string[];
  seconds: number;
  latenciesMs: number[];
  /** The distinct x-forwarded-client-cert values the backend saw. */
  xfcc: string[];
  /** The distinct bodies of replies other than 200 (Envoy's own, e.g. a policy's 403). */
  refusals: string[];
  backends: string[];
  /** With `echoHeader`: the distinct values of that request header the backend saw (`undefined` when absent). */
  echoed: string[];
}

/**
 * A load client (a pod): CONCURRENCY workers, each with its own keep-alive connection, sending GETs
 * to URL with Host HOST from LOCAL_ADDRESS for DURATION_MS (or COUNT requests in all); HEADERS is
 * JSON. Prints one LoadResult line.
 */
export const LOAD_POD = `
import http from 'node:http';
const e = process.env;
const headers = { host: e.HOST, ...JSON.parse(e.HEADERS || '{}') };
const result = { ok: 0, failed: 0, statuses: {}, errors: [], seconds: 0, latenciesMs: [], xfcc: [], refusals: [], backends: [], echoed: [] };
const xfcc = new Set(), backends = new Set(), refusals = new Set(), echoed = new Set();
const deadline = Date.now() + Number(e.DURATION_MS || 0);
let left = Number(e.COUNT || 0);
const more = () => (e.COUNT ? left-- > 0 : Date.now() < deadline);
function once(agent) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(e.URL, { agent, headers, localAddress: e.LOCAL_ADDRESS, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        result.latenciesMs.push(performance.now() - t0);
        result.statuses[res.statusCode] = (result.statuses[res.statusCode] || 0) + 1;
        if (res.statusCode === 200) {
          result.ok++;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString());
            xfcc.add(String(body.headers['x-forwarded-client-cert']));
            backends.add(body.backend);
            if (e.ECHO_HEADER) echoed.add(String(body.headers[e.ECHO_HEADER]));
          } catch { result.errors.push('not an echo reply'); }
        } else {
          result.failed++;
          refusals.add(Buffer.concat(chunks).toString());
        }
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => { result.failed++; if (result.errors.length < 20) result.errors.push(err.message); resolve(); });
  });
}
const start = performance.now();
await Promise.all(Array.from({ length: Number(e.CONCURRENCY || 1) }, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (more()) await once(agent);
  agent.destroy();
}));
result.seconds = (performance.now() - start) / 1000;
result.xfcc = [...xfcc];
result.refusals = [...refusals];
result.backends = [...backends];
result.echoed = [...echoed];
if (!e.KEEP_LATENCIES) result.latenciesMs = [];
console.log(JSON.stringify(result));
`;

export interface LoadOptions {
  url: string;
  host: string;
  localAddress?: string;
  concurrency?: number;
  durationMs?: number;
  count?: number;
  headers?: Record<string, string>;
  keepLatencies?: boolean;
  /** A request header (lower case) whose values at the backend the result lists (`echoed`). */
  echoHeader?: string;
}

export async function runLoad(ns: string, o: LoadOptions): Promise<LoadResult> {
  const child = nodeInNetns(ns, LOAD_POD, {
    URL: o.url,
    HOST: o.host,
    LOCAL_ADDRESS: o.localAddress ?? '127.0.0.1',
    CONCURRENCY: String(o.concurrency ?? 1),
    DURATION_MS: String(o.durationMs ?? 0),
    ...(o.count !== undefined ? { COUNT: String(o.count) } : {}),
    HEADERS: JSON.stringify(o.headers ?? {}),
    ...(o.keepLatencies ? { KEEP_LATENCIES: '1' } : {}),
    ...(o.echoHeader ? { ECHO_HEADER: o.echoHeader } : {}),
  });
  return firstJsonLine<LoadResult>(child, (o.durationMs ?? 0) + 120_000);
}

/** Starts an echo pod in `ns` on address:port; resolves once it listens. */
export async function startEchoPod(ns: string, name: string, address: string, port: number): Promise<ChildProcess> {
  const child = nodeInNetns(ns, ECHO_POD, { NAME: name, ADDRESS: address, PORT: String(port) });
  await firstJsonLine(child, 30_000);
  return child;
}

/** One node: its xDS server and cache (here), and its Envoy (in the namespace). */
export class MeshNode {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'weft-mtls-node-'));
  readonly cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  readonly server = new XdsServer({ cache: this.cache, logger: process.env.WEFT_XDS_TRACE ? pino({ level: 'debug' }, pino.destination({ dest: `${process.env.WEFT_XDS_TRACE}.${process.pid}.${Math.random().toString(36).slice(2, 6)}`, sync: false })) : undefined });
  readonly nacks: NackEvent[] = [];
  envoy?: ChildProcess;
  output = '';
  private snapshot = Snapshot.of([]);

  constructor(readonly ns: string, readonly nodeId: string) {
    this.server.on('nack', (e) => this.nacks.push(e));
  }

  get adminSocket(): string {
    return path.join(this.dir, 'admin.sock');
  }

  async start(resources: Resource[]): Promise<void> {
    this.set(resources);
    const xds = path.join(this.dir, 'xds.sock');
    await this.server.listen({ unix: xds });
    const bootstrap = nodeBootstrap({ nodeId: this.nodeId, xds: { unix: xds } });
    bootstrap.admin = { address: { pipe: { path: this.adminSocket } } };
    const file = path.join(this.dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify(bootstrap));
    this.envoy = spawn('ip', ['netns', 'exec', this.ns, resolveEnvoyBinary().path, '-c', file, ...envoyRunFlags()], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c: Buffer): void => void (this.output = (this.output + c.toString()).slice(-20_000));
    this.envoy.stdout?.on('data', keep);
    this.envoy.stderr?.on('data', keep);
    await eventually(async () => (await this.admin('/ready')).trim() === 'LIVE', 20_000, `Envoy of ${this.nodeId} to be ready`).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.output}`);
    });
  }

  set(resources: Resource[]): void {
    this.snapshot = Snapshot.of(resources);
    this.cache.setSnapshot(this.nodeId, this.snapshot);
  }

  /** 30 s: a change that replaces listeners holds cluster removals for the drain, then waits on EDS warming; CI's load slows all of it. */
  async converged(timeoutMs = 30_000): Promise<void> {
    await eventually(() => ackDivergence(this.server.nodeStatus(this.nodeId), this.snapshot) === undefined, timeoutMs, `node ${this.nodeId} to ACK`).catch((err: Error) => {
      throw new Error(`${err.message} (${ackDivergence(this.server.nodeStatus(this.nodeId), this.snapshot)}; NACKs ${JSON.stringify(this.nacks.map((n) => n.errorMessage))}; ${this.server.describeStreams(this.nodeId).join('; ')})`);
    });
  }

  admin(pathAndQuery: string, method = 'GET'): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.adminSocket, path: pathAndQuery, method }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Counter and gauge values whose names match `regex` (Envoy's /stats?filter=). */
  async stats(regex: string): Promise<Record<string, number>> {
    const text = await this.admin(`/stats?filter=${encodeURIComponent(regex)}`);
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m = /^(\S+): (\d+)$/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }

  async stop(): Promise<void> {
    const envoy = this.envoy;
    if (envoy && envoy.exitCode === null) {
      const exited = new Promise((r) => envoy.once('exit', r));
      envoy.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (envoy.exitCode === null) envoy.kill('SIGKILL');
    }
    await this.server.shutdown(500);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
