// `weft dev cluster up --nodes 2`: nodes are network namespaces with a kubelet each. The real kube-scheduler binds
// pods to them, the kubelet runs the containers as processes in pod namespaces wired by Weft's CNI plugin, and a
// Deployment becomes Available with its Service's EndpointSlice listing the pods ready; deletion tears pods down.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { projectRoot } from '../envoy/binary.js';
import { namespaceExists } from '../src/devcluster/netns.js';
import { kubeletStateDir, podNetns as podNetnsOf, startKubelet } from '../src/devcluster/node-processes.js';
import { isRunning, stopProcess } from '../src/devcluster/processes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';

const run = promisify(execFile);
const unavailable = devClusterUnavailable();
let cluster: TestCluster | undefined;
const echoMain = fileURLToPath(new URL('./helpers/echo-main.js', import.meta.url));
const NS = 'default';

test.before(async () => {
  if (!unavailable) cluster = await startTestCluster({ nodes: 2 });
});
test.after.always(async () => {
  await cluster?.down();
});

const clusterTest = unavailable ? test.skip : test.serial;
if (unavailable) console.log(`dev cluster node tests skipped: ${unavailable}`);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const core = () => cluster!.kc.makeApiClient(k8s.CoreV1Api);
const nodeOf = (name: string) => cluster!.state.nodes!.find((n) => n.name === name)!;
const podNetns = (pod: k8s.V1Pod) => podNetnsOf(nodeOf(pod.spec!.nodeName!), pod.metadata!.uid!);
const isReady = (p: k8s.V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function echoPods(): Promise<k8s.V1Pod[]> {
  return (await core().listNamespacedPod({ namespace: NS, labelSelector: 'app=echo' })).items;
}

/** An HTTP GET from inside network namespace `netns` (a pod's), with the project's Node. */
async function getFrom(netns: string, url: string): Promise<{ backend: string; peer: string; env: Record<string, string> }> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const { stdout } = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', script]);
  return JSON.parse(stdout) as { backend: string; peer: string; env: Record<string, string> };
}

clusterTest('nodes register Ready with their address and pod CIDR, untainted, and renew their Lease', async (t) => {
  const c = cluster!;
  for (const node of c.state.nodes!) {
    const n = await core().readNode({ name: node.name });
    t.is(n.spec?.podCIDR, node.podCidr);
    t.deepEqual(n.spec?.podCIDRs, [node.podCidr]);
    t.true(n.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === node.address));
    t.is(n.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
    t.is(n.status?.allocatable?.pods, '110');
    t.falsy(n.spec?.taints?.length, `${node.name} taints: ${JSON.stringify(n.spec?.taints)}`);
  }
  const coordination = c.kc.makeApiClient(k8s.CoordinationV1Api);
  const first = await coordination.readNamespacedLease({ name: 'node-1', namespace: 'kube-node-lease' });
  t.is(first.spec?.holderIdentity, 'node-1');
  const renewed = await until('a lease renewal', async () => {
    const l = await coordination.readNamespacedLease({ name: 'node-1', namespace: 'kube-node-lease' });
    return new Date(l.spec!.renewTime!).getTime() > new Date(first.spec!.renewTime!).getTime() ? l : undefined;
  }, 25_000);
  t.truthy(renewed);
});

clusterTest('a Deployment of two echo pods becomes Available, one pod per node, and its EndpointSlice lists both ready', async (t) => {
  const c = cluster!;
  const apps = c.kc.makeApiClient(k8s.AppsV1Api);
  const labels = { app: 'echo' };
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'echo', namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' }] } },
            terminationGracePeriodSeconds: 5,
            containers: [{
              name: 'echo', image: 'weft.dev/echo-main', command: [process.execPath, echoMain, 'echo', '3000'],
              ports: [{ name: 'http', containerPort: 3000 }],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              ],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
            }],
          },
        },
      },
    },
  });
  await c.kc.makeApiClient(k8s.CoreV1Api).createNamespacedService({
    namespace: NS, body: { metadata: { name: 'echo' }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 3000 }] } },
  });
  const available = await until('the Deployment to become Available', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'echo', namespace: NS });
    return d.status?.conditions?.some((x) => x.type === 'Available' && x.status === 'True') && d.status.readyReplicas === 2 ? d : undefined;
  }, 90_000);
  t.is(available.status?.availableReplicas, 2);

  const pods = await echoPods();
  t.is(pods.length, 2);
  t.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), ['node-1', 'node-2']);
  for (const p of pods) {
    const node = nodeOf(p.spec!.nodeName!);
    t.is(p.status?.phase, 'Running');
    t.is(p.status?.hostIP, node.address);
    t.true(p.status!.podIP!.startsWith(node.podCidr.replace('0/24', '')), `${p.status?.podIP} in ${node.podCidr}`);
    t.deepEqual(p.status?.podIPs?.map((x) => x.ip), [p.status!.podIP!]);
    t.truthy(p.status?.startTime);
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) t.is(p.status?.conditions?.find((x) => x.type === type)?.status, 'True', type);
    const cs = p.status!.containerStatuses![0];
    t.like(cs, { name: 'echo', ready: true, started: true, restartCount: 0, image: 'weft.dev/echo-main' });
    t.truthy(cs.imageID);
    t.truthy(cs.state?.running?.startedAt);
  }

  const discovery = c.kc.makeApiClient(k8s.DiscoveryV1Api);
  const addresses = await until('the EndpointSlice to list both pods ready', async () => {
    const slices = (await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=echo' })).items;
    const ready = slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses);
    return ready.length === 2 ? ready.sort() : undefined;
  });
  t.deepEqual(addresses, pods.map((p) => p.status!.podIP!).sort());
});

