// One HTTP request from inside a network namespace (and cgroup): node probe-main.js '{"url":…,"localAddress":…}'.
// Prints one JSON line: the status, body and the peer address the socket reports, or the error.
import http from 'node:http';
import type { ProbeRequest, ProbeResult } from './probe.js';

const request = JSON.parse(process.argv[2] ?? '{}') as ProbeRequest;
const print = (r: ProbeResult): void => void process.stdout.write(JSON.stringify(r) + '\n');
const req = http.request(request.url, { method: request.method ?? 'GET', agent: false, ...(request.host ? { headers: { host: request.host } } : {}), ...(request.localAddress ? { localAddress: request.localAddress } : {}) }, (res) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => print({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), peer: res.socket?.remoteAddress ?? req.socket?.remoteAddress }));
});
// A whole-request deadline: req.setTimeout only starts once the socket is connected, and a SYN may go unanswered.
const timeoutMs = request.timeoutMs ?? 5000;
const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
req.on('close', () => clearTimeout(timer));
req.on('error', (err: NodeJS.ErrnoException) => print({ ok: false, error: err.code ? `${err.code} (${err.message})` : err.message }));
req.end();
