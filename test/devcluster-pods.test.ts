// The dev kubelet seen through the real API server: container logs through pods/log (kube-apiserver proxies to the
// kubelet's port 10250 over TLS, both sides checked against the cluster CA).
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';

const unavailable = devClusterUnavailable();
let cluster: TestCluster | undefined;
const NS = 'default';

test.before(async () => {
  if (!unavailable) cluster = await startTestCluster({ nodes: 1 });
});
test.after.always(async () => {
  await cluster?.down();
});

const clusterTest = unavailable ? test.skip : test.serial;
if (unavailable) console.log(`dev cluster pod tests skipped: ${unavailable}`);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((e: unknown) => { last = e; return undefined; });
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const core = () => cluster!.kc.makeApiClient(k8s.CoreV1Api);

async function runPod(name: string, spec: k8s.V1PodSpec): Promise<void> {
  await core().createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { app: name } }, spec: { terminationGracePeriodSeconds: 1, ...spec } } });
}

clusterTest('the Node advertises the kubelet API port, and the kubelet serves it on its InternalIP', async (t) => {
  const node = await core().readNode({ name: 'node-1' });
  t.is(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
  t.true(node.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === cluster!.state.nodes![0].address));
});

clusterTest('pods/log returns what a container printed, with tailLines, timestamps, limitBytes and sinceSeconds', async (t) => {
  await runPod('printer', { containers: [{ name: 'main', image: 'weft.dev/sh', command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo "line $i"; done; echo "to stderr" >&2; exec sleep 600'] }] });
  const all = await until('the log through the API server', async () => {
    const text = await core().readNamespacedPodLog({ name: 'printer', namespace: NS, container: 'main' });
    return text.includes('to stderr') ? text : undefined;
  });
  t.is(all, 'line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n');
  t.is(await core().readNamespacedPodLog({ name: 'printer', namespace: NS, tailLines: 2 }), 'line 5\nto stderr\n');
  const stamped = await core().readNamespacedPodLog({ name: 'printer', namespace: NS, tailLines: 1, timestamps: true });
  const [stamp, ...rest] = stamped.split(' ');
  t.is(rest.join(' '), 'to stderr\n');
  const pod = await core().readNamespacedPod({ name: 'printer', namespace: NS });
  const started = new Date(pod.status!.containerStatuses![0].state!.running!.startedAt!).getTime();
  // The line's time lies between the container's start (kept to the second) and now.
  t.true(Date.parse(stamp) >= started && Date.parse(stamp) <= Date.now(), `${stamp} vs start ${new Date(started).toISOString()}`);
  t.is(await core().readNamespacedPodLog({ name: 'printer', namespace: NS, limitBytes: 9 }), 'line 1\nli');
  await new Promise((r) => setTimeout(r, 2100));
  t.is(await core().readNamespacedPodLog({ name: 'printer', namespace: NS, sinceSeconds: 1 }), '', 'nothing was printed in the last second');
});

clusterTest('pods/log with previous=true returns the log of the instance before a restart', async (t) => {
  await runPod('restarter', { containers: [{ name: 'c', image: 'weft.dev/sh', command: ['sh', '-c', 'echo "started at $(date +%s%N)"; sleep 0.5; exit 2'] }] });
  await until('a restart', async () => {
    const p = await core().readNamespacedPod({ name: 'restarter', namespace: NS });
    return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
  });
  const previous = await until('the previous log', async () => {
    const text = await core().readNamespacedPodLog({ name: 'restarter', namespace: NS, previous: true });
    return text ? text : undefined;
  });
  t.regex(previous, /^started at \d+\n$/);
  const current = await until('the current log', async () => {
    const text = await core().readNamespacedPodLog({ name: 'restarter', namespace: NS });
    return text ? text : undefined;
  });
  t.regex(current, /^started at \d+\n$/);
  t.not(current, previous);
});

clusterTest('pods/log of a container that has not started says it is waiting', async (t) => {
  await runPod('unstartable', { containers: [{ name: 'web', image: 'nginx:1.27' }] });
  await until('the waiting reason', async () => {
    const p = await core().readNamespacedPod({ name: 'unstartable', namespace: NS });
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotSupported' ? p : undefined;
  });
  const err = await t.throwsAsync(core().readNamespacedPodLog({ name: 'unstartable', namespace: NS }));
  t.regex(`${String((err as { body?: string }).body)} ${err?.message}`, /is waiting to start: ImageNotSupported/);
});
