// L7 policy on Kubernetes, against the real API server: a CiliumNetworkPolicy with an HTTP rule, enforced between two
// pods by the node agent (`weft agent --datapath`, a separate process in the node's network namespace). The agent
// reads Pods and the policy from the API server, writes identities and policy into the datapath maps that the pods'
// programs use (pinned; here the test stands in for weft-cni: it loads the programs on the pods' veths and registers
// them), and serves its Envoy the transparent listener. Pod A's allowed path reaches pod B (which sees A's own
// address), another path gets 403 `Access denied` from the proxy, a pod the policy does not name gets nothing, and
// editing the policy in the API server changes what passes. The node agent's flow agent shows those requests and drops.
// Egress: a policy with an egress HTTP rule for pod C allow-lists C's own requests, with no change to the agent.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { INIT_IDENTITY } from '../src/datapath/cni/plugin.js';
import { Datapath } from '../src/datapath/datapath.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { createNodeNetwork, deleteNodeNetwork, type NodeNetwork } from '../src/devcluster/nodes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { eventually } from './helpers/net.js';
import { client, getFlows } from './helpers/observe.js';
import { startEchoPod, type TestPod } from './helpers/pods.js';

const unavailable = devClusterUnavailable() ?? datapathUnavailable();
if (unavailable) console.log(`Kubernetes L7 policy tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const NS = 'l7-test';
const HEALTH_PORT = 19191;
let cluster: TestCluster | undefined;
let node: NodeNetwork | undefined;
let agent: AgentProcess | undefined;
let dp: Datapath | undefined;
let objects: k8s.KubernetesObjectApi;
const pods: Record<string, TestPod> = {};
// A bpffs of the test's own outside /sys: `ip netns exec` (how the agent runs in the node's namespace) mounts a fresh
// sysfs on /sys, which would hide /sys/fs/bpf; a mount elsewhere is the same bpffs instance in the agent's mount
// namespace, so both see the same pinned maps (as the agent's and weft-cni's hostPath mounts do on a real node).
const bpffs = `/run/weft-test-bpf-${process.pid}`;
const pinRoot = `${bpffs}/weft`;

interface Echo { backend: string; path: string; peer: string }

function policy(paths: string[]) {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'backend', namespace: NS },
    spec: {
      endpointSelector: { matchLabels: { app: 'backend' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '3000', protocol: 'TCP' }], rules: { http: paths.map((path) => ({ method: 'GET', path })) } }] }],
    },
  };
}

/** curl from a pod's namespace; status 0 when no HTTP answer came. */
function get(from: TestPod, url: string): { status: number; body: string } {
  let out: string;
  try {
    out = execFileSync('ip', ['netns', 'exec', from.netns, 'curl', '-s', '-m', '3', '-w', '\n%{http_code}', url], { encoding: 'utf8' });
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? '\n000';
  }
  const lines = out.trimEnd().split('\n');
  return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trim() };
}

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  node = await createNodeNetwork(cluster.state, 1);
  for (const [i, name] of ['frontend', 'backend', 'intruder'].entries()) pods[name] = await startEchoPod(node, i, name, 3000);

  // What weft-cni does for each pod: the programs on its veth, the pod in the endpoint map with the "init" identity.
  mkdirSync(bpffs, { recursive: true });
  dp = Datapath.open({ pinRoot });
  const endpoints = new EndpointMap(dp.maps.endpoints);
  const nodeNsPath = `/var/run/netns/${node.netns}`;
  for (const [i, p] of Object.values(pods).entries()) {
    dp.attach(nodeNsPath, `p${i}`);
    execFileSync('ip', ['netns', 'exec', node.netns, 'sysctl', '-qw', `net.ipv4.conf.p${i}.forwarding=1`]);
    endpoints.upsert({ ips: [p.address], identity: INIT_IDENTITY, ifindex: nativeBpf().ifIndex(nodeNsPath, `p${i}`), ingressEnforced: false, egressEnforced: false });
  }

  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const [name, p] of Object.entries(pods)) {
    await objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: name } },
      spec: { containers: [{ name: 'echo', image: 'echo', ports: [{ containerPort: 3000 }] }] } });
    // No kubelet runs these pods: the test reports where they are, as the kubelet would (retried: the scheduler
    // writes the pod's conditions meanwhile).
    const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    await eventually(async () => {
      const live = await core.readNamespacedPodStatus({ name, namespace: NS });
      live.status = { ...live.status, phase: 'Running', podIP: p.address, podIPs: [{ ip: p.address }] };
      return core.replaceNamespacedPodStatus({ name, namespace: NS, body: live }).then(() => true, () => false);
    }, 10_000, `status of pod ${name}`);
  }
  await objects.create(policy(['/public.*']));

  agent = await startAgentProcess(cluster.state.kubeconfig, node, ['--datapath', '--bpf-pin-root', pinRoot, '--health-port', String(HEALTH_PORT)]);
});

test.after.always(async () => {
  await agent?.stop();
  if (dp && node) for (const i of Object.keys(pods).keys()) { try { dp.detach(`/var/run/netns/${node.netns}`, `p${i}`); } catch { /* the pod is gone */ } }
  dp?.destroy();
  if (existsSync(bpffs)) {
    try {
      execFileSync('umount', [bpffs]);
    } catch { /* not mounted */ }
    rmSync(bpffs, { recursive: true, force: true });
  }
  for (const p of Object.values(pods)) await p.remove().catch(() => undefined);
  if (cluster && node) await deleteNodeNetwork(cluster.state, 1).catch(() => undefined);
  await cluster?.down();
});

clusterTest('the HTTP rule is enforced between the pods: allowed path from A\'s own address, 403 otherwise, nothing for a pod not named', async (t) => {
  const b = `http://${pods.backend.address}:3000`;
  const allowed = await eventually(() => {
    const r = get(pods.frontend, `${b}/public/x`);
    return r.status === 200 ? r : undefined;
  }, 30_000, 'first 200 through the node proxy');
  const echo = JSON.parse(allowed.body) as Echo;
  t.is(echo.backend, 'backend');
  t.is(echo.path, '/public/x');
  t.is(echo.peer, pods.frontend.address, 'pod B sees pod A\'s own address');
  const denied = get(pods.frontend, `${b}/private`);
  t.is(denied.status, 403);
  t.is(denied.body, 'Access denied');
  t.is(get(pods.intruder, `${b}/public/x`).status, 0, 'a pod the policy does not name is dropped by the datapath');
});

