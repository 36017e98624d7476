// The L7 access log file stays under its size limit (src/l7policy/access-log-limit.ts) while a real Envoy appends
// to it: past the limit its lines move to `<file>.1`, and Envoy goes on writing at the start of the truncated file.
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { AccessLogFileLimit } from '../src/l7policy/access-log-limit.js';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { eventually } from './helpers/net.js';
import { ingressPolicy, l7Fixture, pod } from './helpers/l7policy.js';

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

test('past its size limit the access log moves to <file>.1 and Envoy writes on at the start of the file', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${pod('client', `${net}.10`, { app: 'client' })}---\n${ingressPolicy('l7', 'server', [`fromEndpoints: [{ matchLabels: { app: client } }]\n    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }], rules: { http: [{ path: "/public.*" }] } }]`])}`);
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
