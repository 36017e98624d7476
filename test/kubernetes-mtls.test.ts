// Mutual authentication on Kubernetes, against the real API server and a two-node dev cluster (real kubelets, pods
// wired by weft-cni). The operator (in this process, --mutual-auth) keeps the CA root in the Secret weft-mtls-ca and
// the trust bundle in a ConfigMap, and signs each node agent's intermediate (a CertificateSigningRequest); each node's
// agent (`weft agent --mutual-auth`, a process in the node's namespace with its own Envoy, authenticated as the
// ServiceAccount weft-agent with a token bound to its Node, under the chart's RBAC) signs its pods' SVIDs through that
// intermediate and serves the mesh listeners; it cannot read the root key. A pod on node-1 sends
// through its node's outbound listener (as an HTTP proxy) to a pod on node-2: the request crosses the nodes over mTLS
// and the backend sees the client's verified SPIFFE ID, never a forged one. The agents also run the datapath
// (--datapath, the maps weft-cni pinned): a pod's plain connection to the other node's pod is redirected into the
// transparent mesh listener and crosses the same way.
import test from 'ava';
import { createHash, X509Certificate } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { createLogger, silentLogger } from '../src/log/logger.js';
import { CA_SECRET_NAME, PREVIOUS_CERT_KEY, TRUST_BUNDLE_CONFIGMAP, TRUST_BUNDLE_KEY } from '../src/kubernetes/mesh-ca.js';
import { PHASE_ANNOTATION, ROTATE_ANNOTATION, SWITCHED_AT_ANNOTATION } from '../src/kubernetes/mesh-ca-rotation.js';
import { MESH_SIGNER_NAME, NODE_LABEL, NODE_NAME_EXTRA, TRUSTED_ROOTS_ANNOTATION } from '../src/kubernetes/mesh-intermediate-signer.js';
import { NodeIntermediateClient } from '../src/kubernetes/node-intermediate.js';
import { applyAgentIdentity, writeAgentKubeconfig } from '../src/devcluster/agent-credentials.js';
import type { MeshCaResult } from '../src/kubernetes/mesh-ca-keeper.js';
import { podMeshHost } from '../src/kubernetes/mesh-view.js';
import { Operator } from '../src/kubernetes/operator.js';
import { agentDatapathArgs } from '../src/devcluster/weft-processes.js';
import { CertificateAuthority } from '../src/mtls/ca.js';
import { devClusterUnavailable, podNetnsOf, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { datapathWithEnvoyUnavailable, envoyPathIfInstalled } from './helpers/envoy-in-netns.js';
import { TCP_ECHO_MAIN, hboneExchange, tcpExchange } from './helpers/mesh-tunnel.js';
import { eventually } from './helpers/net.js';

const run = promisify(execFile);
// The kubelet's pods are wired by weft-cni, which needs the datapath.
const unavailable = devClusterUnavailable() ?? datapathWithEnvoyUnavailable(envoyPathIfInstalled());
if (unavailable) console.log(`Kubernetes mutual authentication tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

const SYS = 'weft-system';
/** Where the operator copies TLS Secrets for the agents, which may list no other Secrets. */
const SECRETS = 'weft-secrets';
/** How long the operator keeps a rotated-out root (the longest intermediate lifetime, 24 h, by default). */
const RETIRE_AFTER_MS = 20_000;
const NS = 'mesh';
const TD = 'cluster.local';
const OUTBOUND = 15002;
const INBOUND = 15443;
const TRANSPARENT = 15003;
const HEALTH_PORT = 19193;
const echoMain = fileURLToPath(new URL('./helpers/echo-main.js', import.meta.url));
/** The raw TCP echo pod's port (no HTTP: it crosses the nodes in the CONNECT tunnel). */
const TCP_PORT = 7000;
const idOf = (sa: string) => `spiffe://${TD}/ns/${NS}/sa/${sa}`;

let cluster: TestCluster | undefined;
let operator: Operator | undefined;
const agents: AgentProcess[] = [];
/** Each node's agent kubeconfig (its ServiceAccount token bound to the Node). */
const agentKubeconfigs: Record<string, string> = {};
let core: k8s.CoreV1Api;
const pods: Record<string, k8s.V1Pod> = {};
const tmp = mkdtempSync(path.join(tmpdir(), 'weft-k8s-mtls-'));

const logger = (name: string) => (process.env.WEFT_TEST_LOG ? createLogger(name) : silentLogger);

function startOperator(namespace: string, identity: string): Operator {
  const op = new Operator({ kubeConfig: cluster!.kc, logger: logger(identity), identity, leaseNamespace: namespace, leaseMs: 3000, renewMs: 500, mutualAuth: { namespace, trustDomain: TD, retireAfterMs: RETIRE_AFTER_MS },
    ...(namespace === SYS ? { tlsSecretsNamespace: SECRETS } : {}) });
  op.start();
  return op;
}

function checked(op: Operator): Promise<MeshCaResult> {
  return new Promise((resolve) => op.meshCa!.once('checked', resolve));
}

/** The HTTP echo container (port 3000), unless another is given. */
async function runPod(name: string, node: string, serviceAccountName: string, container?: k8s.V1Container, labels: Record<string, string> = { app: name }): Promise<k8s.V1Pod> {
  await core.createNamespacedPod({ namespace: NS, body: {
    metadata: { name, labels },
    spec: {
      nodeName: node, serviceAccountName, terminationGracePeriodSeconds: 1,
      containers: [container ?? { name: 'echo', image: 'weft.dev/echo-main', command: [process.execPath, echoMain, name, '3000'], ports: [{ name: 'http', containerPort: 3000 }],
        readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } }],
    },
  } });
  return eventually(async () => {
    const p = await core.readNamespacedPod({ name, namespace: NS });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p.status.podIP ? p : undefined;
  }, 120_000, `pod ${name} to be Ready`).catch(async (err: Error) => {
    const p = await core.readNamespacedPod({ name, namespace: NS });
    throw new Error(`${err.message}: ${JSON.stringify(p.status)}`);
  });
}

/** curl from a network namespace; status 0 when no HTTP answer came. */
async function curl(netns: string, args: string[]): Promise<{ status: number; body: string }> {
  const out = await run('ip', ['netns', 'exec', netns, 'curl', '-s', '-m', '5', '-w', '\n%{http_code}', ...args]).then((r) => r.stdout, (err: { stdout?: string }) => err.stdout || '\n000');
  const lines = out.trimEnd().split('\n');
  return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trim() };
}

