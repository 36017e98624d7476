// L7 policy against a real Envoy: Cilium's documented semantics, table-driven (method, path, host, headers,
// headerMatches, entities, CIDRs, deny precedence, L4-only rules making L7 rules moot, port ranges, the 403
// body), the access log, and a policy change reaching an established keep-alive connection.
import http from 'node:http';
import test from 'ava';
import { eventually, freePort } from './helpers/net.js';
import { l7Fixture, pod, request } from './helpers/l7policy.js';

const policies = (net: string, port: number): string => `
apiVersion: v1
kind: Secret
metadata: { name: token, namespace: default }
stringData: { value: from-secret }
---
${pod('client', `${net}.10`, { app: 'client' })}---
${pod('other', `${net}.11`, { app: 'other' })}---
${pod('admin', `${net}.12`, { app: 'admin' })}---
${pod('foreign', `${net}.13`, { app: 'client' }, 'prod')}---
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
        - { method: GET, path: "/public.*" }
        - { method: "POST|PUT", path: "/api/v[0-9]+/items" }
        - { host: "api\\\\.example\\\\.com", path: /host-only }
        - { path: /hdr, headers: ["X-Present", "X-Token: s3cret"] }
        - { path: /secret, headerMatches: [{ name: X-Auth, secret: { name: token } }] }
        - { path: /missing-secret, headerMatches: [{ name: X-Auth, secret: { name: nope } }] }
        - { path: /fallback, headerMatches: [{ name: X-Auth, secret: { name: nope }, value: fallback }] }
        - { path: /log, headerMatches: [{ name: X-Want, value: yes, mismatch: LOG }] }
  - fromEndpoints: [{ matchLabels: { app: other } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: /public }] }
  - fromEntities: [host]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ path: /from-host }] }
  - fromCIDRSet: [{ cidr: ${net}.128/25, except: [${net}.192/26] }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ path: /world }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: admin-l4, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: admin } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }] }]
  - fromEndpoints: [{ matchLabels: { app: admin } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ path: /only-this }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: deny-other, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingressDeny:
  - fromEndpoints: [{ matchLabels: { app: other } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }] }]
`;

interface Case {
  name: string;
  from: string;
  method?: string;
  path: string;
  headers?: Record<string, string | string[]>;
  status: number;
}

const cases = (net: string): Case[] => [
  { name: 'GET on an allowed path', from: `${net}.10`, path: '/public/a', status: 200 },
  { name: 'path regex matches the whole path', from: `${net}.10`, path: '/xpublic', status: 403 },
  { name: 'method regex: POST to /public', from: `${net}.10`, method: 'POST', path: '/public/a', status: 403 },
  { name: 'method alternation: PUT', from: `${net}.10`, method: 'PUT', path: '/api/v2/items', status: 200 },
  { name: 'method regex is whole-value: PATCH vs PUT', from: `${net}.10`, method: 'PATCH', path: '/api/v2/items', status: 403 },
  { name: 'path character class', from: `${net}.10`, method: 'POST', path: '/api/vX/items', status: 403 },
  { name: 'host regex', from: `${net}.10`, path: '/host-only', headers: { host: 'api.example.com' }, status: 200 },
  { name: 'host regex, other host', from: `${net}.10`, path: '/host-only', headers: { host: 'evil.example.com' }, status: 403 },
  { name: 'host regex is whole-value (port)', from: `${net}.10`, path: '/host-only', headers: { host: 'api.example.com:80' }, status: 403 },
  { name: 'headers: presence and exact value', from: `${net}.10`, path: '/hdr', headers: { 'x-present': '', 'x-token': 's3cret' }, status: 200 },
  { name: 'headers: wrong value', from: `${net}.10`, path: '/hdr', headers: { 'x-present': '1', 'x-token': 'nope' }, status: 403 },
  { name: 'headers: missing presence header', from: `${net}.10`, path: '/hdr', headers: { 'x-token': 's3cret' }, status: 403 },
  { name: 'headerMatches from a Secret', from: `${net}.10`, path: '/secret', headers: { 'x-auth': 'from-secret' }, status: 200 },
  { name: 'headerMatches from a Secret, wrong value', from: `${net}.10`, path: '/secret', headers: { 'x-auth': 'guess' }, status: 403 },
  { name: 'headerMatches: missing Secret fails the rule', from: `${net}.10`, path: '/missing-secret', headers: { 'x-auth': '' }, status: 403 },
  { name: 'headerMatches: missing Secret, fallback value', from: `${net}.10`, path: '/fallback', headers: { 'x-auth': 'fallback' }, status: 200 },
  { name: 'headerMatches LOG: a mismatch still matches', from: `${net}.10`, path: '/log', headers: { 'x-want': 'no' }, status: 200 },
  { name: 'deny wins over an allowing L7 rule', from: `${net}.11`, path: '/public', status: 403 },
  { name: 'L4-only rule makes L7 rules moot', from: `${net}.12`, method: 'DELETE', path: '/anything', status: 200 },
  { name: 'namespace: same labels in another namespace', from: `${net}.13`, path: '/public/a', status: 403 },
  { name: 'entity host', from: '127.0.0.1', path: '/from-host', status: 200 },
  { name: 'entity host, other path', from: '127.0.0.1', path: '/public/a', status: 403 },
  { name: 'CIDR (world)', from: `${net}.130`, path: '/world', status: 200 },
  { name: 'CIDR except', from: `${net}.200`, path: '/world', status: 403 },
  { name: 'unknown address outside every CIDR', from: `${net}.50`, path: '/world', status: 403 },
];

