// L7 policy fixtures: a control plane and a real Envoy serving what the standalone pipeline makes of a
// YAML text (Pods, policies), an echo backend standing for the server pod's application, and clients
// that bind their source address to a client pod's IP (the proxy derives the identity from it).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { parseL7AccessLogLine, type L7AccessLogEntry } from '../../src/l7policy/access-log.js';
import { translateYaml, type Translation } from '../../src/standalone/pipeline.js';
import { startEchoBackend, type EchoBackend } from './echo-backend.js';
import { Mesh } from './mesh.js';
import { freePort } from './net.js';

let block = 0;

/** A /24 of loopback addresses of its own per fixture (127.<pid-derived>.<n>.x), so tests running at once never share one. */
export function addressBlock(): string {
  block++;
  return `127.${100 + (process.pid % 100)}.${block}`;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  localPort: number;
}

export interface RequestOptions {
  from: string;
  method?: string;
  path: string;
  headers?: Record<string, string | string[]>;
  agent?: http.Agent;
}

export interface L7Fixture {
  mesh: Mesh;
  backend: EchoBackend;
  /** Address of the server pod (where the L7 listener is). */
  server: string;
  port: number;
  net: string;
  accessLog: string;
  translation: Translation;
  /** Re-translates and pushes; resolves once Envoy ACKed. */
  apply(yaml: string): Promise<Translation>;
  request(o: RequestOptions): Promise<Reply>;
  /** Sends raw bytes on a fresh connection from `from`; resolves with everything read until the peer closes or 1.5 s pass. */
  raw(from: string, bytes: string, toPort?: number): Promise<string>;
  h2(from: string, path: string, method?: string): Promise<{ status: number; body: string }>;
  log(): L7AccessLogEntry[];
}

/**
 * `yaml(ctx)` builds the manifests from the fixture's addresses: the server pod at `${net}.2`, with
 * annotation weft.dev/standalone-backends pointing `port` at the echo backend.
 */
export async function l7Fixture(t: ExecutionContext, yaml: (ctx: { net: string; server: string; port: number; backend: EchoBackend; serverPod: (extra?: string) => string }) => string): Promise<L7Fixture> {
  const backend = await startEchoBackend('app');
  const port = await freePort();
  const netPrefix = addressBlock();
  const server = `${netPrefix}.2`;
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-l7-'));
  const accessLog = path.join(dir, 'access.log');
  const serverPod = (extra = ''): string => `apiVersion: v1
kind: Pod
metadata:
  name: server
  namespace: default
  labels: { app: server }
  annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" }
${extra}status: { podIP: ${server} }
`;
  const ctx = { net: netPrefix, server, port, backend, serverPod };
  const translate = (text: string): Translation => translateYaml('policy.yaml', text, { l7: { accessLogPath: accessLog } });
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(async () => {
    await mesh.stop();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let translation = translate(yaml(ctx));
  await mesh.start(translation.resources);
  await converged(mesh);
  const fixture: L7Fixture = {
    mesh,
    backend,
    server,
    port,
    net: netPrefix,
    accessLog,
    get translation() {
      return translation;
    },
    async apply(text: string) {
      translation = translate(text);
      mesh.set(translation.resources);
      await converged(mesh);
      return translation;
    },
    request: (o) => request(server, port, o),
    raw: (from, bytes, toPort = port) => raw(server, toPort, from, bytes),
    h2: (from, p, method = 'GET') => h2(server, port, from, p, method),
    log: () => {
      let text: string;
      try {
        text = readFileSync(accessLog, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!).filter(Boolean);
    },
  };
  return fixture;
}

/** Mesh.converged, with Envoy's reason when it rejected the configuration. */
async function converged(mesh: Mesh): Promise<void> {
  try {
    await mesh.converged();
  } catch (err) {
    throw new Error(`${(err as Error).message}; NACKs: ${mesh.nacks.map((n) => n.errorMessage).join(' | ')}`, { cause: err });
  }
}

export function request(host: string, port: number, o: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method: o.method ?? 'GET', path: o.path, headers: o.headers, localAddress: o.from, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), localPort: res.socket?.localPort ?? req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

export function raw(host: string, port: number, from: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress: from });
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, 1500);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', (err) => (chunks.length ? done() : reject(err)));
    socket.on('connect', () => socket.write(bytes, 'latin1'));
  });
}

export function h2(host: string, port: number, from: string, p: string, method: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${host}:${port}`, { createConnection: () => net.connect({ host, port, localAddress: from }) });
    session.on('error', reject);
    const req = session.request({ ':method': method, ':path': p });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', reject);
    req.end();
  });
}

export function pod(name: string, ip: string, labels: Record<string, string>, namespace = 'default'): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace}, labels: ${JSON.stringify(labels)} }
status: { podIP: ${ip} }
`;
}

/**
 * A CiliumNetworkPolicy in namespace `default` selecting `app: <app>`, with `ingress` as its rules (YAML flow
 * mappings, one per rule): `{ fromEndpoints: [...], toPorts: [...] }`.
 */
export function ingressPolicy(name: string, app: string, ingress: string[]): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: ${name}, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: ${app} } }
  ingress:
${ingress.map((rule) => `  - ${rule}`).join('\n')}
`;
}