/** The certificate chain a node's inbound listener presents for `host` (openssl s_client, no client certificate). */
function servedChain(fromNetns: string, nodeAddress: string, host: string): X509Certificate[] {
  const r = spawnSync('ip', ['netns', 'exec', fromNetns, 'openssl', 's_client', '-connect', `${nodeAddress}:${INBOUND}`, '-servername', host, '-showcerts', '-tls1_3'],
    { input: '', timeout: 10_000, encoding: 'utf8' });
  return [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/** Envoy's stats of a node (Prometheus text, through the agent's health port). */
async function envoyStats(netns: string): Promise<string> {
  // Large: every mesh cluster (source workload × destination port) has its own stats.
  return (await run('ip', ['netns', 'exec', netns, 'curl', '-sf', `http://127.0.0.1:${HEALTH_PORT}/metrics/envoy`], { maxBuffer: 256 * 1024 * 1024 })).stdout;
}

/**
 * The sum of the Prometheus samples whose metric name ends with `suffix` and whose line holds `labels`. By suffix:
 * Envoy's tag extraction cuts a cluster name at its first dot, so the rest of a mesh cluster's name (its SPIFFE ID
 * and host) ends up in the metric name.
 */
function metric(text: string, prefix: string, suffix: string, labels: string): number {
  return text.split('\n').filter((l) => {
    const name = l.split('{')[0];
    return name.startsWith(prefix) && name.endsWith(suffix) && l.includes(labels);
  }).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}
const sslLines = (text: string) => text.split('\n').filter((l) => l.includes('ssl') && !l.startsWith('#')).join('\n');

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster({ nodes: 2 });
  core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  for (const name of [SYS, NS, 'bad-ca']) await core.createNamespace({ body: { metadata: { name } } });
  for (const name of ['frontend', 'backend', 'tcpecho', 'replica']) await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
  // Started together, waited for together.
  [pods.frontend, pods.backend, pods.tcpecho, pods.replica1, pods.replica2, pods.frontend2, pods.plain] = await Promise.all([
    runPod('frontend', 'node-1', 'frontend'),
    runPod('backend', 'node-2', 'backend'),
    runPod('tcpecho', 'node-2', 'tcpecho', { name: 'tcpecho', image: 'weft.dev/tcp-echo-main', command: [process.execPath, TCP_ECHO_MAIN, 'tcpecho', String(TCP_PORT)],
      ports: [{ name: 'tcp', containerPort: TCP_PORT }], readinessProbe: { tcpSocket: { port: 'tcp' }, periodSeconds: 1 } }),
    // A Deployment's replicas: one label set (one identity), one pod on each node.
    runPod('replica-1', 'node-1', 'replica', undefined, { app: 'replica' }),
    runPod('replica-2', 'node-2', 'replica', undefined, { app: 'replica' }),
    // The frontend's workload on the backend's node too (same labels and ServiceAccount).
    runPod('frontend-2', 'node-2', 'frontend', undefined, { app: 'frontend' }),
    // A client the backend's policy selects whose own egress HTTP rules keep its connections out of the mesh.
    runPod('plain', 'node-1', 'frontend', undefined, { app: 'frontend', role: 'plain' }),
  ]);
  operator = startOperator(SYS, 'op-1');
  // The agents' own identity, as `weft dev cluster up --mutual-auth` and the chart give it.
  await applyAgentIdentity(cluster.kc, SYS, SECRETS);
  for (const node of cluster.state.nodes!) {
    agentKubeconfigs[node.name] = await writeAgentKubeconfig(cluster.kc, SYS, node, tmp);
    // With the datapath: the agents also read network policies, and police mesh requests by them; pods enter the
    // mesh transparently.
    agents.push(await startAgentProcess(agentKubeconfigs[node.name], node, [...agentDatapathArgs(cluster.state, node), '--mutual-auth', '--trust-domain', TD, '--ca-namespace', SYS, '--tls-secrets-namespace', SECRETS, '--no-flows',
      '--mesh-outbound-port', String(OUTBOUND), '--mesh-inbound-port', String(INBOUND), '--mesh-transparent-port', String(TRANSPARENT), '--health-port', String(HEALTH_PORT)]));
  }
});

test.after.always(async () => {
  for (const a of agents) await a.stop();
  await operator?.stop();
  await cluster?.down();
  rmSync(tmp, { recursive: true, force: true });
});

clusterTest('the leader operator creates the CA root Secret and publishes its trust bundle; a new operator keeps both', async (t) => {
  const first = operator!.meshCa!.last?.fingerprint256 ? operator!.meshCa!.last : await checked(operator!);
  t.falsy(first.error);
  const secret = await core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS });
  t.is(secret.type, 'Opaque', 'not a TLS Secret: the Gateway informers never see the root key');
  const root = new X509Certificate(Buffer.from(secret.data!['tls.crt'], 'base64'));
  t.true(root.ca);
  t.is(root.subjectAltName, `URI:spiffe://${TD}`);
  t.is(first.fingerprint256, root.fingerprint256);
  const bundle = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: SYS });
  t.is(bundle.data?.[TRUST_BUNDLE_KEY], Buffer.from(secret.data!['tls.crt'], 'base64').toString(), 'the bundle is the root\'s certificate');
  t.notRegex(bundle.data![TRUST_BUNDLE_KEY], /PRIVATE KEY/);

  // Another leader (the first stopped): the same root, the Secret not rewritten.
  await operator!.stop();
  operator = startOperator(SYS, 'op-2');
  const again = await checked(operator);
  t.like(again, { fingerprint256: first.fingerprint256, created: false, bundleWritten: false });
  t.is((await core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS })).metadata?.resourceVersion, secret.metadata?.resourceVersion);
});

clusterTest('a CA Secret the user supplied is validated as supplied files are, and never overwritten', async (t) => {
  const other = CertificateAuthority.generate({ trustDomain: 'other.example' });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await core.createNamespacedSecret({ namespace: 'bad-ca', body: { metadata: { name: CA_SECRET_NAME }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(other.root.pem), 'tls.key': b64(other.root.privateKeyPem()) } } });
  const op = startOperator('bad-ca', 'op-bad');
  try {
    const r = await checked(op);
    t.regex(r.error ?? '', /^Secret bad-ca\/weft-mtls-ca certificate: its SPIFFE ID spiffe:\/\/other\.example is not of trust domain cluster\.local$/);
    const live = await core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: 'bad-ca' });
    t.is(live.data!['tls.crt'], b64(other.root.pem), 'left as the user wrote it');
    await t.throwsAsync(core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: 'bad-ca' }), undefined, 'no bundle from a rejected root');
    // A key missing (an Opaque Secret: the API server itself requires both keys of a TLS one): the error names the field.
    await core.deleteNamespacedSecret({ name: CA_SECRET_NAME, namespace: 'bad-ca' });
    await core.createNamespacedSecret({ namespace: 'bad-ca', body: { metadata: { name: CA_SECRET_NAME }, type: 'Opaque', data: { 'tls.crt': live.data!['tls.crt'] } } });
    const next = await eventually(async () => {
      const x = await checked(op);
      return x.error?.includes('tls.key') ? x : undefined;
    }, 60_000, 'the missing key reported');
    t.regex(next.error!, /^Secret bad-ca\/weft-mtls-ca: data\.tls\.key is missing/);
  } finally {
    await op.stop();
  }
});