test('Cilium HTTP rule semantics, table-driven against Envoy', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${policies(net, port)}`);
  t.deepEqual(f.translation.problems, []);
  for (const c of cases(f.net)) {
    const r = await f.request({ from: c.from, method: c.method, path: c.path, headers: c.headers });
    t.is(r.status, c.status, `${c.name}: ${c.method ?? 'GET'} ${c.path} from ${c.from} → ${r.status} ${r.body.slice(0, 80)}`);
    if (c.status === 403) {
      t.is(r.body, 'Access denied\r\n', c.name);
      t.is(r.headers['content-type'], 'text/plain', c.name);
    } else {
      t.is((JSON.parse(r.body) as { path: string }).path, c.path, c.name);
    }
  }
  const { nacks, warming } = await f.mesh.healthy();
  t.deepEqual(nacks, []);
  t.deepEqual(warming, []);
});

test('access log: every request with source and destination identity, method, path, verdict', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${policies(net, port)}`);
  await f.request({ from: `${f.net}.10`, path: '/public/logged' });
  await f.request({ from: `${f.net}.10`, path: '/private/logged' });
  await f.request({ from: `${f.net}.11`, path: '/public' });
  // World sources, named as Cilium names them: a policy CIDR's identity by its CIDR (the most specific one, an
  // exception included), elsewhere the world (identity 2).
  await f.request({ from: `${f.net}.130`, path: '/world' });
  await f.request({ from: `${f.net}.200`, path: '/world/except' });
  await f.request({ from: `${f.net}.50`, path: '/world/outside' });
  // A quote in the path cannot end the value and add a field (JSON.parse keeps the last of two equal keys, and
  // `policy`, which names the source identity, precedes the path in the line): the path is logged as the rules saw
  // it, normalised (a quote is %22), and request values are JSON-escaped besides. (A quote in the host: 400.)
  const forged = '/public/x","policy":"1","route":"l7';
  await f.request({ from: `${f.net}.10`, path: forged });
  const table = f.translation.l7!.table;
  const identityOf = (ip: string): number => table.byIp.get(ip)!;
  const entries = await eventually(() => {
    const log = f.log();
    return log.length >= 7 ? log : undefined;
  }, 10_000, 'seven access log lines (Envoy flushes the file about once a second)');
  const find = (path: string) => entries.find((e) => e.path === path)!;
  const server = identityOf(f.server);
  t.like(find('/public/logged'), { verdict: 'FORWARDED', method: 'GET', responseCode: 200, sourceIdentity: identityOf(`${f.net}.10`), destinationIdentity: server, destinationEndpoint: 'default/server', destinationPort: f.port });
  t.like(find('/private/logged'), { verdict: 'DENIED', reason: 'denied:l7', responseCode: 403, sourceIdentity: identityOf(`${f.net}.10`), destinationIdentity: server });
  t.like(find('/public'), { verdict: 'DROPPED', reason: 'dropped:deny-rule', responseCode: 403, sourceIdentity: identityOf(`${f.net}.11`), sourceLabels: [] });
  t.like(find('/world'), { verdict: 'FORWARDED', sourceIdentity: undefined, sourceLabels: [`cidr:${f.net}.128/25`, 'reserved:world'] });
  t.like(find('/world/except'), { verdict: 'DROPPED', sourceIdentity: undefined, sourceLabels: [`cidr:${f.net}.192/26`, 'reserved:world'] });
  t.like(find('/world/outside'), { verdict: 'DROPPED', sourceIdentity: 2, sourceLabels: ['reserved:world'] });
  t.like(find(forged.replaceAll('"', '%22')), { verdict: 'FORWARDED', sourceIdentity: identityOf(`${f.net}.10`), destinationEndpoint: 'default/server', destinationIdentity: server });
});

