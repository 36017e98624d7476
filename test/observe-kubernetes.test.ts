// The flow agent's directory from a real API server (etcd + kube-apiserver of the dev cluster, no nodes):
// a Pod's address (written into its status as a kubelet would), its labels, its namespace and the Service
// selecting it name the ends of flows, and follow the API server's changes.
import * as k8s from '@kubernetes/client-node';
import test from 'ava';
import { FlowAgent } from '../src/observe/agent.js';
import { KubernetesDirectory } from '../src/observe/kubernetes-directory.js';
import { silentLogger } from '../src/log/logger.js';
import { devClusterUnavailable, startTestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';
import { client, getFlows, TrustDomain } from './helpers/observe.js';

const unavailable = devClusterUnavailable();

if (unavailable) {
  test('flow directory from the API server', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test('Pods, Services and Namespaces from the API server name the ends of flows, and follow changes', async (t) => {
    const cluster = await startTestCluster();
    t.teardown(() => cluster.down());
    const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'shop', labels: { team: 'a' } } } });
    await core.createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'web-0', labels: { app: 'web', tier: 'front' } }, spec: { serviceAccountName: 'default', containers: [{ name: 'c', image: 'example' }] } } });
    // The address, as the kubelet would write it (the control plane may update the pod meanwhile: retry on conflict).
    await eventually(async () => {
      const pod = await core.readNamespacedPod({ name: 'web-0', namespace: 'shop' });
      await core.replaceNamespacedPodStatus({ name: 'web-0', namespace: 'shop', body: { ...pod, status: { phase: 'Running', podIP: '10.244.3.7', podIPs: [{ ip: '10.244.3.7' }] } } });
      return true;
    }, 10_000, 'the pod status written');
    await core.createNamespacedService({ namespace: 'shop', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } } });
    await core.createNamespacedService({ namespace: 'shop', body: { metadata: { name: 'other' }, spec: { selector: { app: 'other' }, ports: [{ port: 80 }] } } });

    const td = new TrustDomain();
    const agent = await FlowAgent.start({ node: 'node-1', listen: '127.0.0.1:0', mtls: td.material('/weft/agent/node-1') });
    t.teardown(() => agent.stop());
    const directory = new KubernetesDirectory(cluster.kc, 'node-1', silentLogger, (d) => (agent.directory = d));
    t.teardown(() => directory.stop());

    const described = await eventually(() => {
      const e = agent.directory.endpoint('10.244.3.7', 8080, 0);
      return e.pod === 'web-0' && e.services.length > 0 && e;
    }, 30_000, 'the pod in the directory');
    t.like(described, { namespace: 'shop', pod: 'web-0', labels: ['app=web', 'tier=front'], services: ['shop/web'], workload: 'web' });
    t.true(described.identity >= 256, 'a cluster-local identity numbered from the label set');

    agent.ingestDatapath([{ timeNs: process.hrtime.bigint(), kind: 'drop', family: 4, protocol: 6, source: { ip: '10.244.3.7', port: 40000, identity: 0 }, destination: { ip: '10.244.9.9', port: 5432, identity: 2 }, ifindex: 1, direction: 'egress', verdict: 'deny', reason: 'policy-denied', proxyPort: 0 }]);
    const c = client(`127.0.0.1:${agent.observerPort}`, td.material('/weft/observe'));
    t.teardown(() => c.close());
    t.like((await getFlows(c, { pod: ['shop/web-0'] }))[0], { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', source: { pod: 'web-0', identity: described.identity }, destination: { ip: '10.244.9.9', workload: 'world' } });

    // Changes follow: a new label, then the pod gone.
    await core.patchNamespacedPod({ name: 'web-0', namespace: 'shop', body: [{ op: 'add', path: '/metadata/labels/version', value: 'v2' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    await eventually(() => agent.directory.endpoint('10.244.3.7', 1, 0).labels.includes('version=v2'), 15_000, 'the new label');
    await core.deleteNamespacedPod({ name: 'web-0', namespace: 'shop', gracePeriodSeconds: 0 });
    await eventually(() => agent.directory.endpoint('10.244.3.7', 1, 0).pod === '', 15_000, 'the pod gone from the directory');
  });
}
