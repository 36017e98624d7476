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

clusterTest('the Node advertises the kubelet API port and its InternalIP, where kube-apiserver reaches the kubelet', async (t) => {
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

clusterTest('pods/log with follow=true streams until the container exits', async (t) => {
  await runPod('follower', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'weft.dev/sh', command: ['sh', '-c', 'echo one; sleep 1.5; echo two; sleep 1; echo three'] }] });
  await until('the container to start', async () => {
    const p = await core().readNamespacedPod({ name: 'follower', namespace: NS });
    return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
  });
  // Started while the container still runs: the answer holds lines printed after the request, and ends with the container.
  const followed = await core().readNamespacedPodLog({ name: 'follower', namespace: NS, follow: true });
  t.is(followed, 'one\ntwo\nthree\n');
  await core().deleteNamespacedPod({ name: 'follower', namespace: NS, gracePeriodSeconds: 0 });
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

async function podEvents(pod: string): Promise<k8s.CoreV1Event[]> {
  return (await core().listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${pod}` })).items;
}

clusterTest('a pod\'s lifecycle is told in Events: Scheduled, Pulled, Created, Started, then Killing on deletion', async (t) => {
  const started = await until('Started', async () => {
    const events = await podEvents('printer');
    return events.some((e) => e.reason === 'Started') ? events : undefined;
  });
  const reasons = started.map((e) => e.reason);
  for (const reason of ['Scheduled', 'Pulled', 'Created', 'Started']) t.true(reasons.includes(reason), `${reason} in ${reasons.join(', ')}`);
  const startedEvent = started.find((e) => e.reason === 'Started')!;
  t.like(startedEvent, { type: 'Normal', message: 'Started container main', source: { component: 'kubelet', host: 'node-1' }, count: 1 });
  t.like(startedEvent.involvedObject, { kind: 'Pod', name: 'printer', namespace: NS, fieldPath: 'spec.containers{main}' });
  t.is(startedEvent.involvedObject.uid, (await core().readNamespacedPod({ name: 'printer', namespace: NS })).metadata!.uid);
  t.is(started.find((e) => e.reason === 'Pulled')?.message, 'Container image "weft.dev/sh" already present on machine');
  // The same events through events.k8s.io/v1.
  const v1 = await cluster!.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: NS, fieldSelector: 'regarding.name=printer' });
  t.true(v1.items.some((e) => e.reason === 'Started' && e.reportingController === 'kubelet'));

  await core().deleteNamespacedPod({ name: 'printer', namespace: NS });
  const killing = await until('Killing', async () => (await podEvents('printer')).find((e) => e.reason === 'Killing'));
  t.is(killing.message, 'Stopping container main');
});

clusterTest('a crash loop repeats one BackOff event with a rising count', async (t) => {
  const backOff = await until('a BackOff event counted twice', async () => {
    const e = (await podEvents('restarter')).find((x) => x.reason === 'BackOff');
    return e && (e.count ?? 0) >= 2 ? e : undefined;
  });
  t.is(backOff.type, 'Warning');
  t.regex(backOff.message!, /^Back-off restarting failed container c in pod restarter_default\(/);
  t.is((await podEvents('restarter')).filter((x) => x.reason === 'BackOff').length, 1);
  await core().deleteNamespacedPod({ name: 'restarter', namespace: NS, gracePeriodSeconds: 0 });
});

clusterTest('a container failing its liveness probe is restarted, with Unhealthy and Killing events', async (t) => {
  // Healthy while /tmp/<pod>-healthy exists: the first instance removes it after a moment, the next ones keep it.
  const flag = `/tmp/weft-liveness-${process.pid}`;
  await runPod('liveness', {
    containers: [{
      name: 'c', image: 'weft.dev/sh',
      command: ['sh', '-c', `if [ -e ${flag}.once ]; then touch ${flag}; else touch ${flag} ${flag}.once; sleep 1; rm -f ${flag}; fi; exec sleep 600`],
      livenessProbe: { exec: { command: ['test', '-e', flag] }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 1 },
    }],
  });
  try {
    const restarted = await until('a restart after the liveness failures', async () => {
      const p = await core().readNamespacedPod({ name: 'liveness', namespace: NS });
      const cs = p.status?.containerStatuses?.[0];
      return (cs?.restartCount ?? 0) >= 1 && cs?.state?.running ? p : undefined;
    }, 90_000);
    const cs = restarted.status!.containerStatuses![0];
    t.is(cs.restartCount, 1, 'healthy after the restart');
    t.true([137, 143].includes(cs.lastState!.terminated!.exitCode), `killed by a signal: ${cs.lastState?.terminated?.exitCode}`);
    const events = await podEvents('liveness');
    const unhealthy = events.find((e) => e.reason === 'Unhealthy');
    t.is(unhealthy?.type, 'Warning');
    t.regex(unhealthy!.message!, /^Liveness probe failed: /);
    t.true((unhealthy?.count ?? 0) >= 2, 'failureThreshold failures before the restart');
    t.is(events.find((e) => e.reason === 'Killing')?.message, 'Container c failed liveness probe, will be restarted');
  } finally {
    await core().deleteNamespacedPod({ name: 'liveness', namespace: NS, gracePeriodSeconds: 0 });
    await until('the liveness pod to go', async () => ((await core().listNamespacedPod({ namespace: NS, fieldSelector: 'metadata.name=liveness' })).items.length ? undefined : true), 30_000);
    for (const f of [flag, `${flag}.once`]) await import('node:fs/promises').then((fs) => fs.rm(f, { force: true }));
  }
});

clusterTest('init containers run to completion in order before the containers, and are reported in initContainerStatuses', async (t) => {
  await runPod('with-init', {
    initContainers: [
      { name: 'first', image: 'weft.dev/sh', command: ['sh', '-c', 'echo "first $(date +%s%N)"; sleep 1'] },
      { name: 'second', image: 'weft.dev/sh', command: ['sh', '-c', 'echo "second $(date +%s%N)"'] },
    ],
    containers: [{ name: 'main', image: 'weft.dev/sh', command: ['sh', '-c', 'echo "main $(date +%s%N)"; exec sleep 600'] }],
  });
  const initializing = await until('the pod initializing', async () => {
    const p = await core().readNamespacedPod({ name: 'with-init', namespace: NS });
    return p.status?.initContainerStatuses?.[0]?.state?.running ? p : undefined;
  });
  t.is(initializing.status?.phase, 'Pending');
  t.like(initializing.status?.conditions?.find((c) => c.type === 'Initialized'), { status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [first second]' });
  t.is(initializing.status?.initContainerStatuses?.[1]?.state?.waiting?.reason, 'PodInitializing');
  t.is(initializing.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');

  const running = await until('the pod running', async () => {
    const p = await core().readNamespacedPod({ name: 'with-init', namespace: NS });
    return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
  });
  t.is(running.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
  for (const s of running.status!.initContainerStatuses!) t.like(s, { ready: true, started: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
  const time = async (container: string) => {
    const text = await core().readNamespacedPodLog({ name: 'with-init', namespace: NS, container });
    return BigInt(/^\w+ (\d+)\n$/.exec(text)![1]);
  };
  const [first, second, main] = [await time('first'), await time('second'), await time('main')];
  t.true(first < second && second < main, `${first} < ${second} < ${main}`);
  t.true(second - first >= 1_000_000_000n, 'second started after first had finished its sleep');
  const events = await podEvents('with-init');
  t.true(events.some((e) => e.reason === 'Started' && e.involvedObject.fieldPath === 'spec.initContainers{first}'));
  await core().deleteNamespacedPod({ name: 'with-init', namespace: NS, gracePeriodSeconds: 0 });
});

clusterTest('a failing init container fails the pod under restartPolicy Never, and its containers never start', async (t) => {
  await runPod('init-fails', {
    restartPolicy: 'Never',
    initContainers: [{ name: 'check', image: 'weft.dev/sh', command: ['sh', '-c', 'exit 7'] }],
    containers: [{ name: 'main', image: 'weft.dev/sh', command: ['sh', '-c', 'echo should not run; exec sleep 600'] }],
  });
  const failed = await until('the pod to fail', async () => {
    const p = await core().readNamespacedPod({ name: 'init-fails', namespace: NS });
    return p.status?.phase === 'Failed' ? p : undefined;
  });
  t.like(failed.status?.initContainerStatuses?.[0]?.state?.terminated, { exitCode: 7, reason: 'Error' });
  t.is(failed.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');
  t.false((await podEvents('init-fails')).some((e) => e.reason === 'Started' && e.involvedObject.fieldPath === 'spec.containers{main}'));
  await core().deleteNamespacedPod({ name: 'init-fails', namespace: NS, gracePeriodSeconds: 0 });
});

clusterTest('what an init container writes to an emptyDir, the container reads; a ConfigMap volume mounted in both stays visible', async (t) => {
  const dir = `/tmp/weft-init-work-${process.pid}`;
  const conf = `/tmp/weft-init-conf-${process.pid}`;
  await core().createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'init-conf' }, data: { greeting: 'hello from the ConfigMap' } } });
  await runPod('init-volume', {
    volumes: [{ name: 'work', emptyDir: {} }, { name: 'conf', configMap: { name: 'init-conf' } }],
    initContainers: [{
      name: 'prepare', image: 'weft.dev/sh', command: ['sh', '-c', `cat ${conf}/greeting > ${dir}/prepared; echo " and the init container" >> ${dir}/prepared; sleep 1.5`],
      volumeMounts: [{ name: 'work', mountPath: dir }, { name: 'conf', mountPath: conf }],
    }],
    containers: [{
      name: 'main', image: 'weft.dev/sh', command: ['sh', '-c', `cat ${dir}/prepared; cat ${conf}/greeting; echo; exec sleep 600`],
      volumeMounts: [{ name: 'work', mountPath: dir }, { name: 'conf', mountPath: conf }],
    }],
  });
  try {
    const log = await until('the container\'s log', async () => {
      const text = await core().readNamespacedPodLog({ name: 'init-volume', namespace: NS, container: 'main' });
      return text.split('\n').length >= 3 ? text : undefined;
    });
    t.is(log, 'hello from the ConfigMap and the init container\nhello from the ConfigMap\n');
  } finally {
    await core().deleteNamespacedPod({ name: 'init-volume', namespace: NS, gracePeriodSeconds: 0 });
    await core().deleteNamespacedConfigMap({ name: 'init-conf', namespace: NS });
    // The mount points, made on the host as empty directories (containers here share its filesystem).
    for (const d of [dir, conf]) await import('node:fs/promises').then((fs) => fs.rmdir(d).catch(() => undefined));
  }
});
