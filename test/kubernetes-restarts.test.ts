// Restarts under traffic, against the real API server: the agent, the operator, Envoy and the API server, each in
// turn. No configuration is lost and statuses don't flap; traffic never stops for an agent or operator restart (Envoy
// runs on its own, `weft envoy`, and keeps its configuration), and recovers after Envoy's own restart.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { silentLogger } from '../src/log/logger.js';
import { Operator } from '../src/kubernetes/operator.js';
import { restartComponent } from '../src/devcluster/cluster.js';
import { createNodeNetwork, deleteNodeNetwork, type NodeNetwork } from '../src/devcluster/nodes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';
import { serviceForPod, startEchoPod, type TestPod } from './helpers/pods.js';
import { get, Load } from './helpers/traffic.js';

const run = promisify(execFile);
const unavailable = devClusterUnavailable();
if (unavailable) console.log(`restart tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const NS = 'restarts';
const mainJs = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const xdsSocket = join(mkdtempSync(join(tmpdir(), 'weft-restarts-')), 'xds.sock');
let cluster: TestCluster | undefined;
let operator: Operator | undefined;
let node: NodeNetwork | undefined;
const pods: TestPod[] = [];
const children: ChildProcess[] = [];
let agent: ChildProcess | undefined;
let envoy: ChildProcess | undefined;
let objects: k8s.KubernetesObjectApi;
let gatewayIp = '';

type Obj = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** Starts `weft <args>` in the node's namespace and resolves once its stdout shows `ready`. */
async function startInNode(args: string[], readyText: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', node!.netns, process.execPath, mainJs, ...args], { stdio: ['ignore', 'pipe', process.env.WEFT_TEST_LOG ? 'inherit' : 'ignore'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`weft ${args[0]} exited with ${code}`));
    child.once('exit', onExit);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes(readyText)) {
        child.off('exit', onExit);
        resolve();
      }
    });
  });
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const startAgent = () => startInNode(['agent', '--kubeconfig', cluster!.state.kubeconfig, '--node', node!.name, '--announce-interface', 'eth0',
  '--envoy', 'external', '--xds-socket', xdsSocket], 'ready');

function startOperator(identity: string): Operator {
  const prefix = cluster!.opts.subnet.split('.').slice(0, 3).join('.');
  const op = new Operator({ kubeConfig: cluster!.kc, logger: silentLogger, identity, leaseMs: 3000, renewMs: 500, gatewayAddressPool: `${prefix}.200-${prefix}.210` });
  op.start();
  return op;
}

async function read(kind: string, name: string): Promise<Obj> {
  return objects.read<Obj>({ apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: { name, namespace: NS } });
}

async function setRouteBackend(backend: string): Promise<void> {
  for (;;) {
    const live = await read('HTTPRoute', 'web');
    live.spec!.rules = [{ backendRefs: [{ name: backend, port: 80 }] }];
    try {
      await objects.replace(live);
      return;
    } catch (err) {
      // Conflict, or an API server still starting up (503, 429): try again, as any client must.
      if (![409, 429, 503].includes((err as { code?: number }).code ?? 0)) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function servedBy(backend: string): Promise<boolean> {
  const reply = await get(8080, '/', undefined, gatewayIp).catch(() => undefined);
  return reply?.status === 200 && reply.backend === backend;
}

/** Runs `during` under steady keep-alive load and returns the failures seen. */
async function underLoad(during: () => Promise<void>): Promise<{ failures: Load['failures']; completed: number }> {
  const load = new Load({ port: 8080, host: gatewayIp, concurrency: 4, path: () => '/', pauseMs: 2 });
  await load.atLeast(50);
  await during();
  await load.atLeast(100);
  await load.stop();
  return { failures: load.failures, completed: load.completed };
}

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  gatewayIp = `${cluster.opts.subnet.split('.').slice(0, 3).join('.')}.200`;
  operator = startOperator('op-1');
  node = await createNodeNetwork(cluster.state, 1);
  pods.push(await startEchoPod(node, 0, 'blue', 3000), await startEchoPod(node, 1, 'green', 3000));
  for (const o of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
      spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    ...serviceForPod(NS, 'blue', pods[0].address),
    ...serviceForPod(NS, 'green', pods[1].address),
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: NS },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'blue', port: 80 }] }] } },
  ]) await objects.create(o);
  envoy = await startInNode(['envoy', '--node', node.name, '--xds-socket', xdsSocket], 'started');
  agent = await startAgent();
  await eventually(() => servedBy('blue'), 30_000, 'first 200 through the gateway');
});

test.after.always(async () => {
  for (const c of children) await stopChild(c);
  await operator?.stop().catch(() => undefined);
  for (const p of pods) await p.remove().catch(() => undefined);
  if (cluster && node) await deleteNodeNetwork(cluster.state, 1).catch(() => undefined);
  await cluster?.down();
});

clusterTest('restarting the agent never interrupts traffic, and the new agent picks up changes', async (t) => {
  const { failures, completed } = await underLoad(async () => {
    await stopChild(agent);
    agent = await startAgent();
  });
  t.deepEqual(failures, []);
  t.true(completed > 150);
  await setRouteBackend('green');
  await eventually(() => servedBy('green'), 20_000, 'route change after the agent restart');
  t.pass();
});

clusterTest('restarting the operator never interrupts traffic, and statuses do not flap', async (t) => {
  const before = { gateway: (await read('Gateway', 'gw')).metadata?.resourceVersion, route: (await read('HTTPRoute', 'web')).metadata?.resourceVersion };
  const { failures } = await underLoad(async () => {
    await operator!.stop();
    operator = startOperator('op-2');
    // Listen before it can lead: its first write pass may come right after it takes the lease.
    const firstPass = new Promise<void>((resolve) => operator!.once('statusesWritten', () => resolve()));
    await eventually(() => operator!.isLeader, 15_000, 'new operator leading');
    await firstPass;
  });
  t.deepEqual(failures, []);
  // The new leader found every status already right: it wrote nothing.
  t.is((await read('Gateway', 'gw')).metadata?.resourceVersion, before.gateway);
  t.is((await read('HTTPRoute', 'web')).metadata?.resourceVersion, before.route);
});

clusterTest('when Envoy dies, its supervisor restarts it and it gets its configuration back from the agent', async (t) => {
  const { stdout } = await run('pgrep', ['-P', String(envoy!.pid)]);
  const envoyPids = stdout.split('\n').filter(Boolean).map(Number);
  // `ip netns exec` execs the weft process itself, so Envoy is its direct child.
  t.true(envoyPids.length >= 1);
  for (const pid of envoyPids) process.kill(pid, 'SIGKILL');
  await eventually(async () => {
    const { stdout: now } = await run('pgrep', ['-P', String(envoy!.pid)]).catch(() => ({ stdout: '' }));
    return now.trim() !== '' && !now.split('\n').map(Number).some((p) => envoyPids.includes(p));
  }, 20_000, 'a new Envoy process');
  await eventually(() => servedBy('green'), 30_000, 'traffic back after the Envoy restart');
  const { failures } = await underLoad(() => Promise.resolve());
  t.deepEqual(failures, []);
});

clusterTest('restarting the API server never interrupts traffic; afterwards changes flow again to Envoy and statuses', async (t) => {
  const { failures } = await underLoad(async () => {
    const state = await restartComponent(cluster!.opts, 'kube-apiserver');
    cluster!.state.processes = state.processes;
    // Back once it serves the Gateway API again (/version answers before every path is installed).
    await eventually(async () => (await read('Gateway', 'gw').catch(() => undefined)) !== undefined, 60_000, 'API server back');
  });
  t.deepEqual(failures, []);
  await setRouteBackend('blue');
  await eventually(() => servedBy('blue'), 40_000, 'route change after the API server restart');
  await eventually(async () => {
    const gw = await read('Gateway', 'gw');
    gw.spec!.listeners = [{ name: 'http', protocol: 'HTTP', port: 8080 }, { name: 'extra', protocol: 'HTTP', port: 8081 }];
    return objects.replace(gw);
  }, 20_000, 'Gateway updated');
  const listeners = await eventually(async () => {
    const l = (await read('Gateway', 'gw')).status?.listeners as unknown[] | undefined;
    return l?.length === 2 ? l : undefined;
  }, 40_000, 'Gateway status after the API server restart');
  t.is(listeners.length, 2);
});