// The agent runs the node's flow agent (on by default, plaintext here, on the node's address): it follows the
// transparent listener's access log file and the datapath's ring buffer feeds it; the API server names the pods.
clusterTest('the node agent\'s flows: the requests as L7 flows naming both pods, and the datapath\'s drop of the pod not named', async (t) => {
  const c = client(`${node!.address}:4244`);
  t.teardown(() => c.close());
  const denied = await eventually(async () => {
    const f = await getFlows(c, { type: ['L7'], http_path: ['/private'] });
    return f.length > 0 && f[0];
  }, 15_000, 'the denied request as a flow');
  const backend = { ip: pods.backend.address, port: 3000, namespace: NS, pod: 'backend', workload: 'backend' };
  t.like(denied, { node: node!.name, verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', http: { method: 'GET', status: 403 },
    source: { ip: pods.frontend.address, namespace: NS, pod: 'frontend' }, destination: backend });
  t.like((await getFlows(c, { type: ['L7'], http_path: ['/public/x'], verdict: ['FORWARDED'] }))[0], { http: { status: 200 }, source: { pod: 'frontend' }, destination: backend });
  const drop = await eventually(async () => (await getFlows(c, { type: ['L3_L4'], verdict: ['DROPPED'] })).find((f) => f.source.ip === pods.intruder.address), 15_000, 'the intruder\'s drop');
  t.like(drop, { protocol: 'TCP', source: { pod: 'intruder' }, destination: { ip: pods.backend.address, port: 3000, pod: 'backend' } });
  t.truthy(drop.drop_reason, 'with the datapath\'s reason');
});