// First of the mesh tests: the node-to-node connection is new here, so both Envoys count its handshake.
clusterTest('a pod\'s plain connection to a pod on another node enters the mesh transparently: redirected by the datapath, over mTLS', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const from = podNetnsOf(cluster!, pods.frontend);
  const url = `http://${pods.backend.status!.podIP}:3000/transparent`;
  const listener = `0.0.0.0_${INBOUND}`;
  const inboundBefore = metric(await envoyStats(node2.netns), 'envoy_listener_', '_ssl_handshake', listener);
  const outboundBefore = metric(await envoyStats(node1.netns), 'envoy_cluster_', '_ssl_handshake', 'mesh-out|');
  // No proxy option: curl connects to the backend pod's own address and port.
  const answer = await eventually(async () => {
    const r = await curl(from, ['-H', `x-forwarded-client-cert: By=x;URI=${idOf('admin')}`, url]);
    // Until the redirect is in place the request goes straight to the pod, with the forged header only.
    return r.status === 200 && r.body.includes(';Hash=') ? r : undefined;
  }, 60_000, 'the first plain request redirected into the mesh');
  const echo = JSON.parse(answer.body) as { backend: string; path: string; headers: Record<string, string> };
  t.is(echo.backend, 'backend');
  t.is(echo.path, '/transparent');
  // The verified identity of the frontend's SVID, not the header the pod forged.
  t.regex(echo.headers['x-forwarded-client-cert'], new RegExp(`^By=${idOf('backend')};Hash=[0-9a-f]{64};URI=${idOf('frontend')}$`));

  // Through node-1's transparent listener, then TLS handshakes on both nodes.
  const outbound = await envoyStats(node1.netns);
  t.true(metric(outbound, 'envoy_listener_', '_downstream_cx_total', `0.0.0.0_${TRANSPARENT}`) >= 1, outbound.split('\n').filter((l) => l.includes(String(TRANSPARENT))).join('\n'));
  t.true(metric(outbound, 'envoy_cluster_', '_ssl_handshake', 'mesh-out|') > outboundBefore, sslLines(outbound));
  const inbound = await envoyStats(node2.netns);
  t.true(metric(inbound, 'envoy_listener_', '_ssl_handshake', listener) > inboundBefore, sslLines(inbound));
});

clusterTest('replicas of one identity on both nodes: the remote one is reached over mTLS, the local one directly', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const from = podNetnsOf(cluster!, pods.frontend);
  const url = (pod: k8s.V1Pod) => `http://${pod.status!.podIP}:3000/replica`;
  const listener = `0.0.0.0_${INBOUND}`;
  const inboundBefore = metric(await envoyStats(node2.netns), 'envoy_listener_', '_downstream_cx_total', listener);
  const transparentBefore = metric(await envoyStats(node1.netns), 'envoy_listener_', '_downstream_cx_total', `0.0.0.0_${TRANSPARENT}`);
  const remote = await eventually(async () => {
    const r = await curl(from, [url(pods.replica2)]);
    return r.status === 200 && r.body.includes(';Hash=') ? r : undefined;
  }, 60_000, 'the remote replica reached through the mesh');
  const echo = JSON.parse(remote.body) as { backend: string; headers: Record<string, string> };
  t.is(echo.backend, 'replica-2');
  t.regex(echo.headers['x-forwarded-client-cert'], new RegExp(`^By=${idOf('replica')};Hash=[0-9a-f]{64};URI=${idOf('frontend')}$`));
  t.true(metric(await envoyStats(node2.netns), 'envoy_listener_', '_downstream_cx_total', listener) > inboundBefore, 'a connection to node-2\'s inbound mTLS listener');
  const transparentAfter = metric(await envoyStats(node1.netns), 'envoy_listener_', '_downstream_cx_total', `0.0.0.0_${TRANSPARENT}`);
  t.true(transparentAfter > transparentBefore);

  // The replica on the frontend's own node: straight to the pod (no Envoy, so no XFCC), and not through the
  // transparent listener.
  for (let i = 0; i < 3; i++) {
    const local = await curl(from, [url(pods.replica1)]);
    t.is(local.status, 200);
    const e = JSON.parse(local.body) as { backend: string; headers: Record<string, string> };
    t.is(e.backend, 'replica-1');
    t.false('x-forwarded-client-cert' in e.headers);
  }
  t.is(metric(await envoyStats(node1.netns), 'envoy_listener_', '_downstream_cx_total', `0.0.0.0_${TRANSPARENT}`), transparentAfter);
});

