// The kubelet API that kube-apiserver proxies to (port 10250, TLS): for now `GET /containerLogs/{ns}/{pod}/{container}`
// (what `kubectl logs` and pods/log reach) and `/healthz`. Only the API server is let in: a client certificate
// signed by the cluster CA, with the CN the cluster gives the API server's kubelet client certificate.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { KUBELET_CLIENT_CN } from '../pki.js';
import { logTimestamp, readLogLines, type LogLine } from './log-files.js';

/** Where a container's log is, or why there is none (an HTTP status and message, as the kubelet answers). */
export type LogLookup =
  | { file: string; running: () => boolean }
  | { status: number; message: string };

export type FindLog = (namespace: string, pod: string, container: string, previous: boolean) => LogLookup;

export interface LogOptions {
  follow: boolean;
  tailLines?: number;
  timestamps: boolean;
  /** Only lines at or after this time (ms since the epoch): sinceSeconds or sinceTime. */
  sinceMs?: number;
  limitBytes?: number;
  previous: boolean;
}

class BadRequest extends Error {}

function nonNegativeInt(q: URLSearchParams, name: string, min: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new BadRequest(`${name} must be an integer ≥ ${min}, not "${v}"`);
  return Number(v);
}

function bool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new BadRequest(`${name} must be true or false, not "${v}"`);
}

/** The query of a containerLogs request, as kube-apiserver passes the PodLogOptions. */
export function parseLogOptions(q: URLSearchParams, now = Date.now()): LogOptions {
  const sinceSeconds = nonNegativeInt(q, 'sinceSeconds', 1);
  const sinceTime = q.get('sinceTime');
  let sinceMs: number | undefined;
  if (sinceSeconds !== undefined && sinceTime) throw new BadRequest('at most one of sinceSeconds or sinceTime may be specified');
  if (sinceSeconds !== undefined) sinceMs = now - sinceSeconds * 1000;
  if (sinceTime) {
    sinceMs = Date.parse(sinceTime);
    if (Number.isNaN(sinceMs)) throw new BadRequest(`sinceTime must be an RFC 3339 time, not "${sinceTime}"`);
  }
  return {
    follow: bool(q, 'follow'),
    tailLines: nonNegativeInt(q, 'tailLines', 0),
    timestamps: bool(q, 'timestamps'),
    sinceMs,
    limitBytes: nonNegativeInt(q, 'limitBytes', 1),
    previous: bool(q, 'previous'),
  };
}

/** The lines to send first, as the kubelet picks them: the last tailLines, then those since sinceMs. */
export function selectLines(lines: LogLine[], o: LogOptions): LogLine[] {
  const tail = o.tailLines === undefined ? lines : o.tailLines === 0 ? [] : lines.slice(-o.tailLines);
  return o.sinceMs === undefined ? tail : tail.filter((l) => l.ms >= o.sinceMs!);
}

/** Writes lines, with their times when asked, within limitBytes; false once the limit is reached. */
class LogWriter {
  private sent = 0;
  constructor(private readonly res: ServerResponse, private readonly o: LogOptions) {}

  write(lines: LogLine[]): boolean {
    for (const l of lines) {
      let chunk = this.o.timestamps ? Buffer.concat([Buffer.from(`${logTimestamp(l.ms)} `), l.text]) : l.text;
      if (this.o.limitBytes !== undefined) {
        const room = this.o.limitBytes - this.sent;
        if (chunk.length > room) chunk = chunk.subarray(0, room);
      }
      if (chunk.length) this.res.write(chunk);
      this.sent += chunk.length;
      if (this.o.limitBytes !== undefined && this.sent >= this.o.limitBytes) return false;
    }
    return true;
  }
}

const FOLLOW_POLL_MS = 200;

async function serveLog(req: IncomingMessage, res: ServerResponse, file: string, running: () => boolean, o: LogOptions): Promise<void> {
  const first = readLogLines(file);
  // While following, a line still being written is sent once complete (or once the container has exited).
  let lines = first.lines;
  let offset = first.end;
  if (o.follow && lines.length && lines[lines.length - 1].text.at(-1) !== 0x0a) {
    offset = lines[lines.length - 1].offset;
    lines = lines.slice(0, -1);
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache' });
  const out = new LogWriter(res, o);
  let open = out.write(selectLines(lines, o));
  let closed = false;
  req.on('close', () => { closed = true; });
  while (open && o.follow && !closed) {
    const alive = running();
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
    let next: ReturnType<typeof readLogLines>;
    try {
      next = readLogLines(file, offset);
    } catch {
      break; // moved aside: the container was restarted
    }
    let fresh = next.lines;
    if (alive && fresh.length && fresh[fresh.length - 1].text.at(-1) !== 0x0a) fresh = fresh.slice(0, -1);
    if (fresh.length) offset = fresh[fresh.length - 1].offset + fresh[fresh.length - 1].text.length;
    open = out.write(o.sinceMs === undefined ? fresh : fresh.filter((l) => l.ms >= o.sinceMs!));
    if (!alive && offset >= next.end) break;
  }
  res.end();
}

function send(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(`${message}\n`);
}

const LOGS_PATH = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/;

export function handle(req: IncomingMessage, res: ServerResponse, findLog: FindLog): void {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return send(res, 401, `Unauthorized: a client certificate signed by the cluster CA is required (${String(socket.authorizationError ?? 'none sent')})`);
  const cn = socket.getPeerCertificate().subject?.CN;
  if (cn !== KUBELET_CLIENT_CN) return send(res, 403, `Forbidden: only ${KUBELET_CLIENT_CN} may use the kubelet API, not CN "${String(cn)}"`);
  const url = new URL(req.url ?? '/', 'https://kubelet');
  if (url.pathname === '/healthz') return send(res, 200, 'ok');
  const m = LOGS_PATH.exec(url.pathname);
  if (!m) return send(res, 404, `404 page not found: ${url.pathname}`);
  if (req.method !== 'GET') return send(res, 405, `method ${req.method} not allowed`);
  let o: LogOptions;
  try {
    o = parseLogOptions(url.searchParams);
  } catch (e) {
    if (e instanceof BadRequest) return send(res, 400, e.message);
    throw e;
  }
  const [namespace, pod, container] = m.slice(1).map(decodeURIComponent);
  const found = findLog(namespace, pod, container, o.previous);
  if ('status' in found) return send(res, found.status, found.message);
  serveLog(req, res, found.file, found.running, o).catch((e: unknown) => {
    if (!res.headersSent) send(res, 500, e instanceof Error ? e.message : String(e));
    else res.destroy();
  });
}

export interface KubeletApiOptions { address: string; port: number; cert: string; key: string; clientCa: string }

/** Listens on address:port; resolves once listening. */
export async function startKubeletApi(o: KubeletApiOptions, findLog: FindLog, log: (line: string) => void): Promise<Server> {
  const server = createServer({
    cert: readFileSync(o.cert), key: readFileSync(o.key), ca: readFileSync(o.clientCa),
    // Checked per request, so a refused client gets a status that says why rather than a failed handshake.
    requestCert: true, rejectUnauthorized: false,
  }, (req, res) => {
    try {
      handle(req, res, findLog);
    } catch (e) {
      log(`kubelet API ${req.url}: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) send(res, 500, 'internal error');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.address, () => { server.off('error', reject); resolve(); });
  });
  return server;
}
