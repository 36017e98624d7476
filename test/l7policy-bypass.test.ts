// Attempts to get past an L7 rule, each its own regression test, against a real Envoy: the client pod may
// only GET /public..., GET /exact and POST /upload; everything else must be refused (403, or rejected as
// malformed by Envoy), and the application must never see the refused request.
import type { ExecutionContext } from 'ava';
import anyTest, { type TestFn } from 'ava';
import { l7Fixture, pod, type L7Fixture } from './helpers/l7policy.js';
import { eventually } from './helpers/net.js';

const base = anyTest as TestFn<{ f: L7Fixture; teardowns: Array<() => Promise<void> | void> }>;
// Serial: every test checks that the shared application saw nothing.
const test = base.serial;

base.before(async (t) => {
  const teardowns: Array<() => Promise<void> | void> = [];
  const ctx = { teardown: (fn: () => Promise<void> | void) => teardowns.push(fn) } as unknown as ExecutionContext;
  t.context.teardowns = teardowns;
  t.context.f = await l7Fixture(ctx, ({ net, port, serverPod }) => `${serverPod()}---
${pod('client', `${net}.10`, { app: 'client' })}---
${pod('other', `${net}.11`, { app: 'other' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: l7, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules:
        http:
        - { method: GET, path: "/public(/.*)?" }
        - { method: GET, path: /exact }
        - { method: POST, path: /upload }
        - { method: GET, path: /hdr, headers: ["X-Token: s3cret"] }
`);
});

base.after.always(async (t) => {
  for (const fn of t.context.teardowns.reverse()) await fn();
});

const client = (f: L7Fixture): string => `${f.net}.10`;

async function refused(t: ExecutionContext<{ f: L7Fixture }>, method: string, path: string, headers: Record<string, string | string[]> = {}, from = client(t.context.f)): Promise<void> {
  const f = t.context.f;
  const before = f.backend.requests;
  const r = await f.request({ from, method, path, headers });
  t.true(r.status === 403 || r.status === 400 || r.status === 404 || r.status === 431, `${method} ${path}: ${r.status} ${r.body.slice(0, 100)}`);
  if (r.status === 403) t.is(r.body, 'Access denied\r\n');
  t.is(f.backend.requests, before, `${method} ${path} must not reach the application`);
}

async function allowedAs(t: ExecutionContext<{ f: L7Fixture }>, path: string, seen: string, headers: Record<string, string | string[]> = {}): Promise<void> {
  const r = await t.context.f.request({ from: client(t.context.f), path, headers });
  t.is(r.status, 200, `${path}: ${r.body.slice(0, 100)}`);
  t.is((JSON.parse(r.body) as { path: string }).path, seen, 'the application sees the path the policy checked');
}

test('baseline: the allowed requests pass', async (t) => {
  await allowedAs(t, '/public/a', '/public/a');
  await allowedAs(t, '/exact', '/exact');
  await refused(t, 'GET', '/private');
});