clusterTest('a pod answers HTTP from a pod on the other node, with its downward-API environment', async (t) => {
  const [a, b] = await echoPods();
  const answer = await getFrom(podNetns(a), `http://${b.status!.podIP}:3000/hello`);
  t.is(answer.backend, 'echo');
  t.is(answer.peer, a.status!.podIP!);
  t.deepEqual(answer.env, { POD_NAME: b.metadata!.name!, NAMESPACE: NS, POD_IP: b.status!.podIP!, NODE_NAME: b.spec!.nodeName! });
  // And from the other node's namespace (node → remote pod, routed over the cluster bridge).
  const fromNode = await getFrom(nodeOf(a.spec!.nodeName!).netns, `http://${b.status!.podIP}:3000/`);
  t.is(fromNode.env.POD_NAME, b.metadata!.name!);
});

clusterTest('each container logs to a file of its own under the cluster state dir', (t) => {
  const dir = join(kubeletStateDir(cluster!.state, nodeOf('node-1')), 'logs');
  const files = readdirSync(dir).filter((f) => f.startsWith(`${NS}_echo-`) && f.endsWith('_echo.log'));
  t.is(files.length, 1);
  t.regex(readFileSync(join(dir, files[0]), 'utf8'), /listening/);
});

function ipamHolds(nodeName: string, uid: string): boolean {
  const file = join(kubeletStateDir(cluster!.state, nodeOf(nodeName)), 'cni', `weft-${nodeName}`, 'ipv4.json');
  return readFileSync(file, 'utf8').includes(uid);
}

clusterTest('deleting a pod stops it, removes its namespace and address, confirms the deletion, and the replacement runs', async (t) => {
  const before = await echoPods();
  const [victim] = before;
  const netns = podNetns(victim);
  const uid = victim.metadata!.uid!;
  t.true(await namespaceExists(netns));
  t.true(ipamHolds(victim.spec!.nodeName!, uid));
  await core().deleteNamespacedPod({ name: victim.metadata!.name!, namespace: NS });
  await until('the pod object to go', async () => ((await echoPods()).some((p) => p.metadata?.uid === uid) ? undefined : true), 30_000);
  t.false(await namespaceExists(netns));
  t.false(ipamHolds(victim.spec!.nodeName!, uid));
  const replacement = await until('a ready replacement', async () => {
    const pods = await echoPods();
    const fresh = pods.find((p) => !before.some((b) => b.metadata?.uid === p.metadata?.uid));
    return pods.length === 2 && pods.every(isReady) ? fresh : undefined;
  });
  t.is(replacement.spec?.nodeName, victim.spec?.nodeName); // the anti-affinity leaves only the freed node
  const answer = await getFrom(nodeOf('node-1').netns, `http://${replacement.status!.podIP}:3000/`);
  t.is(answer.env.POD_NAME, replacement.metadata!.name!);
});

clusterTest('an image without a local binary and without a command waits with ImageNotSupported', async (t) => {
  await core().createNamespacedPod({ namespace: NS, body: { metadata: { name: 'nginx' }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } });
  const waiting = await until('a waiting reason', async () => {
    const p = await core().readNamespacedPod({ name: 'nginx', namespace: NS });
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotSupported' ? p : undefined;
  });
  t.regex(waiting.status!.containerStatuses![0].state!.waiting!.message!, /nginx:1\.27/);
  t.is(waiting.status?.phase, 'Pending');
  t.is(waiting.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'False');
  await core().deleteNamespacedPod({ name: 'nginx', namespace: NS });
  await until('the waiting pod to go', async () => ((await core().listNamespacedPod({ namespace: NS, fieldSelector: 'metadata.name=nginx' })).items.length ? undefined : true), 30_000);
});

clusterTest('the Gateway API echo-basic image runs as the binary built from its Go module', async (t) => {
  await run('bash', [join(projectRoot(), 'scripts', 'echo-basic.sh')], { timeout: 600_000 });
  await core().createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'echo-basic' },
      spec: {
        nodeName: 'node-1',
        containers: [{
          name: 'echo', image: 'registry.k8s.io/gateway-api/echo-basic:v1.6.1',
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
          readinessProbe: { tcpSocket: { port: 3000 }, periodSeconds: 1 },
        }],
      },
    },
  });
  const pod = await until('echo-basic to be ready', async () => {
    const p = await core().readNamespacedPod({ name: 'echo-basic', namespace: NS });
    return isReady(p) ? p : undefined;
  });
  const answer = await getFrom(nodeOf('node-2').netns, `http://${pod.status!.podIP}:3000/conformance`) as unknown as { pod: string; namespace: string; path: string };
  t.like(answer, { pod: 'echo-basic', namespace: NS, path: '/conformance' });
  await core().deleteNamespacedPod({ name: 'echo-basic', namespace: NS, gracePeriodSeconds: 1 });
});