test('a policy change reaches an established keep-alive connection without resetting it', async (t) => {
  const make = (path: string) => ({ net, port, serverPod }: { net: string; port: number; serverPod: () => string }) => `${serverPod()}---
${pod('client', `${net}.10`, { app: 'client' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: l7, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }], rules: { http: [{ path: "${path}" }] } }]
`;
  const f = await l7Fixture(t, make('/a'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await f.request({ from: `${f.net}.10`, path: '/a', agent });
  t.is(first.status, 200);
  t.is((await f.request({ from: `${f.net}.10`, path: '/b', agent })).status, 403);
  await f.apply(make('/b')({ net: f.net, port: f.port, serverPod: () => podYaml(f) }));
  const after = await f.request({ from: `${f.net}.10`, path: '/b', agent });
  t.is(after.status, 200, 'the new rule applies on the same connection');
  t.is((await f.request({ from: `${f.net}.10`, path: '/a', agent })).status, 403);
  t.is(after.localPort, first.localPort, 'the same TCP connection served every request');
});

function podYaml(f: { server: string; port: number; backend: { port: number } }): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: server
  namespace: default
  labels: { app: server }
  annotations: { weft.dev/standalone-backends: "${f.port}=127.0.0.1:${f.backend.port}" }
status: { podIP: ${f.server} }
`;
}

test('a pod label change moves its identity within one push; the connection stays', async (t) => {
  const make = (label: string) => (net: string, port: number, server: string) => `${server}---
${pod('client', `${net}.10`, { app: label })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: l7, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }], rules: { http: [{ path: "/a" }] } }]
`;
  const f = await l7Fixture(t, ({ net, port, serverPod }) => make('client')(net, port, serverPod()));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await f.request({ from: `${f.net}.10`, path: '/a', agent });
  t.is(first.status, 200);
  await f.apply(make('stranger')(f.net, f.port, podYaml(f)));
  const after = await f.request({ from: `${f.net}.10`, path: '/a', agent });
  t.is(after.status, 403, 'the pod no longer has the allowed identity');
  t.is(after.localPort, first.localPort);
});

test('L7 rules on a port range apply on every port of the range the pod declares', async (t) => {
  const second = await freePort();
  const f = await l7Fixture(t, ({ net, port, serverPod, backend }) => {
    const lo = Math.min(port, second);
    const hi = Math.max(port, second);
    return `${serverPod(`spec:
  containers:
  - name: app
    ports: [{ containerPort: ${port} }, { containerPort: ${second} }]
`).replace(`"${port}=127.0.0.1:${backend.port}"`, `"${port}=127.0.0.1:${backend.port},${second}=127.0.0.1:${backend.port}"`)}---
${pod('client', `${net}.10`, { app: 'client' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: range, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts: [{ ports: [{ port: "${lo}", endPort: ${hi}, protocol: TCP }], rules: { http: [{ method: GET, path: /ok }] } }]
`;
  });
  t.deepEqual(f.translation.problems, []);
  t.deepEqual(f.translation.l7!.listeners.map((l) => l.port).sort(), [f.port, second].sort());
  for (const p of [f.port, second]) {
    t.is((await request(f.server, p, { from: `${f.net}.10`, path: '/ok' })).status, 200, `port ${p}`);
    t.is((await request(f.server, p, { from: `${f.net}.10`, path: '/not-ok' })).status, 403, `port ${p}`);
  }
});
