// The L7 access log file stays under its size limit (src/l7policy/access-log-limit.ts) while a real Envoy appends
// to it: past the limit its lines move to `<file>.1`, and Envoy goes on writing at the start of the truncated file.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AccessLogFileLimit } from '../src/l7policy/access-log-limit.js';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { addressBlock, ingressPolicy, l7Fixture, pod, request } from './helpers/l7policy.js';
import { startWeftRun } from './helpers/weft-process.js';

const PUBLIC_RULE = (port: number): string => `fromEndpoints: [{ matchLabels: { app: client } }]\n    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }], rules: { http: [{ path: "/public.*" }] } }]`;

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

test('past its size limit the access log moves to <file>.1 and Envoy writes on at the start of the file', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${pod('client', `${net}.10`, { app: 'client' })}---\n${ingressPolicy('l7', 'server', [PUBLIC_RULE(port)])}`);
  const limit = new AccessLogFileLimit(f.accessLog, 1, { intervalMs: 3_600_000 });
  t.teardown(() => limit.stop());
  // Before Envoy logs anything there is no file: nothing to do.
  const absent = new AccessLogFileLimit(`${f.accessLog}.absent`, 1, { intervalMs: 3_600_000 });
  t.teardown(() => absent.stop());
  t.false(await absent.check());
  t.false(existsSync(`${f.accessLog}.absent.1`));

  for (let i = 0; i < 20; i++) t.is((await f.request({ from: `${f.net}.10`, path: `/public/${i}` })).status, 200);
  await eventually(() => f.log().length >= 20, 10_000, 'twenty access log lines (Envoy flushes the file about once a second)');
  const before = readFileSync(f.accessLog, 'utf8');
  t.true(await limit.check(), 'over the limit: rotated');
  t.is(limit.rotations, 1);
  t.deepEqual(readFileSync(`${f.accessLog}.1`, 'utf8'), before, 'the lines are in <file>.1');
  t.is(statSync(f.accessLog).size, 0, 'the file itself is empty again');
  t.false(await limit.check(), 'an empty file is under any limit');

  for (let i = 0; i < 3; i++) t.is((await f.request({ from: `${f.net}.10`, path: `/public/after-${i}` })).status, 200);
  const after = await eventually(() => {
    const text = readFileSync(f.accessLog, 'utf8');
    return lines(text).length >= 3 && text;
  }, 10_000, 'three new access log lines');
  // Envoy appends: its next lines start the file (no hole of zero bytes where the old end was), and each is whole.
  t.is(after[0], '{');
  t.true(after.length < before.length);
  t.deepEqual(lines(after).map((l) => parseL7AccessLogLine(l)?.path), ['/public/after-0', '/public/after-1', '/public/after-2']);
});

test('weft run keeps its L7 access log under --l7-access-log-max-mib', async (t) => {
  const net = addressBlock();
  const backend = await startEchoBackend('server');
  t.teardown(() => backend.close());
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-access-log-limit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'access.log');
  const yaml = `apiVersion: v1
kind: Pod
metadata: { name: server, namespace: default, labels: { app: server }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" } }
status: { podIP: ${net}.2 }
---
${pod('client', `${net}.10`, { app: 'client' })}---
${ingressPolicy('l7', 'server', [PUBLIC_RULE(port)])}`;
  // 1 KiB: a few lines.
  await startWeftRun(t, { 'policy.yaml': yaml }, ['--l7-access-log', file, '--l7-access-log-max-mib', String(1 / 1024)]);
  for (let i = 0; i < 20; i++) t.is((await request(`${net}.2`, port, { from: `${net}.10`, path: `/public/${i}` })).status, 200);
  // Envoy flushes about once a second, the limit is checked every 5 s.
  await eventually(() => existsSync(`${file}.1`), 20_000, 'the access log moved to <file>.1');
  const rotated = readFileSync(`${file}.1`, 'utf8');
  t.true(rotated.length > 1024, 'it was over the limit');
  t.true(lines(rotated).every((l) => parseL7AccessLogLine(l)?.path.startsWith('/public/')), 'whole lines of these requests');
});
