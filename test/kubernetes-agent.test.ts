// Weft on Kubernetes end to end, against the real API server: the operator assigns the Gateway an address and
// writes statuses; the node agent (a separate process in the node's network namespace) serves the translation to
// its Envoy and announces the address; traffic from the host reaches the backend pods, and follows route changes.
import test from 'ava';
import { get } from './helpers/traffic.js';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { silentLogger } from '../src/log/logger.js';
import { Operator } from '../src/kubernetes/operator.js';
import { KubernetesSource } from '../src/kubernetes/source.js';
import { POD_KIND, TRANSLATED_KINDS } from '../src/kubernetes/watched-kinds.js';
import type { Manifest } from '../src/sources/manifests.js';
import { ipIn } from '../src/devcluster/netns.js';
import { createNodeNetwork, deleteNodeNetwork, type NodeNetwork } from '../src/devcluster/nodes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { eventually } from './helpers/net.js';
import { serviceForPod, startEchoPod, type TestPod } from './helpers/pods.js';

const unavailable = devClusterUnavailable();
if (unavailable) console.log(`agent tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const NS = 'agent-test';
let cluster: TestCluster | undefined;
let operator: Operator | undefined;
let node: NodeNetwork | undefined;
let agent: AgentProcess | undefined;
const pods: TestPod[] = [];
let objects: k8s.KubernetesObjectApi;
let gatewayIp = '';

interface Echo { backend: string; path: string; peer: string }

async function served(path: string): Promise<{ status: number; body: string }> {
  return get(8080, path, undefined, gatewayIp, 3000);
}

function route(rules: unknown[]): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown } {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'colors', namespace: NS }, spec: { parentRefs: [{ name: 'gw' }], rules } };
}

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  const prefix = cluster.opts.subnet.split('.').slice(0, 3).join('.');
  gatewayIp = `${prefix}.200`;
  operator = new Operator({ kubeConfig: cluster.kc, logger: silentLogger, identity: 'op', gatewayAddressPool: `${prefix}.200-${prefix}.210` });
  operator.start();

  node = await createNodeNetwork(cluster.state, 1);
  pods.push(await startEchoPod(node, 0, 'blue', 3000), await startEchoPod(node, 1, 'green', 3000));

  for (const o of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
      spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    ...serviceForPod(NS, 'blue', pods[0].address),
    ...serviceForPod(NS, 'green', pods[1].address),
    route([{ matches: [{ path: { type: 'PathPrefix', value: '/blue' } }], backendRefs: [{ name: 'blue', port: 80 }] }, { backendRefs: [{ name: 'green', port: 80 }] }]),
  ]) await objects.create(o);

  agent = await startAgentProcess(cluster.state.kubeconfig, node, ['--announce-interface', 'eth0']);
});

test.after.always(async () => {
  await agent?.stop();
  await operator?.stop().catch(() => undefined);
  for (const p of pods) await p.remove().catch(() => undefined);
  if (cluster && node) await deleteNodeNetwork(cluster.state, 1).catch(() => undefined);
  await cluster?.down();
});

clusterTest('the Gateway gets the pool address in its status, and traffic from the host reaches the backend pods through the node Envoy', async (t) => {
  const addresses = await eventually(async () => {
    const gw = await objects.read<k8s.KubernetesObject & { status?: { addresses?: Array<{ value: string }> } }>(
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS } });
    return gw.status?.addresses;
  }, 20_000, 'Gateway status address');
  t.deepEqual(addresses.map((a) => a.value), [gatewayIp]);

  const blue = await eventually(async () => {
    const r = await served('/blue/x');
    return r.status === 200 ? (JSON.parse(r.body) as Echo) : undefined;
  }, 30_000, 'first 200 through the gateway');
  t.is(blue.backend, 'blue');
  t.is(blue.path, '/blue/x');
  // The backend saw the node's Envoy, which connected from the node's address.
  t.is(blue.peer, node!.address);
  const green = await eventually(async () => {
    const r = await served('/other');
    return r.status === 200 ? (JSON.parse(r.body) as Echo) : undefined;
  }, 30_000, 'green served');
  t.is(green.backend, 'green');
});

clusterTest('a route change reaches the data path, and a deleted route stops being served', async (t) => {
  const live = await objects.read(route([]));
  await objects.replace({ ...live, spec: route([{ backendRefs: [{ name: 'blue', port: 80 }] }]).spec });
  await eventually(async () => {
    const r = await served('/other');
    return r.status === 200 && (JSON.parse(r.body) as Echo).backend === 'blue';
  }, 20_000, '/other served by blue');
  await objects.delete(route([]));
  const gone = await eventually(async () => {
    const r = await served('/other');
    return r.status === 404 ? r : undefined;
  }, 20_000, '404 once the route is deleted');
  t.is(gone.status, 404);
});

clusterTest('a Gateway created while the agent runs is served once the operator publishes its address (a status-only change for the agent)', async (t) => {
  const second = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw2', namespace: NS },
    spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8081 }] } };
  // The route first: after the Gateway's creation, the only change the agent sees is the address in its status.
  await objects.create({ ...route([{ backendRefs: [{ name: 'green', port: 80 }] }]), metadata: { name: 'to-gw2', namespace: NS }, spec: { parentRefs: [{ name: 'gw2' }], rules: [{ backendRefs: [{ name: 'green', port: 80 }] }] } });
  await new Promise((r) => setTimeout(r, 200));
  await objects.create(second);
  const address = await eventually(async () => {
    const gw = await objects.read<k8s.KubernetesObject & { status?: { addresses?: Array<{ value: string }> } }>(second);
    return gw.status?.addresses?.[0]?.value;
  }, 20_000, 'second Gateway address');
  t.not(address, gatewayIp);
  const r = await eventually(async () => {
    const res = await get(8081, '/x', undefined, address, 3000).catch(() => undefined);
    return res?.status === 200 ? res : undefined;
  }, 20_000, 'the second Gateway served at its address');
  t.is((JSON.parse(r.body) as Echo).backend, 'green');
});

clusterTest('the agent withdraws the Gateway address when it stops', async (t) => {
  const before = await ipIn(node!.netns, '-o', 'addr', 'show', 'dev', 'eth0');
  t.true(before.includes(`${gatewayIp}/32`));
  await agent!.stop();
  const after = await ipIn(node!.netns, '-o', 'addr', 'show', 'dev', 'eth0');
  t.false(after.includes(`${gatewayIp}/32`));
  t.true(after.includes(`${node!.address}/24`));
});

// What keeps one new route cheap at 1,000 (bench/k8s-propagation.ts): the source hands the pipeline the same manifest
// object for every object that did not change, so the translation caches (keyed by manifest) skip them.
clusterTest('the source reuses the manifests of unchanged objects across snapshots; a changed object gets a new one', async (t) => {
  const snapshots: Manifest[][] = [];
  const source = new KubernetesSource(cluster!.kc, { kinds: TRANSLATED_KINDS, logger: silentLogger, debounceMs: 10 }, (m) => snapshots.push(m));
  t.teardown(() => source.stop());
  const byKey = (ms: Manifest[]) => new Map(ms.map((m) => [`${m.kind} ${m.metadata.namespace ?? ''}/${m.metadata.name}`, m]));
  const first = byKey(await eventually(() => source.synced() && source.manifests(), 20_000, 'the source synced'));
  const changed = 'Service agent-test/blue';
  const svc = await objects.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'blue', namespace: NS } });
  await objects.replace({ ...svc, metadata: { ...svc.metadata, labels: { touched: 'yes' } } });
  const after = byKey(await eventually(() => snapshots.find((s) => s.some((m) => m.kind === 'Service' && m.metadata.labels?.touched)), 20_000, 'a snapshot with the change'));
  t.not(after.get(changed), first.get(changed), 'the changed Service has a new manifest');
  const unchanged = [...first.keys()].filter((k) => k !== changed && after.has(k));
  t.true(unchanged.length >= 3, unchanged.join(', '));
  for (const k of unchanged) t.is(after.get(k), first.get(k), k);
});

clusterTest('a Pod\'s new status.hostIP makes a new snapshot (the mesh view reads it), though the manifest keeps no status but the pod\'s addresses', async (t) => {
  const core = cluster!.kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'moved' }, spec: { containers: [{ name: 'c', image: 'none' }] } } });
  const setStatus = (status: k8s.V1PodStatus) => eventually(async () => {
    // Retried: the scheduler writes the pod's conditions meanwhile.
    const live = await core.readNamespacedPodStatus({ name: 'moved', namespace: NS });
    return core.replaceNamespacedPodStatus({ name: 'moved', namespace: NS, body: { ...live, status: { ...live.status, ...status } } }).then(() => true, () => false);
  }, 10_000, 'the pod status written');
  await setStatus({ podIP: '10.9.0.5', hostIP: '10.9.1.1' });
  const snapshots: Manifest[][] = [];
  const source = new KubernetesSource(cluster!.kc, { kinds: [POD_KIND], logger: silentLogger, debounceMs: 10 }, (m) => snapshots.push(m));
  t.teardown(() => source.stop());
  // A label change first: once its snapshot came, every snapshot after it is the move's (the listed objects'
  // events, which may follow the first snapshot, came before it).
  const pod = await core.readNamespacedPod({ name: 'moved', namespace: NS });
  await core.replaceNamespacedPod({ name: 'moved', namespace: NS, body: { ...pod, metadata: { ...pod.metadata, labels: { step: 'one' } } } });
  await eventually(() => snapshots.at(-1)?.some((m) => m.metadata.labels?.step === 'one'), 20_000, 'the label change\'s snapshot');
  const before = snapshots.length;
  await setStatus({ hostIP: '10.9.1.2' });
  const seen = await eventually(() => ((source.object('Pod', NS, 'moved')?.status as { hostIP?: string } | undefined)?.hostIP === '10.9.1.2' ? true : undefined), 20_000, 'the informer saw the move');
  t.true(seen);
  await eventually(() => (snapshots.length > before ? true : undefined), 20_000, 'a snapshot after the move');
  t.true(snapshots.length > before);
  await core.deleteNamespacedPod({ name: 'moved', namespace: NS, gracePeriodSeconds: 0 });
});
