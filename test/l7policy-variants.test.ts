// The two ways Weft enforces a port's rules in its chain (EnvoyL7Options.enforcement), both in one real Envoy: the
// route table (the default: the virtual host's matcher on x-envoy-external-address, its decisions routes) and the
// RBAC filter. The same verdict and the same logged peer and decision for listed pods (rules, a header rule, L4
// only), an unlisted pod, a peer by CIDR and a world address, also with forged peer headers.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import type { Resource } from '../src/xds/resource.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { addressBlock, ingressPolicy, pod, request, type RequestOptions } from './helpers/l7policy.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';

function policyYaml(net: string, server: { name: string; ip: string }, port: number, backendPort: number): string {
  const ports = `[{ port: "${port}", protocol: TCP }]`;
  return `apiVersion: v1
kind: Pod
metadata: { name: ${server.name}, namespace: default, labels: { app: server }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backendPort}" } }
status: { podIP: ${server.ip} }
---
${pod('client', `${net}.10`, { app: 'client' })}---
${pod('other', `${net}.11`, { app: 'other' })}---
${pod('nobody', `${net}.12`, { app: 'nobody' })}---
${ingressPolicy('l7', 'server', [
  `{ fromEndpoints: [{ matchLabels: { app: client } }], toPorts: [{ ports: ${ports}, rules: { http: [{ method: GET, path: "/public(/.*)?" }, { method: GET, path: /hdr, headers: ["X-Token: s3cret"] }] } }] }`,
  `{ fromEndpoints: [{ matchLabels: { app: other } }], toPorts: [{ ports: ${ports} }] }`,
  `{ fromCIDR: ["${net}.128/25"], toPorts: [{ ports: ${ports}, rules: { http: [{ method: GET, path: /cidr }] } }] }`,
])}`;
}

/** What the access log says of each request, without the destination's name (each side has its own server pod). */
function logged(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const e = parseL7AccessLogLine(l)!;
      return JSON.stringify([e.path, e.sourceAddress.replace(/:\d+$/, ''), e.sourceIdentity, e.sourceLabels, e.destinationPort, e.verdict, e.reason, e.responseCode]);
    });
}

test('the route table decides as the RBAC filter and logs the same, CIDR peers and forged peer headers included', async (t) => {
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
    { enforcement: 'rbac' as const, server: { name: 'server-rbac', ip: `${net}.2` }, log: path.join(dir, 'rbac.log') },
    { enforcement: 'route' as const, server: { name: 'server-route', ip: `${net}.3` }, log: path.join(dir, 'route.log') },
  ];
  const resources: Resource[] = [];
  for (const s of sides) {
    const translation = translateYaml('policy.yaml', policyYaml(net, s.server, port, backend.port), { l7: { accessLogPath: s.log, hostIps: [], enforcement: s.enforcement } });
    t.deepEqual(translation.problems, []);
    const routes = translation.resources.find((r) => r.typeUrl.endsWith('RouteConfiguration') && r.name.startsWith('l7/'));
    // The decisions are routes (a virtual host matcher's actions) on one side, RBAC actions on the other.
    const body = Buffer.from(routes!.body);
    t.is(body.includes('type.googleapis.com/envoy.config.route.v3.Route'), s.enforcement === 'route', s.enforcement);
    t.is(body.includes('type.googleapis.com/envoy.config.rbac.v3.Action'), s.enforcement === 'rbac', s.enforcement);
    resources.push(...translation.resources);
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
      t.is(reply.status, c.status, `${s.enforcement}: ${c.method ?? 'GET'} ${c.path} from ${c.from} ${JSON.stringify(c.headers ?? {})}: ${reply.body.slice(0, 100)}`);
      if (reply.status === 403) t.is(reply.body, 'Access denied\r\n');
    }
  }
  // Every request logged on both sides, each with the same peer, decision and verdict.
  const [rbac, route] = await eventually(() => {
    const lines = sides.map((s) => logged(s.log));
    return lines.every((l) => l.length === cases.length) && lines;
  }, 15_000, 'both access logs to have every request');
  t.deepEqual(route, rbac);
  const all = rbac.join('\n');
  t.true(all.includes(`"cidr:${net}.128/25","reserved:world"]`), all);
  t.true(all.includes('"DROPPED","dropped:default-deny"'), all);
  t.true(all.includes('"DENIED","denied:l7"'), all);
  t.true(all.includes('"FORWARDED","via_upstream"'), all);
});
