// Ingress on Kubernetes, against the real API server: the operator and the node agent (a separate process in the
// node's network namespace) read Ingresses, IngressClasses and TLS Secrets from the API server; both are given the
// same --ingress-* options, so they agree on the address without talking to each other. The operator writes
// status.loadBalancer; the agent serves HTTP and HTTPS (certificate by SNI, over SDS) on that address, announced
// on the node's interface; traffic from the host reaches the backend pod; a rotated Secret changes the certificate
// served, and a deleted Ingress stops being served and its address is withdrawn.
import test from 'ava';
import http from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { silentLogger } from '../src/log/logger.js';
import { Operator } from '../src/kubernetes/operator.js';
import { ipIn } from '../src/devcluster/netns.js';
import { createNodeNetwork, deleteNodeNetwork, type NodeNetwork } from '../src/devcluster/nodes.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { eventually } from './helpers/net.js';
import { serviceForPod, startEchoPod, type TestPod } from './helpers/pods.js';
import { CertFactory, httpsRequest, type CertKey } from './helpers/tls.js';

const unavailable = devClusterUnavailable();
if (unavailable) console.log(`Kubernetes Ingress tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const NS = 'ingress-test';
const SECURE = 'secure.example.com';
const PLAIN = 'plain.example.com';
let cluster: TestCluster | undefined;
let operator: Operator | undefined;
let node: NodeNetwork | undefined;
let agent: AgentProcess | undefined;
const pods: TestPod[] = [];
const certs = new CertFactory();
let objects: k8s.KubernetesObjectApi;
let ingressIp = '';
let firstCert: CertKey;

interface Echo { backend: string; path: string }

function httpGet(host: string, path: string, hostHeader: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: 80, path, agent: false, timeout: 3000, headers: { host: hostHeader } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function tlsSecret(c: CertKey): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; type: string; data: Record<string, string> } {
  return {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'secure-cert', namespace: NS }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(c.cert).toString('base64'), 'tls.key': Buffer.from(c.key).toString('base64') },
  };
}

const ingress = {
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: NS },
  spec: {
    ingressClassName: 'weft',
    tls: [{ hosts: [SECURE], secretName: 'secure-cert' }],
    rules: [SECURE, PLAIN].map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'blue', port: { number: 80 } } } }] } })),
  },
};

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  const prefix = cluster.opts.subnet.split('.').slice(0, 3).join('.');
  ingressIp = `${prefix}.220`;
  // The same options for the operator and the agent, as the Helm chart passes them to both.
  const ingressFlags = ['--ingress-address', ingressIp, '--ingress-dedicated-pool', `${prefix}.224/28`];
  operator = new Operator({ kubeConfig: cluster.kc, logger: silentLogger, identity: 'op', ingress: { sharedAddress: ingressIp, dedicatedPool: `${prefix}.224/28` } });
  operator.start();

  node = await createNodeNetwork(cluster.state, 1);
  pods.push(await startEchoPod(node, 0, 'blue', 3000));
  firstCert = certs.leaf(SECURE, [SECURE]);
  for (const o of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'weft' }, spec: { controller: 'weft.dev/ingress-controller' } },
    ...serviceForPod(NS, 'blue', pods[0].address),
    tlsSecret(firstCert),
    ingress,
  ]) await objects.create(o);

  agent = await startAgentProcess(cluster.state.kubeconfig, node, ['--announce-interface', 'eth0', ...ingressFlags]);
});

test.after.always(async () => {
  await agent?.stop();
  await operator?.stop().catch(() => undefined);
  for (const p of pods) await p.remove().catch(() => undefined);
  if (cluster && node) await deleteNodeNetwork(cluster.state, 1).catch(() => undefined);
  await cluster?.down();
  certs.close();
});

clusterTest('the operator writes the shared address into the Ingress status', async (t) => {
  const lb = await eventually(async () => {
    const live = await objects.read<k8s.KubernetesObject & { status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ports?: Array<{ port: number }> }> } } }>(
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: NS } });
    return live.status?.loadBalancer?.ingress?.length ? live.status.loadBalancer.ingress : undefined;
  }, 20_000, 'Ingress status.loadBalancer');
  t.is(lb.length, 1);
  t.is(lb[0].ip, ingressIp);
  t.deepEqual((lb[0].ports ?? []).map((p) => p.port).sort((a, b) => a - b), [80, 443]);
});

clusterTest('HTTPS with the Secret\'s certificate by SNI, plain HTTP, and the redirect of the TLS host', async (t) => {
  const secure = await eventually(async () => {
    const r = await httpsRequest(443, { address: ingressIp, servername: SECURE, path: '/hello' }).catch(() => undefined);
    return r?.status === 200 ? r : undefined;
  }, 30_000, 'first HTTPS 200 through the Ingress');
  t.is(secure.fingerprint256, firstCert.fingerprint256);
  const echo = JSON.parse(secure.body) as Echo;
  t.is(echo.backend, 'blue');
  t.is(echo.path, '/hello');

  const plain = await httpGet(ingressIp, '/x', PLAIN);
  t.is(plain.status, 200);
  t.is((JSON.parse(plain.body) as Echo).backend, 'blue');
  // A TLS host is redirected to HTTPS by default.
  const redirected = await httpGet(ingressIp, '/x', SECURE);
  t.is(redirected.status, 301);
  t.is(redirected.location, `https://${SECURE}/x`);
  // The announced address is on the node's interface.
  t.true((await ipIn(node!.netns, '-o', 'addr', 'show', 'dev', 'eth0')).includes(`${ingressIp}/32`));
});

clusterTest('a rotated Secret changes the certificate served', async (t) => {
  const next = certs.leaf(SECURE, [SECURE]);
  const live = await objects.read(tlsSecret(firstCert));
  await objects.replace({ ...tlsSecret(next), metadata: { ...live.metadata } });
  const served = await eventually(async () => {
    const r = await httpsRequest(443, { address: ingressIp, servername: SECURE }).catch(() => undefined);
    return r?.status === 200 && r.fingerprint256 === next.fingerprint256 ? r : undefined;
  }, 20_000, 'the new certificate served');
  t.not(served.fingerprint256, firstCert.fingerprint256);
});

clusterTest('a deleted Ingress stops being served and its address is withdrawn', async (t) => {
  await objects.delete(ingress);
  await eventually(async () => !(await ipIn(node!.netns, '-o', 'addr', 'show', 'dev', 'eth0')).includes(`${ingressIp}/32`), 20_000, 'address withdrawn');
  const refused = await httpGet(ingressIp, '/x', PLAIN).then(() => false, () => true);
  t.true(refused, 'nothing answers on the Ingress address any more');
});
