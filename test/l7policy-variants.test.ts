// The bench variant `vhost-matcher` (bench/l7policy-variants.ts: the enforcing matcher tree as the virtual host's
// matcher, on the x-envoy-external-address header, its decisions routes) against the RBAC filter as translated,
// both in one real Envoy: the same verdict and the same `<peer>|<decision>` for listed pods (rules, a header rule,
// L4 only), an unlisted pod, a peer by CIDR and a world address, also with forged peer headers.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyVariant } from '../bench/l7policy-variants.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import type { Resource } from '../src/xds/resource.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { addressBlock, pod, request, type RequestOptions } from './helpers/l7policy.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';

function policyYaml(net: string, server: { name: string; ip: string }, port: number, backendPort: number): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${server.name}, namespace: default, labels: { app: server }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backendPort}" } }
status: { podIP: ${server.ip} }
---
${pod('client', `${net}.10`, { app: 'client' })}---
${pod('other', `${net}.11`, { app: 'other' })}---
${pod('nobody', `${net}.12`, { app: 'nobody' })}---
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
        - { method: GET, path: /hdr, headers: ["X-Token: s3cret"] }
  - fromEndpoints: [{ matchLabels: { app: other } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }] }]
  - fromCIDR: ["${net}.128/25"]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: /cidr }] }
`;
}

/** The peer and decision a request was logged with: the RBAC filter's in `policy`, the route table's in the route name (`destination`). */
function decisions(file: string, field: 'policy' | 'destination'): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => String((JSON.parse(l) as Record<string, unknown>)[field]).split(' ')[0]);
}

test('vhost-matcher: Envoy accepts the matcher on the peer header and decides as the RBAC filter, CIDR peers included', async (t) => {
  const backend = await startEchoBackend('app');
  const port = await freePort();
  const net = addressBlock();
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-l7-variants-'));
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(async () => {
    await mesh.stop();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sides = [
    { variant: 'full', server: { name: 'server-rbac', ip: `${net}.2` }, log: path.join(dir, 'rbac.log'), field: 'policy' as const },
    { variant: 'vhost-matcher', server: { name: 'server-vhost', ip: `${net}.3` }, log: path.join(dir, 'vhost.log'), field: 'destination' as const },
  ];
  const resources: Resource[] = [];
  for (const s of sides) {
    const translation = translateYaml('policy.yaml', policyYaml(net, s.server, port, backend.port), { l7: { accessLogPath: s.log, hostIps: [] } });
    t.deepEqual(translation.problems, []);
    resources.push(...applyVariant(translation.resources, s.variant));
  }
  await mesh.start(resources);
  await mesh.converged().catch((err: unknown) => {
    throw new Error(`${String(err)}; NACKs: ${mesh.nacks.map((n) => n.errorMessage).join(' | ')}`);
  });

  const client = `${net}.10`;
  const nobody = `${net}.12`;
  const cidr = `${net}.200`;
  const cases: Array<RequestOptions & { status: number }> = [
    { from: client, path: '/public/a', status: 200 },
    { from: client, path: '/private', status: 403 },
    { from: client, method: 'POST', path: '/public/a', status: 403 },
    { from: client, path: '/hdr', headers: { 'x-token': 's3cret' }, status: 200 },
    { from: client, path: '/hdr', status: 403 },
    { from: client, path: '/cidr', headers: { 'x-envoy-external-address': cidr }, status: 403 },
    { from: `${net}.11`, path: '/anything', status: 200 },
    { from: nobody, path: '/public/a', status: 403 },
    { from: nobody, path: '/public/a', headers: { 'x-envoy-external-address': client }, status: 403 },
    { from: nobody, path: '/public/a', headers: { 'x-forwarded-for': client }, status: 403 },
    { from: cidr, path: '/cidr', status: 200 },
    { from: cidr, path: '/public/a', status: 403 },
    { from: cidr, path: '/public/a', headers: { 'x-envoy-external-address': client }, status: 403 },
    { from: `${net}.50`, path: '/cidr', status: 403 },
  ];
  for (const c of cases) {
    for (const s of sides) {
      const reply = await request(s.server.ip, port, c);
      t.is(reply.status, c.status, `${s.variant}: ${c.method ?? 'GET'} ${c.path} from ${c.from} ${JSON.stringify(c.headers ?? {})}: ${reply.body.slice(0, 100)}`);
      if (reply.status === 403) t.is(reply.body, 'Access denied\r\n');
    }
  }
  // Every request logged on both sides, each with the same peer and decision (`<peer>|<decision>`).
  const [rbac, vhost] = await eventually(() => {
    const logged = sides.map((s) => decisions(s.log, s.field));
    return logged.every((l) => l.length === cases.length) && logged;
  }, 15_000, 'both access logs to have every request');
  t.deepEqual(vhost, rbac);
  t.true(rbac.every((d) => d.includes('|')), rbac.join(', '));
  t.true(rbac.some((d) => d.startsWith(`cidr:${net}.128/25|allowed`)), rbac.join(', '));
  t.true(rbac.some((d) => d === 'unlisted|dropped:default-deny'), rbac.join(', '));
});