test('path traversal: /public/../private', async (t) => refused(t, 'GET', '/public/../private'));
test('path traversal, percent-encoded dots: /public/%2e%2e/private and %2E%2E', async (t) => {
  await refused(t, 'GET', '/public/%2e%2e/private');
  await refused(t, 'GET', '/public/%2E%2E/private');
  await refused(t, 'GET', '/public/.%2e/private');
});
test('double slashes: //private is /private; //public/a is /public/a', async (t) => {
  await refused(t, 'GET', '//private');
  await allowedAs(t, '//public//a', '/public/a');
});
test('percent-encoded slashes and backslashes are decoded before the rules (and forwarded decoded)', async (t) => {
  await refused(t, 'GET', '/public%2F..%2Fprivate');
  await refused(t, 'GET', '/public%2f..%2fprivate');
  await refused(t, 'GET', '/public%5C..%5Cprivate');
  await allowedAs(t, '/public%2Fa', '/public/a');
});
test('path parameters and query strings are part of the path rules see (Cilium matches :path whole)', async (t) => {
  await refused(t, 'GET', '/exact;jsessionid=1');
  await refused(t, 'GET', '/exact?x=1');
  await refused(t, 'GET', '/private;/public');
  await refused(t, 'GET', '/private?/public/a');
  await refused(t, 'GET', '/private#/public/a');
});
test('method case and unknown methods (methods are case-sensitive: get is not GET)', async (t) => {
  const f = t.context.f;
  const before = f.backend.requests;
  for (const method of ['get', 'Get', 'PROPFIND', 'FOO', 'HEAD']) {
    const reply = await f.raw(client(f), `${method} /exact HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.regex(reply, /^HTTP\/1\.1 (403|400)/, method);
  }
  t.is(f.backend.requests, before);
});
test('duplicate and oversized headers', async (t) => {
  await refused(t, 'GET', '/hdr', { 'x-token': ['s3cret', 's3cret'] });
  await refused(t, 'GET', '/hdr', { 'x-token': ['nope', 's3cret'] });
  await refused(t, 'GET', '/hdr', { 'x-token': 's3cret', 'x-pad': 'a'.repeat(100 * 1024) });
  const r = await t.context.f.request({ from: client(t.context.f), path: '/hdr', headers: { 'x-token': 's3cret' } });
  t.is(r.status, 200);
});
test('X-Forwarded-For, X-Real-IP, Forwarded and x-envoy-external-address never change the source identity', async (t) => {
  const f = t.context.f;
  const other = `${f.net}.11`;
  // x-envoy-external-address: the header the route table reads the peer from (envoy.ts routeDecisions); Envoy
  // replaces the client's with the connection's address.
  const spoofs: Array<Record<string, string>> = [{ 'x-forwarded-for': client(f) }, { 'x-real-ip': client(f) }, { forwarded: `for=${client(f)}` }, { 'x-forwarded-for': `${client(f)}, ${client(f)}` }, { 'x-envoy-external-address': client(f) }];
  for (const headers of spoofs) {
    await refused(t, 'GET', '/public/a', headers, other);
  }
  // As Cilium's node proxy (skip_xff_append), a transparent proxy does not add itself to X-Forwarded-For: the
  // client's header reaches the application unchanged, while the verdict (allowed for the client, refused for the
  // other pod above whatever it claims) and the logged source follow the connection's address only.
  const path = '/public/xff-from-client';
  const r = await f.request({ from: client(f), path, headers: { 'x-forwarded-for': `${other}, 10.9.9.9` } });
  t.is(r.status, 200);
  t.is((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-for'], `${other}, 10.9.9.9`);
  const entry = await eventually(() => f.log().find((e) => e.path === path), 10_000, 'the access log line (Envoy flushes the file about once a second)');
  t.like(entry, { sourceIdentity: f.translation.l7!.table.byIp.get(client(f)), verdict: 'FORWARDED' });
  t.is(entry.sourceAddress.replace(/:\d+$/, ''), client(f));
});
test("headers Envoy acts on or vouches for never come from the client: x-envoy-* stripped, no x-envoy-external-address, the connection's x-forwarded-proto", async (t) => {
  const f = t.context.f;
  // Every peer is external to the policy listeners (use_remote_address without internal_address_config): Envoy
  // strips the client's x-envoy-* control headers (the router would honour x-envoy-retry-on even without a retry
  // policy) and overwrites x-forwarded-proto; the routes remove x-envoy-external-address, whether Envoy added
  // it (the peer's address) or the client sent one.
  const forged = { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '5', 'x-envoy-upstream-alt-stat-name': 'forged', 'x-envoy-upstream-rq-timeout-ms': '1', 'x-envoy-internal': 'true', 'x-envoy-external-address': '10.9.9.9', 'x-forwarded-proto': 'https' };
  const r = await f.request({ from: client(f), path: '/public/forged-envoy-headers', headers: forged });
  t.is(r.status, 200);
  const seen = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
  t.deepEqual(Object.keys(seen).filter((h) => h.startsWith('x-envoy-')), [], JSON.stringify(seen));
  t.is(seen['x-forwarded-proto'], 'http');
  // Without a forged one, nothing adds it either.
  const plain = await f.request({ from: client(f), path: '/public/plain' });
  t.false('x-envoy-external-address' in (JSON.parse(plain.body) as { headers: Record<string, string> }).headers);
});
test('request smuggling: Transfer-Encoding with Content-Length is rejected, nothing reaches the application', async (t) => {
  const f = t.context.f;
  const before = f.backend.requests;
  const smuggled = 'GET /private HTTP/1.1\r\nHost: x\r\n\r\n';
  const attempts = [
    `GET /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    `GET /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: ${smuggled.length + 5}\r\n\r\n0\r\n\r\n${smuggled}`,
    `GET /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    `GET /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
  ];
  for (const bytes of attempts) {
    const reply = await f.raw(client(f), bytes);
    t.regex(reply, /^HTTP\/1\.1 (400|501)/, JSON.stringify(bytes.slice(0, 80)));
    t.notRegex(reply, /"path":"\/private"/);
  }
  t.is(f.backend.requests, before, 'no attempt reached the application');
  // The same pipelined without a body: the second request is judged on its own.
  const pipelined = await f.raw(client(f), `GET /public/a HTTP/1.1\r\nHost: x\r\n\r\n${smuggled}`);
  t.regex(pipelined, /^HTTP\/1\.1 200/);
  t.regex(pipelined, /HTTP\/1\.1 403[\s\S]*Access denied/);
});
test('absolute-form request targets are judged by their path', async (t) => {
  const f = t.context.f;
  const reply = await f.raw(client(f), 'GET http://evil.example/private HTTP/1.1\r\nHost: evil.example\r\n\r\n');
  t.regex(reply, /^HTTP\/1\.1 (403|400)/);
});
test('HTTP/2 (h2c, prior knowledge) is under the same rules', async (t) => {
  const f = t.context.f;
  t.is((await f.h2(client(f), '/public/a')).status, 200);
  const denied = await f.h2(client(f), '/private');
  t.is(denied.status, 403);
  t.is(denied.body, 'Access denied\r\n');
  t.is((await f.h2(`${f.net}.11`, '/public/a')).status, 403);
});
test('Upgrade requests (WebSocket, h2c) are judged before anything is upgraded', async (t) => {
  const f = t.context.f;
  const before = f.backend.requests;
  for (const upgrade of ['websocket', 'h2c']) {
    const reply = await f.raw(client(f), `GET /private HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${upgrade}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    t.regex(reply, /^HTTP\/1\.1 403/, upgrade);
  }
  t.is(f.backend.requests, before);
});
