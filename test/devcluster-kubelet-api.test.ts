// The dev kubelet's API (port 10250 in a cluster; here on loopback): container logs with the options kube-apiserver
// passes for pods/log, and only the API server's client certificate (signed by the cluster CA) let in.
import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterPki, createKubeletServingCert, type ClusterPki } from '../src/devcluster/pki.js';
import { parseLogOptions, startKubeletApi, type LogLookup } from '../src/devcluster/kubelet/api.js';
import { indexOf, LogIndexer, logTimestamp, previousLogOf, readLogLines } from '../src/devcluster/kubelet/log-files.js';

test('readLogLines gives each line the time of the first index entry covering it; unindexed bytes get now', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-logs-'));
  const file = join(dir, 'a.log');
  writeFileSync(file, 'one\ntwo\nthree\npartial');
  writeFileSync(indexOf(file), '4 1000\n14 2000\n');
  const { lines, end } = readLogLines(file, 0, 9000);
  t.deepEqual(lines.map((l) => [l.text.toString(), l.offset, l.ms]), [['one\n', 0, 1000], ['two\n', 4, 2000], ['three\n', 8, 2000], ['partial', 14, 9000]]);
  t.is(end, 21);
  t.deepEqual(readLogLines(file, 8, 9000).lines.map((l) => l.text.toString()), ['three\n', 'partial']);
  t.is(logTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000000Z');
});

test('the indexer records growth at the file\'s mtime, and rotate moves a log and its index aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-logs-'));
  const file = join(dir, 'p_c.log');
  writeFileSync(file, 'before start\n');
  const errors: string[] = [];
  const indexer = new LogIndexer(dir, (m) => errors.push(m));
  indexer.start(['p_c.log']);
  t.regex(readFileSync(indexOf(file), 'utf8'), /^13 \d+\n$/);
  appendFileSync(file, 'later\n');
  for (let i = 0; i < 100 && !readFileSync(indexOf(file), 'utf8').includes('\n19 '); i++) await new Promise((r) => setTimeout(r, 20));
  t.regex(readFileSync(indexOf(file), 'utf8'), /\n19 \d+\n$/);
  indexer.rotate(file);
  t.is(readFileSync(previousLogOf(file), 'utf8'), 'before start\nlater\n');
  t.regex(readFileSync(indexOf(previousLogOf(file)), 'utf8'), /^13 \d+\n19 \d+\n$/);
  indexer.stop();
  t.deepEqual(errors, []);
});

test('parseLogOptions reads the PodLogOptions query and names a bad field', (t) => {
  const q = (s: string) => parseLogOptions(new URLSearchParams(s), 100_000);
  t.deepEqual(q('follow=true&tailLines=3&timestamps=true&sinceSeconds=10&limitBytes=5&previous=false'),
    { follow: true, tailLines: 3, timestamps: true, sinceMs: 90_000, limitBytes: 5, previous: false });
  t.is(q('sinceTime=2026-01-02T03:04:05Z').sinceMs, Date.UTC(2026, 0, 2, 3, 4, 5));
  t.throws(() => q('tailLines=-1'), { message: /tailLines must be an integer/ });
  t.throws(() => q('sinceTime=yesterday'), { message: /sinceTime must be an RFC 3339 time/ });
  t.throws(() => q('sinceSeconds=1&sinceTime=2026-01-02T03:04:05Z'), { message: /at most one of sinceSeconds or sinceTime/ });
  t.throws(() => q('follow=maybe'), { message: /follow must be true or false/ });
});

interface Api { pki: ClusterPki; port: number; dir: string; running: { value: boolean }; close(): void }