clusterTest('a pod on node-1 reaches a pod on node-2 over mTLS between the nodes\' Envoys: the backend sees the client\'s verified SPIFFE ID', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const host = podMeshHost(NS, 'backend', 3000);
  const from = podNetnsOf(cluster!, pods.frontend);
  const viaMesh = (headers: string[] = []) => curl(from, ['-x', `http://${node1.address}:${OUTBOUND}`, ...headers.flatMap((h) => ['-H', h]), `http://${host}/hello`]);
  const answer = await eventually(async () => {
    const r = await viaMesh();
    return r.status === 200 ? r : undefined;
  }, 60_000, 'the first request through the mesh');
  const echo = JSON.parse(answer.body) as { backend: string; path: string; headers: Record<string, string> };
  t.is(echo.backend, 'backend');
  t.is(echo.path, '/hello');
  const xfcc = echo.headers['x-forwarded-client-cert'];
  t.regex(xfcc, new RegExp(`^By=${idOf('backend')};Hash=[0-9a-f]{64};URI=${idOf('frontend')}$`));

  // The identity is the SVID node-1's agent issued for the frontend's ServiceAccount (its inbound listener presents
  // the same Secret): XFCC's Hash is that certificate's SHA-256, and it chains to the root of the CA Secret through
  // node-1's own intermediate. The backend's SVID (node-2's listener) chains to the same root through node-2's.
  const bundlePem = (await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: SYS })).data![TRUST_BUNDLE_KEY];
  const root = new X509Certificate(bundlePem);
  const [frontLeaf, frontIntermediate] = servedChain(node2.netns, node1.address, podMeshHost(NS, 'frontend', 3000));
  t.is(frontLeaf.subjectAltName, `URI:${idOf('frontend')}`);
  t.is(xfcc.match(/Hash=([0-9a-f]+)/)![1], createHash('sha256').update(frontLeaf.raw).digest('hex'));
  const [backLeaf, backIntermediate] = servedChain(node1.netns, node2.address, host);
  t.is(backLeaf.subjectAltName, `URI:${idOf('backend')}`);
  for (const [leaf, intermediate] of [[frontLeaf, frontIntermediate], [backLeaf, backIntermediate]]) {
    t.true(leaf.verify(intermediate.publicKey));
    t.true(intermediate.verify(root.publicKey));
    t.true(intermediate.ca);
  }
  t.not(frontIntermediate.fingerprint256, backIntermediate.fingerprint256, 'each agent signs through an intermediate of its own');
  writeFileSync(path.join(tmp, 'bundle.pem'), bundlePem);
  writeFileSync(path.join(tmp, 'intermediate.pem'), frontIntermediate.toString());
  writeFileSync(path.join(tmp, 'leaf.pem'), frontLeaf.toString());
  const verified = await run('openssl', ['verify', '-CAfile', path.join(tmp, 'bundle.pem'), '-untrusted', path.join(tmp, 'intermediate.pem'), path.join(tmp, 'leaf.pem')]);
  t.regex(verified.stdout, /leaf\.pem: OK/);

  // A forged header from the pod is replaced by what node-2's Envoy verified.
  const forged = await viaMesh([`x-forwarded-client-cert: By=x;URI=${idOf('admin')}`]);
  t.is(forged.status, 200);
  t.regex((JSON.parse(forged.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], new RegExp(`;URI=${idOf('frontend')}$`));

  // Envoy's TLS stats: node-2's inbound listener completed handshakes with a client certificate; node-1's mesh
  // cluster opened TLS connections upstream.
  const inbound = await envoyStats(node2.netns);
  const listener = `0.0.0.0_${INBOUND}`;
  t.true(metric(inbound, 'envoy_listener_', '_ssl_handshake', listener) >= 1, sslLines(inbound));
  t.is(metric(inbound, 'envoy_listener_', '_ssl_fail_verify_error', listener), 0);
  const outbound = await envoyStats(node1.netns);
  t.true(metric(outbound, 'envoy_cluster_', '_ssl_handshake', 'mesh-out|') >= 1, sslLines(outbound));

  // The agent reports the expiry of the SVIDs it serves (one hour, renewed at half-life) and of the bundle's root.
  const agentMetrics = (await run('ip', ['netns', 'exec', node1.netns, 'curl', '-sf', `http://127.0.0.1:${HEALTH_PORT}/metrics`])).stdout;
  const expiry = Number(new RegExp(`^weft_certificate_expiry_seconds\\{kind="svid",name="${idOf('frontend')}"\\} (-?\\d+)$`, 'm').exec(agentMetrics)?.[1]);
  t.true(expiry > 1700 && expiry <= 3600, `${expiry}`);
  t.regex(agentMetrics, /^weft_certificate_expiry_seconds\{kind="bundle",name="[^"]*Weft root CA cluster\.local[^"]*"\} \d+$/m);
});

