// One announcer per Gateway address (src/kubernetes/announcement-election.ts), against the real API server: two
// agents (processes in two node namespaces) serve the same Gateway; exactly one holds the address's Lease and has the
// address on its interface. When that node dies (its agent killed by PID, its Envoy too, its link down), the other
// takes the Lease once it expired, announces the address, and the host's requests to it are answered again.
import test from 'ava';
import { get } from './helpers/traffic.js';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { silentLogger } from '../src/log/logger.js';
import { announceLeaseName } from '../src/kubernetes/announcement-election.js';
import { Operator } from '../src/kubernetes/operator.js';
import { ip, ipIn } from '../src/devcluster/netns.js';
import { createNodeNetwork, deleteNodeNetwork, type NodeNetwork } from '../src/devcluster/nodes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { eventually } from './helpers/net.js';
import { serviceForPod, startEchoPod, type TestPod } from './helpers/pods.js';

const unavailable = devClusterUnavailable();
if (unavailable) console.log(`announcement election tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const NS = 'announce-test';
// Short leases keep the test quick (the defaults are Cilium's: 15 s, renewed every 2 s).
const LEASE_FLAGS = ['--announce-lease-duration', '6', '--announce-lease-retry-period', '1'];
let cluster: TestCluster | undefined;
let operator: Operator | undefined;
const nodes: NodeNetwork[] = [];
const agents: AgentProcess[] = [];
let pod: TestPod | undefined;
let coordination: k8s.CoordinationV1Api;
let gatewayIp = '';

/** The node whose Envoy answered the host's request (the echo pod sees the Envoy's node address). */
async function answeringNode(): Promise<string | undefined> {
  const r = await get(8080, '/x', undefined, gatewayIp, 2000).catch(() => undefined);
  if (r?.status !== 200) return undefined;
  const peer = (JSON.parse(r.body) as { peer: string }).peer;
  return nodes.find((n) => n.address === peer)?.name;
}

/** The nodes that have the Gateway address on eth0. */
async function announcing(): Promise<string[]> {
  const out: string[] = [];
  for (const n of nodes) if ((await ipIn(n.netns, '-o', 'addr', 'show', 'dev', 'eth0')).includes(`${gatewayIp}/32`)) out.push(n.name);
  return out;
}

async function lease(): Promise<k8s.V1Lease | undefined> {
  return coordination.readNamespacedLease({ name: announceLeaseName(gatewayIp), namespace: 'kube-system' }).catch(() => undefined);
}

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  coordination = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
  const prefix = cluster.opts.subnet.split('.').slice(0, 3).join('.');
  gatewayIp = `${prefix}.200`;
  operator = new Operator({ kubeConfig: cluster.kc, logger: silentLogger, identity: 'op', gatewayAddressPool: `${prefix}.200-${prefix}.210` });
  operator.start();
  nodes.push(await createNodeNetwork(cluster.state, 1), await createNodeNetwork(cluster.state, 2));
  // The backend runs on node-1; node-2 reaches it through node-1 (a route, and forwarding on node-1).
  pod = await startEchoPod(nodes[0], 0, 'echo', 3000);
  await ip('netns', 'exec', nodes[0].netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  await ipIn(nodes[1].netns, 'route', 'add', `${pod.address}/32`, 'via', nodes[0].address);
  for (const o of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
      spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    ...serviceForPod(NS, 'echo', pod.address),
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'echo', namespace: NS },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'echo', port: 80 }] }] } },
  ]) await objects.create(o);
  // node-2's agent first, so that it wins: the node that dies is then the one the backend is not on.
  agents.push(await startAgentProcess(cluster.state.kubeconfig, nodes[1], ['--announce-interface', 'eth0', ...LEASE_FLAGS]));
  await eventually(async () => (await lease())?.spec?.holderIdentity === nodes[1].name, 20_000, 'node-2 holds the Lease');
  agents.push(await startAgentProcess(cluster.state.kubeconfig, nodes[0], ['--announce-interface', 'eth0', ...LEASE_FLAGS]));
});

test.after.always(async () => {
  for (const a of agents) await a.stop();
  // A killed agent leaves its Envoy: every process left in the node namespaces is one this test started.
  for (const n of nodes) {
    const pids = await ip('netns', 'pids', n.netns).catch(() => '');
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch { /* gone */ }
    }
  }
  await operator?.stop().catch(() => undefined);
  await pod?.remove().catch(() => undefined);
  if (cluster) for (const i of [1, 2]) await deleteNodeNetwork(cluster.state, i).catch(() => undefined);
  await cluster?.down();
});

clusterTest('exactly one node announces the Gateway address: the holder of its Lease, which the host\'s requests reach', async (t) => {
  const first = await lease();
  // Both agents run; a renewal later (the other candidate has tried meanwhile), one node still holds and announces.
  await eventually(async () => {
    const l = await lease();
    return l?.spec?.renewTime && new Date(l.spec.renewTime).getTime() > new Date(first!.spec!.renewTime!).getTime() + 1000;
  }, 20_000, 'the Lease renewed');
  const l = await lease();
  t.is(l?.spec?.holderIdentity, nodes[1].name);
  t.is(l?.spec?.leaseDurationSeconds, 6);
  t.deepEqual(await announcing(), [nodes[1].name]);
  const answered = await eventually(answeringNode, 30_000, 'a 200 through the Gateway address');
  t.is(answered, nodes[1].name);
});

clusterTest('when the announcing node dies, the other takes the Lease after it expires, announces the address, and the host is answered again', async (t) => {
  const before = await lease();
  const dead = nodes[1];
  const agent = agents[0]; // node-2's, started first
  const pid = agent.child.pid!;
  // The node dies: its agent (killed, so it releases nothing), its Envoy, and its link.
  process.kill(pid, 'SIGKILL');
  await agent.exited;
  for (const p of (await ip('netns', 'pids', dead.netns)).split(/\s+/).filter(Boolean)) process.kill(Number(p), 'SIGKILL');
  await ipIn(dead.netns, 'link', 'set', 'eth0', 'down');

  const taken = await eventually(async () => {
    const l = await lease();
    return l?.spec?.holderIdentity === nodes[0].name ? l : undefined;
  }, 30_000, 'node-1 holds the Lease');
  t.is(taken.spec?.leaseTransitions, (before?.spec?.leaseTransitions ?? 0) + 1);
  // Taken only once expired: node-1's acquisition came at least a lease duration after node-2's last renewal.
  t.true(new Date(taken.spec!.acquireTime!).getTime() - new Date(before!.spec!.renewTime!).getTime() >= 6000 - 1000);
  await eventually(async () => (await ipIn(nodes[0].netns, '-o', 'addr', 'show', 'dev', 'eth0')).includes(`${gatewayIp}/32`), 20_000, 'node-1 announces');
  const answered = await eventually(answeringNode, 90_000, 'a 200 from node-1 through the Gateway address');
  t.is(answered, nodes[0].name);
});

clusterTest('a node that stops serving the address (its Gateway deleted) withdraws it and releases the Lease', async (t) => {
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  await objects.delete({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS } });
  // (The dead node-2, its link down, still carries the address its killed agent left.)
  const live = () => announcing().then((names) => names.filter((n) => n === nodes[0].name));
  const released = await eventually(async () => {
    const l = await lease();
    return l && !l.spec?.holderIdentity && (await live()).length === 0 ? l : undefined;
  }, 20_000, 'the Lease released and the address withdrawn');
  t.falsy(released.spec?.holderIdentity);
  t.is(released.spec?.leaseTransitions, 1, 'no other node took it');
  t.deepEqual(await live(), []);
});
