// Pods for the mesh's TCP tunnel (HTTP/2 CONNECT inside mutual TLS): a raw TCP echo server (tcp-echo-main.ts), a raw TCP client,
// and an HBONE-style client that opens the tunnel itself (Node's http2 over TLS, a CONNECT to ip:port).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { firstJsonLine, nodeInNetns } from './mtls-nodes.js';

/** The raw TCP echo program (tcp-echo-main.ts): `<name> <peer address> <line>` for each line. */
export const TCP_ECHO_MAIN = fileURLToPath(new URL('./tcp-echo-main.js', import.meta.url));

export interface TcpExchange {
  /** The first line the server answered, undefined when none came. */
  reply?: string;
  error?: string;
}

/**
 * A raw TCP client: connects from LOCAL_ADDRESS to HOST:PORT, sends LINE (latin1, so any byte) and a newline, and
 * prints the first line of the answer, or the error or close that came instead. Without LINE it only listens (the
 * server speaks first). DELAY_MS: how long it waits before sending (past the mesh's protocol detection timeout, its
 * bytes arrive after the listener classified the connection).
 */
const TCP_CLIENT_POD = `
import net from 'node:net';
const e = process.env;
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), Number(e.TIMEOUT_MS));
const s = net.connect({ host: e.HOST, port: Number(e.PORT), localAddress: e.LOCAL_ADDRESS }, () => { if (e.LINE) setTimeout(() => s.write(e.LINE + '\\n', 'latin1'), Number(e.DELAY_MS)); });
let buf = '';
s.on('data', (d) => { buf += d.toString('latin1'); const nl = buf.indexOf('\\n'); if (nl >= 0) done({ reply: buf.slice(0, nl) }); });
s.on('error', (err) => done({ error: err.code ?? err.message }));
s.on('close', () => done({ error: 'closed' }));
`;

/**
 * An HBONE-style client: a TLS connection (ALPN h2, SNI SERVERNAME, the client certificate CERT/KEY if given) to
 * ADDRESS:PORT, a CONNECT to AUTHORITY, LINE sent through it; prints the response status and the first line back.
 */
const HBONE_CLIENT_POD = `
import http2 from 'node:http2';
const e = process.env;
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), Number(e.TIMEOUT_MS));
const client = http2.connect('https://' + e.ADDRESS + ':' + e.PORT, {
  servername: e.SERVERNAME, rejectUnauthorized: false, ALPNProtocols: ['h2'],
  ...(e.CERT ? { cert: e.CERT, key: e.KEY } : {}),
});
client.on('error', (err) => done({ error: err.code ?? err.message }));
const stream = client.request({ ':method': 'CONNECT', ':authority': e.AUTHORITY });
let status;
let buf = '';
stream.on('response', (h) => { status = h[':status']; if (status === 200) stream.write(e.LINE + '\\n'); });
stream.on('data', (d) => { buf += d.toString(); const nl = buf.indexOf('\\n'); if (status === 200 && nl >= 0) done({ status, reply: buf.slice(0, nl) }); });
stream.on('end', () => done({ status, body: buf }));
stream.on('error', (err) => done({ status, error: err.code ?? err.message }));
`;

/** Starts the raw TCP echo program in `ns` on address:port (speaking first with `greeting`); resolves once it listens. */
export function startTcpEchoPod(ns: string, name: string, address: string, port: number, greeting?: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, TCP_ECHO_MAIN, name, String(port), address, ...(greeting ? [greeting] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`tcp echo exited ${code}: ${stderr}`)));
  });
}

/** One raw TCP exchange from `ns`: `line` out (none: only listen), the first line back. */
export function tcpExchange(ns: string, o: { host: string; port: number; localAddress: string; line?: string; delayMs?: number; timeoutMs?: number }): Promise<TcpExchange> {
  const child = nodeInNetns(ns, TCP_CLIENT_POD, { HOST: o.host, PORT: String(o.port), LOCAL_ADDRESS: o.localAddress, ...(o.line ? { LINE: o.line } : {}), DELAY_MS: String(o.delayMs ?? 0), TIMEOUT_MS: String(o.timeoutMs ?? 5000) });
  return firstJsonLine<TcpExchange>(child, (o.timeoutMs ?? 5000) + 30_000);
}

export interface HboneResult extends TcpExchange {
  status?: number;
  body?: string;
}

/** Opens the tunnel directly (as another node's Envoy would) from `ns` and sends `line` through it. */
export function hboneExchange(ns: string, o: { address: string; port: number; serverName: string; authority: string; line: string; cert?: string; key?: string; timeoutMs?: number }): Promise<HboneResult> {
  const child = nodeInNetns(ns, HBONE_CLIENT_POD, {
    ADDRESS: o.address, PORT: String(o.port), SERVERNAME: o.serverName, AUTHORITY: o.authority, LINE: o.line, TIMEOUT_MS: String(o.timeoutMs ?? 5000),
    ...(o.cert ? { CERT: o.cert, KEY: o.key ?? '' } : {}),
  });
  return firstJsonLine<HboneResult>(child, (o.timeoutMs ?? 5000) + 30_000);
}