clusterTest('the root key stays with the operator: an agent\'s credentials get 403 on the CA Secret; its intermediate is the one the operator signed for its request, and others\' requests are denied', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const kcOf = (node: string) => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(agentKubeconfigs[node]);
    return kc;
  };
  // The API server's answer to the agent's identity (the ServiceAccount weft-agent, the chart's rules).
  const denied = await t.throwsAsync(kcOf(node1.name).makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS }));
  t.is((denied as { code?: number }).code, 403, denied?.message);
  t.regex(denied?.message ?? '', /system:serviceaccount:weft-system:weft-agent/);
  // Nor by listing: the agent lists TLS Secrets only in the secrets namespace, where the operator copies them.
  const agentCore = kcOf(node1.name).makeApiClient(k8s.CoreV1Api);
  for (const list of [() => agentCore.listNamespacedSecret({ namespace: SYS }), () => agentCore.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/tls' })]) {
    const refused = await t.throwsAsync(list());
    t.is((refused as { code?: number }).code, 403, refused?.message);
  }
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const tlsSecret = CertificateAuthority.generate({ trustDomain: TD }).root;
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'site-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(tlsSecret.pem), 'tls.key': b64(tlsSecret.privateKeyPem()) } } });
  const copy = await eventually(async () => (await agentCore.listNamespacedSecret({ namespace: SECRETS })).items.find((x) => x.metadata?.name === `${NS}.site-tls`), 30_000, 'the copy the agent may read');
  t.is(copy.data?.['tls.crt'], b64(tlsSecret.pem));
  t.like(copy.metadata?.annotations, { 'weft.dev/source-namespace': NS, 'weft.dev/source-name': 'site-tls' });
  t.false((await agentCore.listNamespacedSecret({ namespace: SECRETS })).items.some((x) => x.metadata?.name?.startsWith(`${SYS}.`) || x.type !== 'kubernetes.io/tls'), 'only TLS Secrets are copied: never the CA');
  await core.deleteNamespacedSecret({ name: 'site-tls', namespace: NS });
  await eventually(async () => ((await agentCore.listNamespacedSecret({ namespace: SECRETS })).items.some((x) => x.metadata?.name === `${NS}.site-tls`) ? undefined : true), 30_000, 'the copy removed with its source');

  const bundlePem = (await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: SYS })).data![TRUST_BUNDLE_KEY];
  const root = new X509Certificate(Buffer.from((await core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS })).data!['tls.crt'], 'base64'));
  writeFileSync(path.join(tmp, 'bundle.pem'), bundlePem);
  const certificates = cluster!.kc.makeApiClient(k8s.CertificatesV1Api);
  const csrs = (await certificates.listCertificateSigningRequest({ fieldSelector: `spec.signerName=${MESH_SIGNER_NAME}` })).items;
  for (const [node, pod] of [[node1, 'frontend'], [node2, 'backend']] as const) {
    // The newest signed request of the node: made by its agent (the API server recorded the token's node), approved.
    const mine = csrs.filter((c) => c.metadata?.labels?.[NODE_LABEL] === node.name && c.status?.certificate)
      .sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
    const csr = mine.at(-1);
    t.truthy(csr, `a signed request of ${node.name}`);
    t.is(csr!.spec.username, `system:serviceaccount:${SYS}:weft-agent`);
    t.deepEqual(csr!.spec.extra?.[NODE_NAME_EXTRA], [node.name]);
    t.true(csr!.status!.conditions!.some((c) => c.type === 'Approved' && c.status === 'True'));
    const signed = new X509Certificate(Buffer.from(csr!.status!.certificate!, 'base64'));
    // The issuer is the operator's root; the node's listener presents exactly that intermediate.
    t.true(signed.checkIssued(root) && signed.verify(root.publicKey));
    const [leaf, served] = servedChain(node === node1 ? node2.netns : node1.netns, node.address, podMeshHost(NS, pod, 3000));
    t.is(served.fingerprint256, signed.fingerprint256);
    t.true(leaf.verify(signed.publicKey));
    const file = path.join(tmp, `intermediate-${node.name}.pem`);
    writeFileSync(file, signed.toString());
    t.regex((await run('openssl', ['verify', '-CAfile', path.join(tmp, 'bundle.pem'), file])).stdout, /: OK/);
    const text = (await run('openssl', ['x509', '-in', file, '-noout', '-text'])).stdout;
    t.regex(text, /CA:TRUE, pathlen:0/);
    t.regex(text, /Permitted:\s+URI:cluster\.local/);
    t.regex(text, new RegExp(`Subject: .*node ${node.name}`));
  }

  // Requests the operator denies: the admin (not the agents' ServiceAccount), and node-2's agent asking for node-1.
  await t.throwsAsync(new NodeIntermediateClient(cluster!.kc, node1.name, TD).request(3_600_000), { message: /Denied \(NotTheNodeAgent\): requested by .*not the node agents' ServiceAccount/ });
  await t.throwsAsync(new NodeIntermediateClient(kcOf(node2.name), node1.name, TD).request(3_600_000),
    { message: /Denied \(NotTheNodeAgent\): the requester's token is bound to node node-2, not node-1/ });
});

clusterTest('only the node\'s pods enter the mesh, and node-2 lets no client without an SVID in', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const host = podMeshHost(NS, 'backend', 3000);
  // The node itself is no workload: the outbound listener has no filter chain for its address.
  t.is((await curl(node1.netns, ['-x', `http://${node1.address}:${OUTBOUND}`, `http://${host}/`])).status, 0);
  // Straight to node-2's inbound listener without a client certificate: the connection is counted, the TLS
  // handshake is not completed.
  const listener = `0.0.0.0_${INBOUND}`;
  const count = async () => {
    const text = await envoyStats(node2.netns);
    return { connections: metric(text, 'envoy_listener_', '_downstream_cx_total', listener), handshakes: metric(text, 'envoy_listener_', '_ssl_handshake', listener), text };
  };
  const before = await count();
  t.is((await curl(node1.netns, ['-k', '--resolve', `${host}:${INBOUND}:${node2.address}`, `https://${host}:${INBOUND}/`])).status, 0);
  const after = await eventually(async () => {
    const c = await count();
    return c.connections > before.connections ? c : undefined;
  }, 10_000, 'the refused connection in the stats');
  t.is(after.handshakes, before.handshakes, sslLines(after.text));
});

clusterTest('raw TCP from a pod to a pod on another node crosses in an HTTP/2 CONNECT tunnel inside the mTLS, with the source pod\'s SVID; a client without a valid SVID is refused', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const from = podNetnsOf(cluster!, pods.frontend);
  const target = pods.tcpecho.status!.podIP!;
  const tunnels = async () => metric(await envoyStats(node1.netns), 'envoy_tcp_', '_downstream_cx_total', 'envoy_tcp_prefix="mesh-tunnel"');
  const upgrades = async () => metric(await envoyStats(node2.netns), 'envoy_http_', '_downstream_cx_upgrades_total', 'envoy_http_conn_manager_prefix="mesh-inbound"');
  const [tunnelsBefore, upgradesBefore] = [await tunnels(), await upgrades()];
  // No HTTP: a TLS record header and a byte above 0x7f. The echo answers with the peer it saw.
  const line = '\u0016\u0003\u0001 raw bytes \u00fe';
  const answer = await eventually(async () => {
    const r = await tcpExchange(from, { host: target, port: TCP_PORT, localAddress: pods.frontend.status!.podIP!, line });
    // Until the redirect is in place the connection goes straight to the pod, which then sees the frontend's address.
    return r.reply && !r.reply.includes(pods.frontend.status!.podIP!) ? r : undefined;
  }, 60_000, 'a raw TCP exchange through the tunnel');
  // The pod's peer is node-2's Envoy, which took the bytes out of the tunnel (from the node's address towards its pods,
  // their gateway); they came back unchanged.
  t.is(answer.reply, `tcpecho ${node2.podCidr.replace(/\.0\/24$/, '.1')} ${line}`);

  // Node-1: the transparent listener's tcp_proxy opened the tunnel over its mesh cluster for the tcpecho pod, with TLS.
  const outbound = await envoyStats(node1.netns);
  t.true(await tunnels() > tunnelsBefore, outbound.split('\n').filter((l) => l.includes('mesh-tunnel')).join('\n'));
  t.true(metric(outbound, 'envoy_cluster_', `_${TCP_PORT}_tcpecho_${NS}_ssl_handshake`, 'mesh-out|') >= 1, sslLines(outbound));
  // Node-2: TLS handshakes on the inbound listener, the CONNECT terminated there (an upgrade of its connection manager).
  const inbound = await envoyStats(node2.netns);
  t.true(metric(inbound, 'envoy_listener_', '_ssl_handshake', `0.0.0.0_${INBOUND}`) >= 1, sslLines(inbound));
  t.true(await upgrades() > upgradesBefore, inbound.split('\n').filter((l) => l.includes('upgrades')).join('\n'));

  // A client that opens the tunnel itself, from node-1, is refused at the handshake without an SVID, or with one of
  // another CA for the frontend's SPIFFE ID.
  const hbone = (cert?: { chainPem(): string; privateKeyPem(): string }) => hboneExchange(node1.netns, { address: node2.address, port: INBOUND, serverName: podMeshHost(NS, 'tcpecho', TCP_PORT),
    authority: `${target}:${TCP_PORT}`, line, ...(cert ? { cert: cert.chainPem(), key: cert.privateKeyPem() } : {}) });
  t.deepEqual(await hbone(), { error: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  t.deepEqual(await hbone(CertificateAuthority.generate({ trustDomain: TD }).issue(idOf('frontend'))), { error: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
});

clusterTest('a port requiring authentication without HTTP rules: mesh peers (from either node) allowed, a plaintext client refused', async (t) => {
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  type Obj = k8s.KubernetesObject & { metadata: { name: string; namespace: string } };
  const policy: Obj = {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'backend-auth-l4', namespace: NS },
    spec: {
      endpointSelector: { matchLabels: { app: 'backend' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'frontend' } }], authentication: { mode: 'required' }, toPorts: [{ ports: [{ port: '3000', protocol: 'TCP' }] }] }],
    },
  } as Obj;
  // The plain client's egress HTTP rule: its connections to the backend go through node-1's L7 policy listener,
  // which forwards them in plaintext (the source's own egress rules keep precedence over the mesh).
  const egress: Obj = {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'plain-egress', namespace: NS },
    spec: {
      endpointSelector: { matchLabels: { role: 'plain' } },
      egress: [{ toEndpoints: [{ matchLabels: { app: 'backend' } }], toPorts: [{ ports: [{ port: '3000', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/.*' }] } }] }],
    },
  } as Obj;
  await objects.create(policy);
  await objects.create(egress);
  const url = `http://${pods.backend.status!.podIP}:3000/auth-l4`;
  try {
    // Plaintext from a peer the rule selects: the backend's datapath sends it to node-2's proxy, which refuses it.
    const refused = await eventually(async () => {
      const r = await curl(podNetnsOf(cluster!, pods.plain), [url]);
      return r.status === 403 ? r : undefined;
    }, 60_000, 'the plaintext client refused');
    t.is(refused.body, 'Access denied');

    // The frontend on node-1 (transparently through the mesh): allowed, as its verified SPIFFE ID. Waited for: node-2's
    // inbound listener takes the policy's mesh route (and its cluster) in an update of its own.
    const xfccOf = (r: { body: string }) => (JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'];
    const meshed = await eventually(async () => {
      const r = await curl(podNetnsOf(cluster!, pods.frontend), [url]);
      return r.status === 200 ? r : undefined;
    }, 30_000, 'the frontend through the mesh under the policy');
    t.regex(xfccOf(meshed), new RegExp(`^By=${idOf('backend')};Hash=[0-9a-f]{64};URI=${idOf('frontend')}$`));
    // The frontend's workload on the backend's own node: its plain connection is sent through the mesh too (through
    // node-2's own inbound listener), so it authenticates instead of being refused.
    const sameNode = await eventually(async () => {
      const r = await curl(podNetnsOf(cluster!, pods.frontend2), [url]);
      return r.status === 200 ? r : undefined;
    }, 60_000, 'the same-node client through the mesh');
    t.regex(xfccOf(sameNode), new RegExp(`;URI=${idOf('frontend')}$`));
    // The replica on node-2 (not selected by the rule): refused at L3/L4, no answer.
    t.is((await curl(podNetnsOf(cluster!, pods.replica2), [url])).status, 0);
  } finally {
    await objects.delete(policy).catch(() => undefined);
    await objects.delete(egress).catch(() => undefined);
  }
  // Gone on node-2 before the next test: the replica's plaintext gets through again.
  await eventually(async () => ((await curl(podNetnsOf(cluster!, pods.replica2), [url])).status === 200 ? true : undefined), 60_000, 'the policy removed');
});

/** A CiliumNetworkPolicy on the backend: the frontend, authenticated, may GET `paths` on port 3000. */
function authPolicy(paths: string[], resourceVersion?: string): k8s.KubernetesObject & { metadata: { name: string; namespace: string } } {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'backend-auth', namespace: NS, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      endpointSelector: { matchLabels: { app: 'backend' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'frontend' } }], authentication: { mode: 'required' }, toPorts: [{ ports: [{ port: '3000', protocol: 'TCP' }], rules: { http: paths.map((p) => ({ method: 'GET', path: p })) } }] }],
    },
  } as k8s.KubernetesObject & { metadata: { name: string; namespace: string } };
}

clusterTest('a CiliumNetworkPolicy requiring authentication polices mesh requests by the verified SPIFFE ID; an edit applies to the next request', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const host = podMeshHost(NS, 'backend', 3000);
  const from = podNetnsOf(cluster!, pods.frontend);
  const self = podNetnsOf(cluster!, pods.backend);
  const viaMesh = (path: string, netns = from, node = node1) => curl(netns, ['-x', `http://${node.address}:${OUTBOUND}`, `http://${host}${path}`]);
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  await objects.create(authPolicy(['/hello']));
  try {
    // Before the policy, every path answered 200 (the test above): the first 403 is the policy applied.
    const denied = await eventually(async () => {
      const r = await viaMesh('/other');
      return r.status === 403 ? r : undefined;
    }, 60_000, 'the policy applied to mesh requests');
    t.is(denied.body, 'Access denied');
    const allowed = await viaMesh('/hello');
    t.is(allowed.status, 200);
    t.regex((JSON.parse(allowed.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], new RegExp(`;URI=${idOf('frontend')}$`));
    // The same through the transparent path (a plain request to the backend pod's address): the policy decides by
    // the SPIFFE ID the mesh verified.
    const plain = (path: string) => curl(from, [`http://${pods.backend.status!.podIP}:3000${path}`]);
    const plainAllowed = await plain('/hello');
    t.is(plainAllowed.status, 200);
    t.regex((JSON.parse(plainAllowed.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], new RegExp(`;URI=${idOf('frontend')}$`));
    t.like(await plain('/other'), { status: 403, body: 'Access denied' });
    // The backend's own workload (its SVID, through node-2's Envoy) is not the policy's peer: refused on the allowed path too.
    const stranger = await viaMesh('/hello', self, node2);
    t.is(stranger.status, 403);
    t.is(stranger.body, 'Access denied');

    // The edit: /other allowed, /hello no longer.
    const live = await objects.read(authPolicy([]));
    await objects.replace(authPolicy(['/other'], live.metadata?.resourceVersion));
    await eventually(async () => ((await viaMesh('/other')).status === 200 ? true : undefined), 60_000, 'the edited policy applied');
    const now = await viaMesh('/hello');
    t.is(now.status, 403);
    t.is(now.body, 'Access denied');
  } finally {
    await objects.delete(authPolicy([])).catch(() => undefined);
  }
});

/** A CiliumNetworkPolicy on the TCP echo pod: pods labelled `app: <from>` may connect to its port, authenticated (no HTTP rules). */
function tcpAuthPolicy(from: string, resourceVersion?: string): k8s.KubernetesObject & { metadata: { name: string; namespace: string } } {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'tcpecho-auth', namespace: NS, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      endpointSelector: { matchLabels: { app: 'tcpecho' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: from } }], authentication: { mode: 'required' }, toPorts: [{ ports: [{ port: String(TCP_PORT), protocol: 'TCP' }] }] }],
    },
  } as k8s.KubernetesObject & { metadata: { name: string; namespace: string } };
}

