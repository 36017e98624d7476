// The commands as processes: `weft flows-agent` (no datapath; directory from a manifests directory) follows a
// real Envoy's L7 access log file, `weft relay` follows it with mutual TLS and serves the service map's JSON, and
// `weft observe` prints past flows and follows new ones until interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Flow } from '../src/observe/flow.js';
import type { ServiceMap } from '../src/observe/service-map.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { addressBlock, pod, request } from './helpers/l7policy.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';
import { TrustDomain, writeTls } from './helpers/observe.js';
import { runWeft } from './helpers/weft-process.js';

const weft = path.resolve('bin', 'weft');

/** Starts a weft command; resolves once its stderr says `ready`. */
function start(t: import('ava').ExecutionContext, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(weft, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (ready.test(err)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`weft ${args[0]} exited with ${code}: ${err}`)));
  });
}

test('weft flows-agent, weft relay and weft observe as processes, with mutual TLS', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'weft-observe-cli-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const td = new TrustDomain();
  const agentTls = writeTls(root, 'agent', td.material('/weft/agent/node-1'));
  const relayTls = writeTls(root, 'relay', td.material('/weft/relay'));
  const clientTls = writeTls(root, 'client', td.material('/weft/observe'));

  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const [port, agentPort, alsPort, relayPort, uiPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const net = addressBlock();
  const yaml = `apiVersion: v1
kind: Pod
metadata: { name: api-0, namespace: shop, labels: { app: api }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" } }
status: { podIP: ${net}.2 }
---
${pod('web-0', `${net}.10`, { app: 'web' }, 'shop')}---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { clusterIP: 10.96.8.8, selector: { app: api }, ports: [{ port: 80 }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: api, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: api } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/ok.*" }] }
`;
  const manifests = path.join(root, 'manifests');
  mkdirSync(manifests);
  writeFileSync(path.join(manifests, 'shop.yaml'), yaml);

  const accessLog = path.join(root, 'l7-access.log');
  await start(t, ['flows-agent', '--node', 'node-1', '--listen', `127.0.0.1:${agentPort}`, '--access-log-listen', `127.0.0.1:${alsPort}`, '--l7-access-log', accessLog, '--tls-dir', agentTls, '--bpf-pin-root', 'none', '-c', manifests], /flows on port/);
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(() => mesh.stop());
  await mesh.start(translateYaml('shop.yaml', yaml, { l7: { accessLogPath: accessLog, accessLogForFlows: true } }).resources);
  await mesh.converged();
  await start(t, ['relay', '--agent', `127.0.0.1:${agentPort}`, '--listen', `127.0.0.1:${relayPort}`, '--ui-listen', `127.0.0.1:${uiPort}`, '--tls-dir', relayTls], /service map on/);

  const from = `${net}.10`;
  t.is((await request(`${net}.2`, port, { from, path: '/ok/1' })).status, 200);
  t.is((await request(`${net}.2`, port, { from, path: '/nope' })).status, 403);

  const observe = ['observe', '-s', `127.0.0.1:${relayPort}`, '--tls-dir', clientTls];
  const flows = await eventually(async () => {
    const r = await runWeft([...observe, '-o', 'json']);
    const got = r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Flow) : [];
    return got.length >= 2 && got;
  }, 15_000, 'two flows through the relay');
  t.like(flows.find((f) => f.http?.path === '/nope'), { node: 'node-1', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', source: { pod: 'web-0', namespace: 'shop' }, destination: { pod: 'api-0', services: ['shop/api'] }, http: { status: 403 } });
  t.like(flows.find((f) => f.http?.path === '/ok/1'), { verdict: 'FORWARDED', http: { status: 200, method: 'GET' } });

  const map = (await (await fetch(`http://127.0.0.1:${uiPort}/api/map`)).json()) as ServiceMap;
  t.like(map.edges.find((e) => e.source === 'shop/web' && e.destination === 'shop/api'), { requests: 2, denied: 1 });
  t.is((await fetch(`http://127.0.0.1:${uiPort}/api/flows?verdict=DROPPED`).then((r) => r.json() as Promise<{ flows: Flow[] }>)).flows.length, 1);

  // Follow: a new request shows up on a running `weft observe -f`, which exits 0 on SIGINT.
  const follower = spawn(weft, [...observe, '-f', '--http-path', '/ok/2', '-o', 'compact'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => follower.kill('SIGKILL'));
  let out = '';
  follower.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => follower.on('exit', (code) => resolve(code)));
  await new Promise((r) => setTimeout(r, 1500));
  t.is(out, '', 'nothing matches before the request');
  t.is((await request(`${net}.2`, port, { from, path: '/ok/2' })).status, 200);
  await eventually(() => out.includes('/ok/2'), 10_000, 'the followed flow');
  t.regex(out, /shop\/web-0:\d+ \(ID:\d+\) -> shop\/api-0:\d+ \(ID:\d+\) L7 FORWARDED HTTP HTTP\/1\.1 GET \S+\/ok\/2 200/);
  follower.kill('SIGINT');
  t.is(await exited, 0);

  // Without the client's certificate the relay refuses, and says so.
  const refused = await runWeft(['observe', '-s', `127.0.0.1:${relayPort}`]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^weft: 127\.0\.0\.1:\d+: /);
});

test('weft run --flows-listen: its flow agent follows the standalone runner\'s L7 access log, enriched from the same directory', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'weft-observe-run-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const [port, flowsPort] = [await freePort(), await freePort()];
  const net = addressBlock();
  writeFileSync(path.join(root, 'shop.yaml'), `apiVersion: v1
kind: Pod
metadata: { name: api-0, namespace: shop, labels: { app: api }, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" } }
status: { podIP: ${net}.2 }
---
${pod('web-0', `${net}.10`, { app: 'web' }, 'shop')}---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { clusterIP: 10.96.8.9, selector: { app: api }, ports: [{ port: 80 }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: api, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: api } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/ok.*" }] }
`);
  const runner = spawn(weft, ['run', '-c', root, '--admin-port', '0', '--flows-listen', `127.0.0.1:${flowsPort}`, '--node', 'laptop'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => runner.on('exit', (code) => resolve(code)));
  t.teardown(() => runner.kill('SIGKILL'));
  let out = '';
  let err = '';
  runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
  runner.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await eventually(() => out.includes('weft: ready'), 30_000, `weft run to be ready (stderr: ${err.slice(-500)})`);
  await eventually(async () => (await request(`${net}.2`, port, { from: `${net}.10`, path: '/ok/run' })).status === 200, 10_000, 'the L7 listener');
  t.is((await request(`${net}.2`, port, { from: `${net}.10`, path: '/denied' })).status, 403);
  const flows = await eventually(async () => {
    const r = await runWeft(['observe', '-s', `127.0.0.1:${flowsPort}`, '-o', 'json', '--http-path', '/denied']);
    return r.stdout.trim() && (JSON.parse(r.stdout.trim().split('\n')[0]) as Flow);
  }, 10_000, 'the denied request as a flow');
  t.like(flows, { node: 'laptop', type: 'L7', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', source: { pod: 'web-0', namespace: 'shop', labels: ['app=web'] }, destination: { pod: 'api-0', services: ['shop/api'] }, http: { method: 'GET', status: 403 } });
  runner.kill('SIGTERM');
  t.is(await exited, 0);
});