clusterTest('editing the policy in the API server changes what passes', async (t) => {
  const live = await objects.read(policy([]));
  await objects.replace({ ...live, spec: policy(['/public.*', '/private']).spec });
  const now = await eventually(() => {
    const r = get(pods.frontend, `http://${pods.backend.address}:3000/private`);
    return r.status === 200 ? r : undefined;
  }, 20_000, '/private allowed after the edit');
  t.is((JSON.parse(now.body) as Echo).path, '/private');
  t.is(get(pods.frontend, `http://${pods.backend.address}:3000/other`).status, 403);
  await objects.delete(policy([]));
  const open = await eventually(() => {
    const r = get(pods.intruder, `http://${pods.backend.address}:3000/other`);
    return r.status === 200 ? r : undefined;
  }, 20_000, 'no policy: everything passes, not proxied');
  t.is((JSON.parse(open.body) as Echo).peer, pods.intruder.address);
});

clusterTest('an egress HTTP rule: pod C\'s own requests to pod B are allow-listed by the proxy, other destinations dropped', async (t) => {
  const egress = {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'intruder-egress', namespace: NS },
    spec: {
      endpointSelector: { matchLabels: { app: 'intruder' } },
      egress: [{ toEndpoints: [{ matchLabels: { app: 'backend' } }], toPorts: [{ ports: [{ port: '3000', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public.*' }] } }] }],
    },
  };
  await objects.create(egress);
  t.teardown(() => objects.delete(egress).then(() => undefined, () => undefined));
  const b = `http://${pods.backend.address}:3000`;
  const denied = await eventually(() => {
    const r = get(pods.intruder, `${b}/private-egress`);
    return r.status === 403 ? r : undefined;
  }, 30_000, 'the egress rule in the proxy');
  t.is(denied.body, 'Access denied');
  // The flow agent names both ends and the direction (the egress chain's access log).
  const c = client(`${node!.address}:4244`);
  t.teardown(() => c.close());
  const flow = await eventually(async () => (await getFlows(c, { type: ['L7'], http_path: ['/private-egress'] }))[0], 15_000, 'the egress denial as a flow');
  t.like(flow, { traffic_direction: 'EGRESS', verdict: 'DROPPED', http: { status: 403 }, source: { ip: pods.intruder.address, pod: 'intruder' }, destination: { ip: pods.backend.address, port: 3000, pod: 'backend' } });
  const allowed = get(pods.intruder, `${b}/public/z`);
  t.is(allowed.status, 200);
  t.like(JSON.parse(allowed.body) as Echo, { backend: 'backend', path: '/public/z', peer: pods.intruder.address });
  t.is(get(pods.intruder, `http://${pods.frontend.address}:3000/public/z`).status, 0, 'egress is default-deny for C now: the datapath drops other destinations');
  t.is(get(pods.frontend, `${b}/private`).status, 200, 'other clients are not restricted (nor proxied)');
});

clusterTest('the agent reports whether every pod still has the datapath\'s program on its veth (what weft status checks)', (t) => {
  const scrape = (): { attached: number; missing: number; endpoints: number } => {
    const text = execFileSync('ip', ['netns', 'exec', node!.netns, 'curl', '-sf', `http://127.0.0.1:${HEALTH_PORT}/metrics`], { encoding: 'utf8' });
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    return {
      attached: value(/^weft_datapath_endpoint_programs\{state="attached"\} (\d+)$/m),
      missing: value(/^weft_datapath_endpoint_programs\{state="missing"\} (\d+)$/m),
      endpoints: value(/^weft_datapath_map_entries\{map="endpoints"\} (\d+)$/m),
    };
  };
  t.deepEqual(scrape(), { attached: 3, missing: 0, endpoints: 3 });
  // The intruder's program goes away (as if its veth had been re-created without weft-cni).
  const nodeNsPath = `/var/run/netns/${node!.netns}`;
  dp!.detach(nodeNsPath, 'p2');
  try {
    t.deepEqual(scrape(), { attached: 2, missing: 1, endpoints: 3 });
  } finally {
    dp!.attach(nodeNsPath, 'p2');
  }
  t.like(scrape(), { attached: 3, missing: 0 });
});