clusterTest('a CiliumNetworkPolicy requiring authentication on a TCP port (no HTTP rules): node-2 lets the tunnel in by the verified SPIFFE ID; an edit that drops the frontend refuses it', async (t) => {
  const [, node2] = cluster!.state.nodes!;
  const from = podNetnsOf(cluster!, pods.frontend);
  const send = () => tcpExchange(from, { host: pods.tcpecho.status!.podIP!, port: TCP_PORT, localAddress: pods.frontend.status!.podIP!, line: 'ping' });
  // The policy's RBAC on node-2's inbound listener (the mesh route of the port) counts its decisions; the mesh's own
  // route, before the policy, has none.
  const allowedCount = async () => metric(await envoyStats(node2.netns), 'envoy_http_', '_rbac_allowed', 'envoy_http_conn_manager_prefix="mesh-inbound"');
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster!.kc);
  const before = await allowedCount();
  await objects.create(tcpAuthPolicy('frontend'));
  try {
    const reply = `tcpecho ${node2.podCidr.replace(/\.0\/24$/, '.1')} ping`;
    await eventually(async () => ((await send()).reply === reply && await allowedCount() > before ? true : undefined), 60_000, 'the tunnel let in by the policy\'s RBAC on node-2');
    t.deepEqual(await send(), { reply });
    // The edit: only the backend's pods may connect; the frontend's connection is refused (its node no longer
    // sends it into the mesh, and node-2 lets no other way in).
    const live = await objects.read(tcpAuthPolicy('frontend'));
    await objects.replace(tcpAuthPolicy('backend', live.metadata?.resourceVersion));
    const refused = await eventually(async () => {
      const r = await send();
      return r.reply === undefined ? r : undefined;
    }, 60_000, 'the edited policy refusing the frontend');
    t.truthy(refused.error);
  } finally {
    await objects.delete(tcpAuthPolicy('frontend')).catch(() => undefined);
  }
  // Without the policy the tunnel carries the frontend's bytes again (the next tests' state).
  await eventually(async () => ((await send()).reply ? true : undefined), 60_000, 'the tunnel back after the policy is deleted');
});