clusterTest('a pod whose network cannot be set up waits in ContainerCreating with the CNI error, and starts once it can', async (t) => {
  const file = join(kubeletStateDir(cluster!.state, nodeOf('node-2')), 'cni', 'weft-node-2', 'ipv4.json');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, 'not json');
  try {
    await core().createNamespacedPod({
      namespace: NS,
      body: { metadata: { name: 'no-net' }, spec: { nodeName: 'node-2', containers: [{ name: 'c', image: 'weft.dev/sleep', command: ['sleep', '600'] }] } },
    });
    const waiting = await until('the sandbox failure in the status', async () => {
      const p = await core().readNamespacedPod({ name: 'no-net', namespace: NS });
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating' ? p : undefined;
    });
    t.regex(waiting.status!.containerStatuses![0].state!.waiting!.message!, /FailedCreatePodSandBox: CNI ADD .*IPAM state/);
    t.is(waiting.status?.conditions?.find((x) => x.type === 'PodReadyToStartContainers')?.status, 'False');
    t.is(waiting.status?.phase, 'Pending');
  } finally {
    writeFileSync(file, good);
  }
  const running = await until('the pod to run once CNI works', async () => {
    const p = await core().readNamespacedPod({ name: 'no-net', namespace: NS });
    return isReady(p) ? p : undefined;
  });
  t.is(running.status?.phase, 'Running');
  await core().deleteNamespacedPod({ name: 'no-net', namespace: NS, gracePeriodSeconds: 0 });
});

clusterTest('a crashing container restarts (restartPolicy Always) and its restartCount and last state say so', async (t) => {
  await core().createNamespacedPod({
    namespace: NS,
    body: { metadata: { name: 'crasher' }, spec: { nodeName: 'node-2', containers: [{ name: 'c', image: 'weft.dev/sh', command: ['sh', '-c', 'sleep 0.3; exit 3'] }] } },
  });
  const restarted = await until('two restarts', async () => {
    const p = await core().readNamespacedPod({ name: 'crasher', namespace: NS });
    return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 ? p : undefined;
  });
  const cs = restarted.status!.containerStatuses![0];
  t.is(cs.lastState?.terminated?.exitCode, 3);
  t.is(restarted.status?.phase, 'Running');
  await core().deleteNamespacedPod({ name: 'crasher', namespace: NS, gracePeriodSeconds: 1 });
});

clusterTest('a restarted kubelet adopts the pods it left running', async (t) => {
  const c = cluster!;
  const node = nodeOf('node-1');
  const before = (await echoPods()).find((p) => p.spec?.nodeName === 'node-1')!;
  const kubelet = c.state.processes.find((p) => p.name === 'kubelet-node-1')!;
  await stopProcess(kubelet);
  t.true(await namespaceExists(podNetns(before)), 'pods outlive their kubelet');
  const again = startKubelet(c.state, node, join(c.opts.stateDir, 'logs'));
  c.state.processes[c.state.processes.indexOf(kubelet)] = again;
  // Rewrite the state so that down stops the new kubelet.
  writeFileSync(join(c.opts.stateDir, 'cluster.json'), JSON.stringify(c.state, null, 2));
  await new Promise((r) => setTimeout(r, 3000));
  const after = await core().readNamespacedPod({ name: before.metadata!.name!, namespace: NS });
  t.true(isReady(after));
  t.is(after.status?.containerStatuses?.[0]?.restartCount, 0);
  t.deepEqual(after.status?.containerStatuses?.[0]?.state?.running?.startedAt, before.status?.containerStatuses?.[0]?.state?.running?.startedAt);
  const answer = await getFrom(node.netns, `http://${after.status!.podIP}:3000/`);
  t.is(answer.env.POD_NAME, before.metadata!.name!);
});

clusterTest('down stops the kubelets and the pods, and removes the node and pod namespaces', async (t) => {
  const c = cluster!;
  const pods = await echoPods();
  const netnses = [...c.state.nodes!.map((n) => n.netns), ...pods.map(podNetns)];
  for (const n of netnses) t.true(await namespaceExists(n), n);
  await c.down();
  cluster = undefined;
  for (const p of c.state.processes) t.false(await isRunning(p), p.name);
  for (const n of netnses) t.false(await namespaceExists(n), n);
  const { stdout } = await run('ip', ['netns', 'list']);
  t.false(stdout.includes(`weft-${c.state.name}-`), stdout);
  t.false(readFileSync('/proc/self/mounts', 'utf8').includes(c.opts.stateDir), 'no bpffs mount of the nodes is left');
});
