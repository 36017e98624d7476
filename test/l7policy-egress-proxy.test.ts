// Standalone mode's egress proxy against a real Envoy: a client's egress HTTP rules apply to destinations Weft does
// not serve (a pod without a listener, an address of the world inside a toCIDR), by the destination the request
// names; the destination sees the client's own address; other clients have no way in; a forged destination header
// changes nothing.
import test from 'ava';
import { ACCESS_DENIED_BODY } from '../src/l7policy/envoy.js';
import { EGRESS_PROXY_LISTENER } from '../src/l7policy/egress-proxy.js';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEchoBackend, type EchoReply } from './helpers/echo-backend.js';
import { addressBlock, pod, request } from './helpers/l7policy.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';
import { startWeftRun } from './helpers/weft-process.js';

test('standalone egress proxy: a client\'s egress HTTP rules apply to a pod without a listener, to a world address inside its toCIDR and to the world entity', async (t) => {
  const net = addressBlock();
  const [client, other, webIp, worldIp, outside] = [`${net}.10`, `${net}.11`, `${net}.3`, `${net}.50`, `${net}.100`];
  // The destinations' own servers, on their own addresses: Weft has no listener in front of them.
  const web = await startEchoBackend('web', webIp);
  const world = await startEchoBackend('world', worldIp);
  const entity = await startEchoBackend('entity', `${net}.60`);
  const proxy = { address: '127.0.0.1', port: await freePort() };
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-egress-proxy-'));
  const accessLog = path.join(dir, 'access.log');
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(async () => {
    await mesh.stop();
    await Promise.all([web.close(), world.close(), entity.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  const yaml = `${pod('client', client, { app: 'client' })}---
${pod('other', other, { app: 'other' })}---
${pod('web', webIp, { app: 'web' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-egress, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "${web.port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/allowed.*" }] }
  - toCIDR: [${net}.48/28]
    toPorts:
    - ports: [{ port: "${world.port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/world.*" }] }
  - toEntities: [world]
    toPorts:
    - ports: [{ port: "${entity.port}", protocol: TCP }]
      rules: { http: [{ path: "/entity.*" }] }
`;
  const translation = translateYaml('policy.yaml', yaml, { l7: { accessLogPath: accessLog, egressProxy: proxy } });
  t.deepEqual(translation.problems, []);
  t.deepEqual(translation.l7!.listeners, [], 'no destination has a listener of its own');
  t.true(translation.resources.some((r) => r.name === EGRESS_PROXY_LISTENER));
  await mesh.start(translation.resources);
  await mesh.converged();

  const via = (from: string, to: string, port: number, p: string, headers: Record<string, string> = {}) => request(proxy.address, proxy.port, { from, path: `http://${to}:${port}${p}`, headers: { host: `${to}:${port}`, ...headers } });
  const allowed = await via(client, webIp, web.port, '/allowed');
  t.is(allowed.status, 200, allowed.body);
  t.like(JSON.parse(allowed.body) as EchoReply, { backend: 'web', path: '/allowed', peer: client }, 'the pod sees the client\'s own address');
  const refused = await via(client, webIp, web.port, '/other');
  t.is(refused.status, 403);
  t.is(refused.body, ACCESS_DENIED_BODY);
  t.is((await via(client, webIp, web.port, '/allowed/../other')).status, 403, 'normalised before the rules see it');
  t.is(web.requests, 1, 'the pod saw only the allowed request');

  const toWorld = await via(client, worldIp, world.port, '/world/x');
  t.is(toWorld.status, 200, toWorld.body);
  t.like(JSON.parse(toWorld.body) as EchoReply, { backend: 'world', path: '/world/x', peer: client });
  t.is((await via(client, worldIp, world.port, '/other')).status, 403, 'the CIDR rule\'s HTTP rule');
  t.is((await via(client, outside, world.port, '/world/x')).status, 403, 'an address outside the CIDR: the client\'s egress is default-deny there');
  // The destination is the one the request names, never a header the client sends.
  const forged = await via(client, outside, world.port, '/world/x', { 'x-weft-egress-destination': worldIp });
  t.is(forged.status, 403, 'a forged destination header changes nothing');
  t.is((await via(client, 'world.example', world.port, '/world/x')).status, 403, 'a destination that is no IP address matches no peer');
  t.is(world.requests, 1, 'the world server saw only the allowed request');
  t.is((JSON.parse(toWorld.body) as EchoReply).headers['x-weft-egress-destination'], undefined, 'the proxy\'s header does not leave it');

  t.is((await via(client, `${net}.60`, entity.port, '/entity')).status, 200, 'toEntities: [world]');
  t.is((await via(client, `${net}.60`, entity.port, '/other')).status, 403);
  t.is((await via(client, webIp, entity.port, '/entity')).status, 403, 'a pod is not the world');
  t.is(entity.requests, 1);

  // A pod without egress rules has no way through the proxy (no filter chain: the connection is closed).
  await t.throwsAsync(via(other, worldIp, world.port, '/world/x'));

  const readLog = () => {
    try {
      return readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!);
    } catch {
      return [];
    }
  };
  const log = await eventually(() => (readLog().length >= 11 ? readLog() : undefined), 10_000, 'the proxy\'s access log lines');
  t.like(log.find((e) => e.path === '/other' && e.destinationAddress === webIp), { direction: 'egress', verdict: 'DENIED', reason: 'egress:denied:l7', responseCode: 403 });
  t.like(log.find((e) => e.path === '/world/x' && e.destinationAddress === worldIp), { direction: 'egress', verdict: 'FORWARDED', responseCode: 200 });
  t.like(log.find((e) => e.path === '/world/x' && e.destinationAddress === outside), { verdict: 'DROPPED', reason: 'egress:dropped:default-deny' });
  t.deepEqual(mesh.nacks, []);
});

test('weft run serves the egress proxy on --l7-egress-proxy-port', async (t) => {
  const net = addressBlock();
  const client = `${net}.10`;
  const world = await startEchoBackend('world', `${net}.50`);
  t.teardown(() => world.close());
  const port = await freePort();
  const yaml = `${pod('client', client, { app: 'client' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-egress, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toCIDR: [${net}.48/28]
    toPorts:
    - ports: [{ port: "${world.port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/world.*" }] }
`;
  await startWeftRun(t, { 'policy.yaml': yaml }, ['--l7-egress-proxy-port', String(port)]);
  const via = (p: string) => request('127.0.0.1', port, { from: client, path: `http://${net}.50:${world.port}${p}`, headers: { host: `${net}.50:${world.port}` } });
  t.is((await via('/world/x')).status, 200);
  const refused = await via('/other');
  t.is(refused.status, 403);
  t.is(refused.body, ACCESS_DENIED_BODY);
  t.is(world.requests, 1);
});