/** kubectl of the cluster's version, as README's rotation procedure runs it. */
const kubectl = async (...args: string[]) => (await run(cluster!.state.kubectl, ['--kubeconfig', cluster!.state.kubeconfig, ...args])).stdout;

/** The distinct roots the agent of a node reports in its bundle (its certificate expiry metric). */
async function agentBundleRoots(netns: string): Promise<number> {
  const text = (await run('ip', ['netns', 'exec', netns, 'curl', '-sf', `http://127.0.0.1:${HEALTH_PORT}/metrics`])).stdout;
  return text.split('\n').filter((l) => l.startsWith('weft_certificate_expiry_seconds{kind="bundle"')).length;
}

const bundleRoots = async () => [...((await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: SYS })).data?.[TRUST_BUNDLE_KEY] ?? '')
  .matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).fingerprint256);

/**
 * Requests both ways between the nodes' pods, one after another, until finish(); chainsTo(root) tells whether both
 * nodes now serve SVIDs whose intermediate the root signed (each check is a new TLS handshake with the listener).
 */
async function rotationTraffic() {
  const [node1, node2] = cluster!.state.nodes!;
  const front = podNetnsOf(cluster!, pods.frontend);
  const back = podNetnsOf(cluster!, pods.backend);
  const viaMesh = (netns: string, node: typeof node1, pod: string) => curl(netns, ['-x', `http://${node.address}:${OUTBOUND}`, `http://${podMeshHost(NS, pod, 3000)}/rotation`]);
  const frontToBack = () => viaMesh(front, node1, 'backend');
  const backToFront = () => viaMesh(back, node2, 'frontend');
  // The policy of the test above is gone once every path answers again.
  for (const send of [frontToBack, backToFront]) await eventually(async () => ((await send()).status === 200 ? true : undefined), 60_000, 'mesh requests answered both ways');

  const failures: string[] = [];
  let sent = 0;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      for (const [name, send] of [['node-1 to node-2', frontToBack], ['node-2 to node-1', backToFront]] as const) {
        const r = await send();
        sent++;
        if (r.status !== 200) failures.push(`${name}: ${r.status} ${r.body}`);
      }
    }
  })();
  const chainsTo = (root: X509Certificate) => {
    for (const [fromNs, node, pod] of [[node2.netns, node1, 'frontend'], [node1.netns, node2, 'backend']] as const) {
      const [, intermediate] = servedChain(fromNs, node.address, podMeshHost(NS, pod, 3000));
      if (!intermediate?.verify(root.publicKey)) return false;
    }
    return true;
  };
  const finish = async () => {
    stop = true;
    await traffic;
    return { failures, sent };
  };
  return { chainsTo, sentAt: () => sent, finish };
}

clusterTest('the CA root rotates in three steps (stage, activate, retire) under continuous requests both ways across the nodes: none fails', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const { chainsTo, sentAt, finish } = await rotationTraffic();
  try {
    const secret = await core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS });
    const oldRoot = new X509Certificate(Buffer.from(secret.data!['tls.crt'], 'base64'));
    const next = CertificateAuthority.generate({ trustDomain: TD });

    // 1. Stage: the new root joins the bundle (the ConfigMap and every agent's), nothing is issued from it.
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await kubectl('-n', SYS, 'patch', 'secret', CA_SECRET_NAME, '--type', 'merge', '-p', JSON.stringify({ data: { 'next.crt': b64(next.root.pem), 'next.key': b64(next.root.privateKeyPem()) } }));
    t.deepEqual(await eventually(async () => {
      const roots = await bundleRoots();
      return roots.length === 2 ? roots : undefined;
    }, 30_000, 'the staged root in the bundle ConfigMap'), [oldRoot.fingerprint256, next.root.x509.fingerprint256]);
    for (const node of [node1, node2]) await eventually(async () => ((await agentBundleRoots(node.netns)) === 2 ? true : undefined), 30_000, `${node.name}'s agent trusting both roots`);
    t.true(chainsTo(oldRoot), 'staged, not issuing: the SVIDs still chain to the old root');
    const beforeActivation = sentAt();

    // 2. Activate: the agents issue from the new root; the old one stays trusted.
    await kubectl('-n', SYS, 'patch', 'secret', CA_SECRET_NAME, '--type', 'json', '-p',
      '[{"op":"copy","from":"/data/tls.crt","path":"/data/previous.crt"},{"op":"move","from":"/data/next.crt","path":"/data/tls.crt"},{"op":"move","from":"/data/next.key","path":"/data/tls.key"}]');
    await eventually(() => Promise.resolve(chainsTo(next.root.x509) ? true : undefined), 30_000, 'both nodes serving SVIDs of the new root');
    t.false(chainsTo(oldRoot));
    // The ConfigMap: the new root first (it issues), the old one still there (retired).
    await eventually(async () => ((await bundleRoots()).join() === [next.root.x509.fingerprint256, oldRoot.fingerprint256].join() ? true : undefined), 30_000, 'the activated root first in the bundle ConfigMap, the old one kept');
    await eventually(() => Promise.resolve(sentAt() > beforeActivation + 4 ? true : undefined), 30_000, 'requests after the activation');

    // 3. Retire (here at once, as a revocation; in production after the longest SVID lifetime): the old root leaves
    // every bundle.
    const beforeRetirement = sentAt();
    await kubectl('-n', SYS, 'patch', 'secret', CA_SECRET_NAME, '--type', 'json', '-p', '[{"op":"remove","path":"/data/previous.crt"}]');
    t.deepEqual(await eventually(async () => {
      const roots = await bundleRoots();
      return roots.length === 1 ? roots : undefined;
    }, 30_000, 'the old root out of the bundle ConfigMap'), [next.root.x509.fingerprint256]);
    for (const node of [node1, node2]) await eventually(async () => ((await agentBundleRoots(node.netns)) === 1 ? true : undefined), 30_000, `${node.name}'s agent dropping the old root`);
    await eventually(() => Promise.resolve(sentAt() > beforeRetirement + 4 ? true : undefined), 30_000, 'requests after the retirement');
    t.true(chainsTo(next.root.x509));
  } finally {
    const { failures, sent } = await finish();
    t.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    t.true(sent > 10, `${sent} requests`);
  }
});

