// `weft dev cluster`: the real control plane comes up in its namespaces, serves the CRDs Weft needs, accepts and
// validates Gateway API objects, and leaves nothing behind when it goes down.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { namespaceExists, linkExists } from '../src/devcluster/netns.js';
import { isRunning } from '../src/devcluster/processes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';

const run = promisify(execFile);
const unavailable = devClusterUnavailable();
let cluster: TestCluster | undefined;

test.before(async () => {
  if (!unavailable) cluster = await startTestCluster();
});
test.after.always(async () => {
  await cluster?.down();
});

const clusterTest = unavailable ? test.skip : test.serial;
if (unavailable) console.log(`dev cluster tests skipped: ${unavailable}`);

clusterTest('the API server answers with the pinned Kubernetes version, and kubectl of that version reaches it', async (t) => {
  const c = cluster!;
  const version = await c.kc.makeApiClient(k8s.VersionApi).getCode();
  t.is(`${version.major}.${version.minor}`, '1.36');
  const { stdout } = await run(c.state.kubectl, ['--kubeconfig', c.state.kubeconfig, 'get', 'namespaces', '-o', 'name']);
  t.true(stdout.split('\n').includes('namespace/default'));
});

clusterTest('Gateway API (standard and experimental) and Cilium policy CRDs are established', async (t) => {
  const api = cluster!.kc.makeApiClient(k8s.ApiextensionsV1Api);
  const names = (await api.listCustomResourceDefinition()).items.map((c) => c.metadata?.name);
  for (const name of ['gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io',
    'tlsroutes.gateway.networking.k8s.io', 'referencegrants.gateway.networking.k8s.io', 'backendtlspolicies.gateway.networking.k8s.io',
    'ciliumnetworkpolicies.cilium.io', 'ciliumclusterwidenetworkpolicies.cilium.io']) {
    t.true(names.includes(name), name);
  }
});

clusterTest('the API server validates Gateway API objects against the CRD schema', async (t) => {
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  const gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g', namespace: 'default' },
    spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] },
  };
  const created: k8s.KubernetesObject = await objects.create(gateway);
  t.is(created.metadata?.generation, 1);
  const bad = { ...gateway, metadata: { name: 'bad', namespace: 'default' }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 70000 }] } };
  const err = await t.throwsAsync(objects.create(bad));
  t.regex(err.message, /port/);
});

clusterTest('the controller manager runs: the default ServiceAccount appears in a new namespace', async (t) => {
  const core = cluster!.kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'sa-check' } } });
  const deadline = Date.now() + 30_000;
  let found = false;
  while (!found && Date.now() < deadline) {
    found = (await core.listNamespacedServiceAccount({ namespace: 'sa-check' })).items.some((s) => s.metadata?.name === 'default');
    if (!found) await new Promise((r) => setTimeout(r, 200));
  }
  t.true(found);
});

clusterTest('down stops every process and removes the namespaces, the host interface and the state', async (t) => {
  const c = cluster!;
  await c.down();
  cluster = undefined;
  for (const p of c.state.processes) t.false(await isRunning(p), p.name);
  t.false(await namespaceExists(c.state.controlPlaneNamespace));
  t.false(await namespaceExists(c.state.bridgeNamespace));
  t.false(await linkExists(c.state.hostInterface));
  t.false(existsSync(c.opts.stateDir));
});
