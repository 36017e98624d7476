// `weft dev cluster up` with Weft (the default of the command): the operator and, on each of two nodes, an agent with
// the datapath and its Envoy. What a newcomer applies (examples/kubernetes/) works with nothing started by hand: a
// Gateway gets an address and serves the Deployment's pods to the host, and a CiliumNetworkPolicy with an HTTP rule
// is enforced between two pods by weft-cni (programs on the pods' veths) and the agent (maps, redirect, Envoy).
// `down` leaves no namespace, process or bpffs mount behind.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { projectRoot } from '../envoy/binary.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import { clusterStatus } from '../src/devcluster/cluster.js';
import { podNetns } from '../src/devcluster/node-processes.js';
import { isRunning } from '../src/devcluster/processes.js';
import { gatewayAddressPool } from '../src/devcluster/weft-processes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';

const run = promisify(execFile);
const unavailable = devClusterUnavailable() ?? datapathUnavailable();
if (unavailable) console.log(`dev cluster with Weft tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;
const NS = 'default';
let cluster: TestCluster | undefined;

test.before(async () => {
  if (unavailable) return;
  await run('bash', [join(projectRoot(), 'scripts', 'echo-basic.sh')], { timeout: 600_000 });
  cluster = await startTestCluster({ nodes: 2, weft: true });
});
test.after.always(async () => {
  await cluster?.down();
});

const kubectl = (...args: string[]) => run(cluster!.state.kubectl, ['--kubeconfig', cluster!.state.kubeconfig, ...args]);
const example = (file: string) => join(projectRoot(), 'examples', 'kubernetes', file);
const core = () => cluster!.kc.makeApiClient(k8s.CoreV1Api);
const isReady = (p: k8s.V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** curl from a pod's network namespace; status 0 when no HTTP answer came. */
async function getFromPod(pod: k8s.V1Pod, url: string): Promise<{ status: number; body: string }> {
  const node = cluster!.state.nodes!.find((n) => n.name === pod.spec!.nodeName)!;
  let out: string;
  try {
    out = (await run('ip', ['netns', 'exec', podNetns(node, pod.metadata!.uid!), 'curl', '-s', '-m', '3', '-w', '\n%{http_code}', url])).stdout;
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? '\n000';
  }
  const lines = out.trimEnd().split('\n');
  return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trim() };
}

clusterTest('up starts the operator and one agent per node, and status shows them running', async (t) => {
  const status = await clusterStatus(cluster!.opts);
  const weft = status!.processes.filter((p) => p.name.startsWith('weft-'));
  t.deepEqual(weft.map((p) => p.name), ['weft-operator', 'weft-agent-node-1', 'weft-agent-node-2']);
  for (const p of weft) t.true(p.running, p.name);
  const { stdout } = await run(process.execPath, [join(projectRoot(), 'dist', 'src', 'cli', 'main.js'), 'dev', 'cluster', 'status',
    '--name', cluster!.opts.name, '--state-dir', cluster!.opts.stateDir]);
  t.regex(stdout, /weft-agent-node-2\s+running/);
  const gc = await k8s.KubernetesObjectApi.makeApiClient(cluster!.kc).read({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' } });
  t.like((gc as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions?.find((c) => c.type === 'Accepted'), { status: 'True' });
});

clusterTest('a Gateway and HTTPRoute applied with kubectl: Programmed with a pool address, and the host reaches the Deployment\'s pods through it', async (t) => {
  await kubectl('apply', '-f', example('echo.yaml'), '-f', example('gateway.yaml'));
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  type GatewayStatus = { addresses?: Array<{ value: string }>; conditions?: Array<{ type: string; status: string }> };
  const status = await eventually(async () => {
    const gw = await objects.read({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'web', namespace: NS } });
    const s = (gw as { status?: GatewayStatus }).status;
    return s?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') ? s : undefined;
  }, 60_000, 'the Gateway Programmed');
  const address = status.addresses![0].value;
  const [first] = gatewayAddressPool(cluster!.state.subnet).split('-');
  t.is(address, first, 'the first address of the pool');
  const pods = new Set<string>();
  const answer = await eventually(async () => {
    const r = await fetch(`http://${address}/echo/hello`, { signal: AbortSignal.timeout(3000) });
    if (r.status !== 200) return undefined;
    const body = await r.json() as { pod: string; path: string };
    pods.add(body.pod);
    return body;
  }, 90_000, 'a 200 through the Gateway');
  t.is(answer.path, '/echo/hello');
  const echoPods = (await core().listNamespacedPod({ namespace: NS, labelSelector: 'app=echo' })).items.map((p) => p.metadata!.name!);
  t.true(echoPods.includes(answer.pod), `${answer.pod} is one of ${echoPods.join(', ')}`);
});

clusterTest('a CiliumNetworkPolicy with an HTTP rule is enforced on pods from the other node and the same node, with no program loaded by hand', async (t) => {
  await kubectl('apply', '-f', example('policy.yaml'));
  const [backend, ...clients] = await eventually(async () => {
    const ps = await Promise.all(['backend', 'client', 'neighbour'].map((name) => core().readNamespacedPod({ name, namespace: NS })));
    // The backend turns Ready only if the kubelet's probe (from the node) gets through the policy.
    return ps.every(isReady) ? ps : undefined;
  }, 90_000, 'backend and clients Ready');
  t.not(clients[0].spec!.nodeName, backend.spec!.nodeName, 'client runs on the other node');
  t.is(clients[1].spec!.nodeName, backend.spec!.nodeName, 'neighbour runs on the backend\'s node');
  const url = `http://${backend.status!.podIP}:3000`;
  for (const client of clients) {
    const name = client.metadata!.name!;
    // Until the agent has the policy in the maps, any path passes: wait for the refusal.
    const denied = await eventually(async () => {
      const r = await getFromPod(client, `${url}/private`);
      return r.status === 403 ? r : undefined;
    }, 30_000, `403 from the backend's node proxy on the path the rule does not allow, for ${name}`);
    t.is(denied.body, 'Access denied', name);
    const allowed = await getFromPod(client, `${url}/public/${name}`);
    t.is(allowed.status, 200, `${name}: the allowed path`);
    t.like(JSON.parse(allowed.body), { pod: 'backend', path: `/public/${name}` });
  }
});

clusterTest('down stops Weft and leaves no namespace, process or bpffs mount behind', async (t) => {
  const c = cluster!;
  const { stdout: before } = await run('ip', ['netns', 'list']);
  t.true(before.includes(`weft-${c.state.name}-n2`));
  await c.down();
  cluster = undefined;
  for (const p of c.state.processes) t.false(await isRunning(p), p.name);
  const { stdout } = await run('ip', ['netns', 'list']);
  t.false(stdout.includes(`weft-${c.state.name}-`), stdout);
  t.false(readFileSync('/proc/self/mounts', 'utf8').includes(c.opts.stateDir), 'no bpffs mount of the nodes is left');
});