clusterTest('the operator times a rotation asked for with an annotation: stages a new root, switches only once both agents reported trusting it, retires the old one later; under continuous requests none fails', async (t) => {
  const [node1, node2] = cluster!.state.nodes!;
  const { chainsTo, sentAt, finish } = await rotationTraffic();
  const readSecret = () => core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: SYS });
  const handshakes = async () => metric(await envoyStats(node2.netns), 'envoy_listener_', '_ssl_handshake', `0.0.0.0_${INBOUND}`);
  // A pod node-1 has never sent to: the first request to it after the switch opens a new mTLS connection (the
  // rotation itself reuses the established ones: SVIDs and the bundle change over SDS under them).
  const late = await runPod('late', node2.name, 'backend');
  try {
    const oldRoot = new X509Certificate(Buffer.from((await readSecret()).data!['tls.crt'], 'base64'));
    await kubectl('-n', SYS, 'annotate', 'secret', CA_SECRET_NAME, `${ROTATE_ANNOTATION}=now`);

    // Staged by the operator: a new root of its own in next.crt, in the bundle after the issuing one.
    const staged = await eventually(async () => {
      const roots = await bundleRoots();
      return roots.length === 2 ? roots : undefined;
    }, 30_000, 'the operator\'s new root staged in the bundle');
    t.is(staged[0], oldRoot.fingerprint256);
    const nextFp = staged[1];

    // Switched, and only after each node's agent reported (in a request the API server attributed to it) that it
    // trusts the new root.
    const switched = await eventually(async () => {
      const s = await readSecret();
      return s.metadata?.annotations?.[PHASE_ANNOTATION] === 'switched' ? s : undefined;
    }, 60_000, 'the operator switching to the new root');
    const switchedAt = Date.parse(switched.metadata!.annotations![SWITCHED_AT_ANNOTATION]);
    const newRoot = new X509Certificate(Buffer.from(switched.data!['tls.crt'], 'base64'));
    t.is(newRoot.fingerprint256, nextFp);
    t.is(Buffer.from(switched.data![PREVIOUS_CERT_KEY], 'base64').toString(), oldRoot.toString());
    t.falsy(switched.data!['next.crt']);
    const csrs = (await cluster!.kc.makeApiClient(k8s.CertificatesV1Api).listCertificateSigningRequest({ fieldSelector: `spec.signerName=${MESH_SIGNER_NAME}` })).items;
    for (const node of [node1, node2]) {
      const reports = csrs.filter((c) => c.metadata?.labels?.[NODE_LABEL] === node.name && c.spec.extra?.[NODE_NAME_EXTRA]?.[0] === node.name
        && (c.metadata?.annotations?.[TRUSTED_ROOTS_ANNOTATION] ?? '').split(',').includes(nextFp));
      t.true(reports.some((c) => new Date(c.metadata!.creationTimestamp!).getTime() <= switchedAt + 1000), `${node.name} reported the new root before the switch`);
    }
    await eventually(() => Promise.resolve(chainsTo(newRoot) ? true : undefined), 30_000, 'both nodes serving SVIDs of the new root');
    // A new handshake between the nodes while the old root is still in the bundle: both SVIDs of the new root.
    t.is(await bundleRoots().then((r) => r.length), 2, 'not retired yet');
    const handshakesBefore = await handshakes();
    const fresh = await curl(podNetnsOf(cluster!, pods.frontend), ['-x', `http://${node1.address}:${OUTBOUND}`, `http://${podMeshHost(NS, late.metadata!.name!, 3000)}/new-connection`]);
    t.is(fresh.status, 200, fresh.body);
    t.regex((JSON.parse(fresh.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], new RegExp(`;URI=${idOf('frontend')}$`));
    t.true(await handshakes() > handshakesBefore, 'a new mTLS handshake on node-2\'s inbound listener');
    const afterSwitch = sentAt();
    await eventually(() => Promise.resolve(sentAt() > afterSwitch + 4 ? true : undefined), 30_000, 'requests after the switch');

    // Retired by the operator once retireAfterMs passed (20 s here; the longest intermediate lifetime by default).
    t.deepEqual(await eventually(async () => {
      const roots = await bundleRoots();
      return roots.length === 1 ? roots : undefined;
    }, 60_000, 'the old root retired from the bundle'), [nextFp]);
    const done = await readSecret();
    t.falsy(done.data![PREVIOUS_CERT_KEY]);
    t.falsy(done.metadata?.annotations?.[PHASE_ANNOTATION]);
    t.true(Date.now() - switchedAt >= RETIRE_AFTER_MS);
    for (const node of [node1, node2]) await eventually(async () => ((await agentBundleRoots(node.netns)) === 1 ? true : undefined), 30_000, `${node.name}'s agent dropping the old root`);
    t.true(chainsTo(newRoot));
  } finally {
    const { failures, sent } = await finish();
    t.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    t.true(sent > 10, `${sent} requests`);
  }
});