async function startApi(t: { teardown(fn: () => void): void }): Promise<Api> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-kubelet-api-'));
  const pki = await createClusterPki(join(dir, 'pki'), ['127.0.0.1']);
  const serving = await createKubeletServingCert(join(dir, 'pki'), 'node-1', '127.0.0.1');
  const file = join(dir, 'default_web_uid_c.log');
  writeFileSync(file, 'line 1\nline 2\nline 3\n');
  writeFileSync(indexOf(file), `7 ${Date.parse('2026-01-01T00:00:01Z')}\n21 ${Date.parse('2026-01-01T00:00:03Z')}\n`);
  writeFileSync(previousLogOf(file), 'crashed\n');
  const running = { value: true };
  const find = (ns: string, pod: string, container: string, previous: boolean): LogLookup => {
    if (ns !== 'default' || pod !== 'web' || container !== 'c') return { status: 404, message: `no ${ns}/${pod}/${container}` };
    return { file: previous ? previousLogOf(file) : file, running: () => running.value && !previous };
  };
  const server = await startKubeletApi({ address: '127.0.0.1', port: 0, cert: serving.cert, key: serving.key, clientCa: pki.caCert }, find, () => undefined);
  const api = { pki, port: (server.address() as AddressInfo).port, dir, running, close: () => { server.close(); server.closeAllConnections(); } };
  t.teardown(api.close);
  return api;
}

function get(api: Api, path: string, client: 'apiserver' | 'none' | 'other-ca' = 'apiserver', onData?: (chunk: string) => void): Promise<{ status: number; body: string }> {
  const certs = client === 'apiserver' ? { cert: readFileSync(api.pki.kubeletClientCert), key: readFileSync(api.pki.kubeletClientKey) }
    : client === 'other-ca' ? { cert: readFileSync(join(api.dir, 'other', 'apiserver-kubelet-client.crt')), key: readFileSync(join(api.dir, 'other', 'apiserver-kubelet-client.key')) }
    : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, path, ca: readFileSync(api.pki.caCert), servername: undefined, ...certs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; onData?.(c); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('containerLogs serves a container\'s log with tailLines, timestamps, sinceTime, limitBytes and previous', async (t) => {
  const api = await startApi(t);
  const logs = '/containerLogs/default/web/c';
  t.deepEqual(await get(api, logs), { status: 200, body: 'line 1\nline 2\nline 3\n' });
  t.is((await get(api, `${logs}?tailLines=2`)).body, 'line 2\nline 3\n');
  t.is((await get(api, `${logs}?tailLines=0`)).body, '');
  t.is((await get(api, `${logs}?tailLines=1&timestamps=true`)).body, '2026-01-01T00:00:03.000000000Z line 3\n');
  t.is((await get(api, `${logs}?sinceTime=2026-01-01T00:00:02Z`)).body, 'line 2\nline 3\n');
  t.is((await get(api, `${logs}?limitBytes=10`)).body, 'line 1\nlin');
  t.is((await get(api, `${logs}?previous=true`)).body, 'crashed\n');
  t.like(await get(api, `${logs}?tailLines=x`), { status: 400, body: 'tailLines must be an integer ≥ 0, not "x"\n' });
  t.like(await get(api, '/containerLogs/default/web/other'), { status: 404, body: 'no default/web/other\n' });
  t.like(await get(api, '/exec/default/web/c'), { status: 404 });
  t.deepEqual(await get(api, '/healthz'), { status: 200, body: 'ok\n' });
});

test('follow streams lines as they are written and ends once the container has exited', async (t) => {
  const api = await startApi(t);
  const file = join(api.dir, 'default_web_uid_c.log');
  let appended = false;
  const done = get(api, '/containerLogs/default/web/c?follow=true&tailLines=1', 'apiserver', (chunk) => {
    if (appended || !chunk.includes('line 3')) return;
    appended = true;
    appendFileSync(file, 'line 4\nhalf');
    setTimeout(() => { appendFileSync(file, ' a line\n'); api.running.value = false; }, 500);
  });
  const { status, body } = await done;
  t.is(status, 200);
  t.is(body, 'line 3\nline 4\nhalf a line\n');
});

test('only the API server\'s client certificate, signed by the cluster CA, is let in', async (t) => {
  const api = await startApi(t);
  const none = await get(api, '/containerLogs/default/web/c', 'none');
  t.is(none.status, 401);
  t.regex(none.body, /client certificate signed by the cluster CA is required/);
  // The same CN from another CA: refused.
  await createClusterPki(join(api.dir, 'other'), ['127.0.0.1']);
  const foreign = await get(api, '/containerLogs/default/web/c', 'other-ca');
  t.is(foreign.status, 401);
  t.notRegex(foreign.body, /line 1/);
});
