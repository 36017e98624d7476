// Mesh mTLS between two nodes (network namespaces, each with its own Envoy and xDS server): a pod's
// request on node A leaves through A's Envoy and enters B's Envoy over mutual TLS with the workloads'
// SVIDs (over SDS); B's Envoy passes the verified source identity in x-forwarded-client-cert.
// Refusals (another trust domain, expired, unknown CA, a revoked root), rotation under load, and the
// node agents' automatic renewal at half-life.
import type { ChildProcess } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { CertificateAuthority, HOUR_MS } from '../src/mtls/ca.js';
import { MeshNodeAgent } from '../src/mtls/mesh-agent.js';
import { meshIdentities, meshResources, meshSecrets, PROTOCOL_DETECTION_TIMEOUT_MS, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import type { X509Svid } from '../src/mtls/svid.js';
import { TrustDomainAuthority } from '../src/mtls/trust-bundle.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { ACCESS_DENIED_BODY } from '../src/l7policy/envoy.js';
import { meshPolicyClientsEgress } from '../src/kubernetes/mesh-view.js';
import { meshServiceHost } from '../src/mtls/standalone-mesh.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import type { Resource } from '../src/xds/resource.js';
import { hboneExchange, startTcpEchoPod, tcpExchange } from './helpers/mesh-tunnel.js';
import { MeshNode, createNodePair, netnsMissing, runLoad, startEchoPod, type NodePair } from './helpers/mtls-nodes.js';
import { eventually } from './helpers/net.js';

const TD = 'cluster.local';
const CLIENT = `spiffe://${TD}/ns/default/sa/client`;
const OTHER = `spiffe://${TD}/ns/default/sa/other`;
const SERVER = `spiffe://${TD}/ns/default/sa/server`;
const HOST = 'server.default';
const OUT_PORT = 15001;
const IN_PORT = 15008;
const BACKEND_PORT = 8080;
/** Node A's transparent listener (the tunnel's entry) and node B's raw TCP echo pod behind it. */
const TRANSPARENT_PORT = 15003;
const TCP_PORT = 7000;
const TCP_HOST = `${TCP_PORT}.tcpecho.default`;

const missing = netnsMissing();
const nsTest = missing ? test.serial.skip : test.serial;
if (missing) console.log(`mtls-mesh: skipped: ${missing}`);

interface Fixture {
  pair: NodePair;
  a: MeshNode;
  b: MeshNode;
  authority: TrustDomainAuthority;
  svids: Map<string, X509Svid>;
  viewA: MeshNodeView;
  viewB: MeshNodeView;
  /** Extra PEM roots node B trusts (to test a foreign trust domain's SVID against the SAN check alone). */
  extraTrustB: string;
  /** Resources node B serves besides its mesh view's (the L7 policy translator's). */
  extraB: Resource[];
  skew: { ms: number };
  push(): Promise<void>;
  request(opts?: { source?: string; count?: number; headers?: Record<string, string> }): ReturnType<typeof runLoad>;
}

/**
 * A server pod on node B (its application on `port` at 127.0.0.1, service account `server`) and node A's pods `client`
 * and `other` (service accounts of the same names, the SPIFFE IDs A presents for them).
 */
function meshPodsYaml(server: { name: string; port: number; ip: string }, clientIp: string, otherIp: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${server.name}, namespace: default, labels: { app: ${server.name} }, annotations: { weft.dev/standalone-backends: "${server.port}=127.0.0.1:${server.port}" } }
spec: { serviceAccountName: server, containers: [{ name: app, ports: [{ containerPort: ${server.port} }] }] }
status: { podIP: ${server.ip} }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: default, labels: { app: client } }
spec: { serviceAccountName: client }
status: { podIP: ${clientIp} }
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: default, labels: { app: other } }
spec: { serviceAccountName: other }
status: { podIP: ${otherIp} }
`;
}

async function fixture(t: ExecutionContext, maxRequestsPerConnection?: number): Promise<Fixture> {
  const pair = createNodePair();
  const a = new MeshNode(pair.a, `mtls-a-${process.pid}`);
  const b = new MeshNode(pair.b, `mtls-b-${process.pid}`);
  const pods: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of pods) p.kill();
    await Promise.all([a.stop(), b.stop()]);
    pair.cleanup();
  });
  // The CA's clock: its root and intermediate are made 3 h in the past (so that an expired SVID can chain to them).
  const skew = { ms: -3 * HOUR_MS };
  const authority = new TrustDomainAuthority(CertificateAuthority.generate({ trustDomain: TD, now: () => new Date(Date.now() + skew.ms) }));
  skew.ms = 0;
  const viewA: MeshNodeView = {
    trustDomain: TD,
    outbound: {
      address: '127.0.0.1',
      port: OUT_PORT,
      sources: [{ id: CLIENT, sources: ['127.0.0.1'] }, { id: OTHER, sources: ['127.0.0.2'] }],
      services: [{ host: HOST, node: { address: pair.addrB, port: IN_PORT }, id: SERVER }],
    },
    ...(maxRequestsPerConnection ? { maxRequestsPerConnection } : {}),
  };
  const viewB: MeshNodeView = { trustDomain: TD, inbound: { address: pair.addrB, port: IN_PORT, services: [{ host: HOST, id: SERVER, backend: { address: '127.0.0.1', port: BACKEND_PORT } }] } };
  const svids = new Map<string, X509Svid>();
  for (const id of [CLIENT, OTHER, SERVER]) svids.set(id, authority.ca.issue(id));
  const f: Fixture = {
    pair, a, b, authority, svids, viewA, viewB, extraTrustB: '', extraB: [], skew,
    async push() {
      a.set(resourcesOf(f, viewA, ''));
      b.set([...resourcesOf(f, viewB, f.extraTrustB), ...f.extraB]);
      await Promise.all([a.converged(), b.converged()]);
    },
    request: (o = {}) => runLoad(pair.a, { url: `http://127.0.0.1:${OUT_PORT}/`, host: HOST, localAddress: o.source ?? '127.0.0.1', count: o.count ?? 1, headers: o.headers ?? {} }),
  };
  pods.push(await startEchoPod(pair.b, 'server', '127.0.0.1', BACKEND_PORT));
  await Promise.all([a.start(resourcesOf(f, viewA, '')), b.start(resourcesOf(f, viewB, ''))]);
  await Promise.all([a.converged(), b.converged()]);
  return f;
}

function resourcesOf(f: Fixture, view: MeshNodeView, extraTrust: string) {
  return [...meshResources(view), ...meshSecrets(TD, new Map(meshIdentities(view).map((id) => [id, f.svids.get(id)!])), f.authority.bundlePem() + extraTrust)];
}

const inboundStat = (f: Fixture, name: string): string => `listener.${f.pair.addrB}_${IN_PORT}.ssl.${name}`;

nsTest('a pod-to-pod request crosses the mTLS connection between the node Envoys; the destination sees the verified source identity and can authorize by it', async (t) => {
  const f = await fixture(t);
  // A forged identity header from the pod is discarded; Envoy sets the one it verified.
  const forged = { 'x-forwarded-client-cert': `URI=spiffe://${TD}/ns/kube-system/sa/admin` };
  const fromClient = await f.request({ count: 3, headers: forged });
  t.deepEqual(fromClient.statuses, { 200: 3 }, JSON.stringify(fromClient.errors));
  t.deepEqual(fromClient.backends, ['server']);
  t.is(fromClient.xfcc.length, 1);
  const xfcc = fromClient.xfcc[0];
  t.regex(xfcc, new RegExp(`^By=${SERVER};Hash=[0-9a-f]{64};URI=${CLIENT}$`), 'set by B from the certificate A presented');
  t.false(xfcc.includes('admin'));
  // Another workload on node A gets its own identity.
  const fromOther = await f.request({ source: '127.0.0.2' });
  t.deepEqual(fromOther.statuses, { 200: 1 });
  t.deepEqual(fromOther.xfcc.map((x) => x.replace(/Hash=[0-9a-f]+;/, '')), [`By=${SERVER};URI=${OTHER}`]);

  // It did cross over TLS 1.3 with a client certificate (B's listener stats), from A's per-identity cluster.
  const bStats = await f.b.stats(`^listener\\.${f.pair.addrB.replaceAll('.', '\\.')}_${IN_PORT}\\.ssl\\.`);
  t.true((bStats[inboundStat(f, 'handshake')] ?? 0) >= 2, JSON.stringify(bStats));
  t.true((bStats[inboundStat(f, 'versions.TLSv1.3')] ?? 0) >= 2);
  t.is(bStats[inboundStat(f, 'no_certificate')] ?? 0, 0);
  const aStats = await f.a.stats('^cluster\\.mesh-out.*\\.ssl\\.handshake$');
  t.is(Object.values(aStats).filter((v) => v > 0).length, 2, `one TLS client per source identity: ${JSON.stringify(aStats)}`);

  // Nothing plaintext reaches B's inbound port, and B is not reachable except through it.
  const plain = await runLoad(f.pair.a, { url: `http://${f.pair.addrB}:${IN_PORT}/`, host: HOST, count: 1 });
  t.is(plain.ok, 0);
  const direct = await runLoad(f.pair.a, { url: `http://${f.pair.addrB}:${BACKEND_PORT}/`, host: HOST, count: 1 });
  t.is(direct.ok, 0, 'the backend listens on B\'s loopback only');

  // Authorization by verified SPIFFE ID at the destination: only the client workload may call.
  f.viewB.inbound!.services[0].allowedIds = [CLIENT];
  await f.push();
  t.deepEqual((await f.request()).statuses, { 200: 1 });
  const denied = await f.request({ source: '127.0.0.2', headers: { 'x-forwarded-client-cert': `URI=${CLIENT}` } });
  t.deepEqual(denied.statuses, { 403: 1 }, 'the other workload is refused, whatever header it sends');
  const rbac = await f.b.stats('^http\\.mesh-inbound\\.rbac\\.(allowed|denied)$');
  t.deepEqual(rbac, { 'http.mesh-inbound.rbac.allowed': 1, 'http.mesh-inbound.rbac.denied': 1 });
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

nsTest('plain TCP crosses between the nodes in an HTTP/2 CONNECT tunnel inside the mutual TLS, from the source pod\'s SVID; the destination authorizes by the verified peer; a client without a valid SVID is refused', async (t) => {
  const f = await fixture(t);
  // No datapath here: the pod connects to node A's transparent listener itself, so the connection's original
  // destination is the listener's own address, which is then the service's destination (the CONNECT authority).
  const destination = { address: '127.0.0.1', port: TRANSPARENT_PORT };
  f.viewA.outbound!.transparentPort = TRANSPARENT_PORT;
  f.viewA.outbound!.services.push({ host: TCP_HOST, node: { address: f.pair.addrB, port: IN_PORT }, id: SERVER, destination });
  f.viewB.inbound!.services.push({ host: TCP_HOST, id: SERVER, backend: { address: '127.0.0.1', port: TCP_PORT } });
  const echo = await startTcpEchoPod(f.pair.b, 'tcpecho', '127.0.0.1', TCP_PORT);
  t.teardown(() => echo.kill());
  await f.push();
  // Bytes that are no HTTP (a TLS record header, a byte above 0x7f): http_inspector sends them into the tunnel.
  const line = '\u0016\u0003\u0001 raw bytes \u00fe';
  const send = (localAddress: string) => tcpExchange(f.pair.a, { host: destination.address, port: TRANSPARENT_PORT, localAddress, line });
  // The pod's peer is node B's Envoy (on B's loopback), which took the bytes out of the tunnel.
  t.deepEqual(await send('127.0.0.1'), { reply: `tcpecho 127.0.0.1 ${line}` });
  t.deepEqual(await send('127.0.0.2'), { reply: `tcpecho 127.0.0.1 ${line}` }, 'the other workload, with its own SVID');

  // Node A: the tunnel's tcp_proxy, TLS handshakes of each source's cluster for the service, HTTP/2 upstream.
  const aStats = await f.a.stats('^(tcp\\.mesh-tunnel\\.|cluster\\.mesh-out.*7000\\.tcpecho\\.default\\.(ssl\\.handshake|upstream_cx_http2_total)$)');
  t.is(aStats['tcp.mesh-tunnel.downstream_cx_total'], 2, JSON.stringify(aStats));
  const outCluster = (id: string) => `cluster.mesh-out|${id.replace(/[^A-Za-z0-9.-]/g, '_')}|${TCP_HOST}`;
  for (const id of [CLIENT, OTHER]) {
    t.is(aStats[`${outCluster(id)}.ssl.handshake`], 1, JSON.stringify(aStats));
    t.is(aStats[`${outCluster(id)}.upstream_cx_http2_total`], 1);
  }
  // Node B: TLS 1.3 handshakes with client certificates, two CONNECTs terminated, two raw connections to the pod.
  const bStats = await f.b.stats(`^(listener\\.${f.pair.addrB.replaceAll('.', '\\.')}_${IN_PORT}\\.ssl\\.(handshake|no_certificate)|http\\.mesh-inbound\\.downstream_cx_upgrades_total|cluster\\.mesh-in\\|${TCP_HOST.replaceAll('.', '\\.')}\\.upstream_cx_total)$`);
  t.true((bStats[inboundStat(f, 'handshake')] ?? 0) >= 2, JSON.stringify(bStats));
  t.is(bStats[inboundStat(f, 'no_certificate')] ?? 0, 0);
  t.is(bStats['http.mesh-inbound.downstream_cx_upgrades_total'], 2, JSON.stringify(bStats));
  t.is(bStats[`cluster.mesh-in|${TCP_HOST}.upstream_cx_total`], 2);

  // Authorization by the verified SPIFFE ID at the destination: only the client workload may open the tunnel.
  f.viewB.inbound!.services[1].allowedIds = [CLIENT];
  await f.push();
  t.deepEqual(await send('127.0.0.1'), { reply: `tcpecho 127.0.0.1 ${line}` });
  const refused = await send('127.0.0.2');
  t.is(refused.reply, undefined, 'the CONNECT of the other workload is refused');
  t.regex(refused.error ?? '', /^(closed|ECONNRESET)$/, 'its connection is closed');
  t.deepEqual(await f.b.stats('^http\\.mesh-inbound\\.rbac\\.(allowed|denied)$'), { 'http.mesh-inbound.rbac.allowed': 1, 'http.mesh-inbound.rbac.denied': 1 });
  // An address of no workload on node A matches no filter chain: no tunnel, no SVID.
  const noWorkload = await send('127.0.0.3');
  t.is(noWorkload.reply, undefined);
  t.regex(noWorkload.error ?? '', /^(closed|ECONNRESET)$/);

  // The tunnel opened by hand (as node A's Envoy does): the client's SVID passes; no certificate, or one of an
  // unknown CA for the same SPIFFE ID, fails the handshake.
  const hbone = (cert?: X509Svid) => hboneExchange(f.pair.a, { address: f.pair.addrB, port: IN_PORT, serverName: TCP_HOST, authority: `127.0.0.1:${TCP_PORT}`, line: 'hbone',
    ...(cert ? { cert: cert.chainPem(), key: cert.privateKeyPem() } : {}) });
  t.like(await hbone(f.svids.get(CLIENT)), { status: 200, reply: 'tcpecho 127.0.0.1 hbone' });
  t.deepEqual(await hbone(), { error: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  t.deepEqual(await hbone(CertificateAuthority.generate({ trustDomain: TD }).issue(CLIENT)), { error: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });

  // A protocol in which the server speaks first: the client sends nothing, http_inspector gives up after its timeout
  // (PROTOCOL_DETECTION_TIMEOUT_MS) and the connection takes the tunnel instead of being closed.
  const greeterHost = `${TCP_PORT + 1}.greeter.default`;
  const greeter = await startTcpEchoPod(f.pair.b, 'greeter', '127.0.0.1', TCP_PORT + 1, 'hello from the server');
  t.teardown(() => greeter.kill());
  f.viewA.outbound!.services.push({ host: greeterHost, node: { address: f.pair.addrB, port: IN_PORT }, id: SERVER, destination: { address: '127.0.0.5', port: TRANSPARENT_PORT } });
  f.viewB.inbound!.services.push({ host: greeterHost, id: SERVER, backend: { address: '127.0.0.1', port: TCP_PORT + 1 } });
  await f.push();
  t.deepEqual(await tcpExchange(f.pair.a, { host: '127.0.0.5', port: TRANSPARENT_PORT, localAddress: '127.0.0.1' }), { reply: 'hello from the server' });
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

nsTest('plain TCP through the tunnel to a port whose CiliumNetworkPolicy requires authentication (no HTTP rules): node B decides by the verified SPIFFE ID', async (t) => {
  const f = await fixture(t);
  const pods = `
${meshPodsYaml({ name: 'tcpecho', port: TCP_PORT, ip: '127.0.42.10' }, '127.0.42.1', '127.0.42.2')}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: tcpecho-needs-mtls, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: tcpecho } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    authentication: { mode: required }
    toPorts: [{ ports: [{ port: "${TCP_PORT}", protocol: TCP }] }]
`;
  const l7 = translateYaml('policy.yaml', pods, { l7: { accessLogPath: path.join(f.b.dir, 'l7-access.log'), mesh: { trustDomain: TD } } }).l7!;
  t.deepEqual(l7.problems, []);
  const meshRoute = l7.listeners.find((l) => l.port === TCP_PORT)?.meshRoute;
  t.is(meshRoute, `l7/mesh/default/tcpecho/${TCP_PORT}`);
  const destination = { address: '127.0.0.1', port: TRANSPARENT_PORT };
  f.viewA.outbound!.transparentPort = TRANSPARENT_PORT;
  f.viewA.outbound!.services.push({ host: TCP_HOST, node: { address: f.pair.addrB, port: IN_PORT }, id: SERVER, destination });
  f.viewB.inbound!.services.push({ host: TCP_HOST, id: SERVER, backend: { address: '127.0.0.1', port: TCP_PORT }, routeConfig: meshRoute });
  f.viewB.inbound!.accessLogPath = path.join(f.b.dir, 'l7-access.log');
  f.extraB = l7.resources;
  const echo = await startTcpEchoPod(f.pair.b, 'tcpecho', '127.0.0.1', TCP_PORT);
  t.teardown(() => echo.kill());
  await f.push();
  const send = (localAddress: string) => tcpExchange(f.pair.a, { host: destination.address, port: TRANSPARENT_PORT, localAddress, line: 'ping' });
  t.deepEqual(await send('127.0.0.1'), { reply: 'tcpecho 127.0.0.1 ping' }, 'the client\'s SPIFFE ID is allowed');
  const refused = await send('127.0.0.2');
  t.is(refused.reply, undefined, 'the other service account is not');
  t.regex(refused.error ?? '', /^(closed|ECONNRESET)$/);
  t.deepEqual(await f.b.stats('^http\\.mesh-inbound\\.rbac\\.(allowed|denied)$'), { 'http.mesh-inbound.rbac.allowed': 1, 'http.mesh-inbound.rbac.denied': 1 });
  const readLog = () => readFileSync(path.join(f.b.dir, 'l7-access.log'), 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!);
  const log = await eventually(() => (readLog().length >= 2 ? readLog() : undefined), 10_000, 'two access log lines');
  // The tunnels are in the L7 access log: the CONNECT (its authority the destination), the peer by its SPIFFE ID's identity.
  const identityOf = (ip: string) => Number(l7.table.byIp.get(ip));
  t.like(log[0], { method: 'CONNECT', host: `127.0.0.1:${TRANSPARENT_PORT}`, verdict: 'FORWARDED', responseCode: 200, destinationEndpoint: 'default/tcpecho', sourceIdentity: identityOf('127.0.42.1') });
  t.like(log[1], { method: 'CONNECT', verdict: 'DROPPED', reason: 'dropped:default-deny', responseCode: 403, sourceIdentity: identityOf('127.0.42.2') });
  t.is(log.length, 2);
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

nsTest('refused: an SVID of another trust domain, an expired one, one from an unknown CA, one whose root was revoked', async (t) => {
  // One request per connection: every request is a new handshake.
  const f = await fixture(t, 1);
  t.deepEqual((await f.request()).statuses, { 200: 1 });
  const statsOf = async (): Promise<Record<string, number>> => f.b.stats(`^listener\\.${f.pair.addrB.replaceAll('.', '\\.')}_${IN_PORT}\\.ssl\\.fail_verify`);
  const attempt = async (bad: X509Svid, expectStat: string, what: string): Promise<void> => {
    const before = (await statsOf())[inboundStat(f, expectStat)] ?? 0;
    f.svids.set(CLIENT, bad);
    await f.push();
    const r = await f.request({ count: 2 });
    t.is(r.ok, 0, `${what}: refused`);
    t.deepEqual(r.statuses, { 503: 2 }, `${what}: A answers 503 (upstream connect failure)`);
    t.true(((await statsOf())[inboundStat(f, expectStat)] ?? 0) >= before + 2, `${what}: B counted ${expectStat} (${JSON.stringify(await statsOf())})`);
  };
  const good = f.svids.get(CLIENT)!;

  // Another trust domain: even with its root trusted by B, its SPIFFE ID fails the SAN check.
  const other = CertificateAuthority.generate({ trustDomain: 'other.example' });
  f.extraTrustB = other.root.pem;
  await attempt(other.issue('spiffe://other.example/ns/default/sa/client'), 'fail_verify_san', 'another trust domain');
  f.extraTrustB = '';
  f.skew.ms = -2 * HOUR_MS;
  const expired = f.authority.ca.issue(CLIENT);
  f.skew.ms = 0;
  t.true(expired.notAfter.getTime() < Date.now());
  await attempt(expired, 'fail_verify_error', 'expired');
  await attempt(CertificateAuthority.generate({ trustDomain: TD }).issue(CLIENT), 'fail_verify_error', 'unknown CA');

  f.svids.set(CLIENT, good);
  await f.push();
  t.deepEqual((await f.request()).statuses, { 200: 1 }, 'back to a good SVID');

  // CA rotation: B moves to the new CA; A still holds an SVID of the old root: trusted during the overlap...
  const oldRoot = f.authority.ca.root.x509.fingerprint256;
  f.authority.rotate(CertificateAuthority.generate({ trustDomain: TD }));
  f.svids.set(SERVER, f.authority.ca.issue(SERVER));
  await f.push();
  t.deepEqual((await f.request()).statuses, { 200: 1 }, 'the old root is still in the bundle');
  // ...until the old root is revoked: the trust bundle no longer covers A's SVID.
  f.authority.revoke(oldRoot);
  await f.push();
  await attempt(good, 'fail_verify_error', 'a revoked root');
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

nsTest('rotation of SVIDs and of the CA under continuous load: zero failed requests', async (t) => {
  // 20 requests per node-to-node connection: new handshakes happen all along, with whatever is current.
  const f = await fixture(t, 20);
  const load = runLoad(f.pair.a, { url: `http://127.0.0.1:${OUT_PORT}/`, host: HOST, concurrency: 4, durationMs: 9000 });
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const handshakesB = async (): Promise<number> => (await f.b.stats(`^listener\\.${f.pair.addrB.replaceAll('.', '\\.')}_${IN_PORT}\\.ssl\\.handshake$`))[inboundStat(f, 'handshake')] ?? 0;
  await pause(1000);
  const h0 = await handshakesB();

  // 1. SVID renewal (what happens at half-life), on both nodes.
  for (const id of [CLIENT, OTHER, SERVER]) f.svids.set(id, f.authority.ca.issue(id));
  await f.push();
  await pause(1500);
  // 2. CA rotation in two steps: every node learns the new root, then SVIDs move to it.
  const oldRoot = f.authority.ca.root.x509.fingerprint256;
  f.authority.stage(CertificateAuthority.generate({ trustDomain: TD }));
  await f.push();
  f.authority.activate();
  for (const id of [CLIENT, OTHER, SERVER]) f.svids.set(id, f.authority.ca.issue(id));
  await f.push();
  await pause(1500);
  // 3. The old root leaves the bundle once nothing chains to it.
  f.authority.revoke(oldRoot);
  await f.push();
  const h1 = await handshakesB();
  const result = await load;

  t.is(result.failed, 0, `failures: ${JSON.stringify(result.statuses)} ${JSON.stringify(result.errors)}`);
  t.deepEqual(Object.keys(result.statuses), ['200']);
  t.true(result.ok > 200, `${result.ok} requests in ${result.seconds.toFixed(1)} s`);
  t.true(h1 - h0 >= 5, `new handshakes happened during the rotations (${h1 - h0})`);
  // B now presents the SVID of the new CA.
  const certs = JSON.parse(await f.b.admin('/certs')) as { certificates: Array<{ cert_chain: Array<{ serial_number: string }> }> };
  const serving = certs.certificates.flatMap((c) => c.cert_chain.map((x) => x.serial_number.toLowerCase()));
  t.true(serving.includes(f.svids.get(SERVER)!.serialHex), `B serves the current SVID (${serving.join(', ')})`);
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

nsTest('node agents renew SVIDs at half-life and Envoy takes them over SDS under load: zero failed requests', async (t) => {
  // Lifetimes of 6 s: each identity is renewed every 3 s while the load runs.
  const pair = createNodePair();
  const a = new MeshNode(pair.a, `mtls-agent-a-${process.pid}`);
  const b = new MeshNode(pair.b, `mtls-agent-b-${process.pid}`);
  const authority = new TrustDomainAuthority(CertificateAuthority.generate({ trustDomain: TD }));
  const viewA: MeshNodeView = {
    trustDomain: TD,
    maxRequestsPerConnection: 10,
    outbound: { address: '127.0.0.1', port: OUT_PORT, sources: [{ id: CLIENT, sources: ['127.0.0.1'] }], services: [{ host: HOST, node: { address: pair.addrB, port: IN_PORT }, id: SERVER }] },
  };
  const viewB: MeshNodeView = { trustDomain: TD, inbound: { address: pair.addrB, port: IN_PORT, services: [{ host: HOST, id: SERVER, backend: { address: '127.0.0.1', port: BACKEND_PORT } }] } };
  const agentA = new MeshNodeAgent(authority, viewA, 6000);
  const agentB = new MeshNodeAgent(authority, viewB, 6000);
  const pods: ChildProcess[] = [];
  t.teardown(async () => {
    agentA.stop();
    agentB.stop();
    for (const p of pods) p.kill();
    await Promise.all([a.stop(), b.stop()]);
    pair.cleanup();
  });
  pods.push(await startEchoPod(pair.b, 'server', '127.0.0.1', BACKEND_PORT));
  await Promise.all([a.start(agentA.resources()), b.start(agentB.resources())]);
  await Promise.all([a.converged(), b.converged()]);
  const firstServer = agentB.svid(SERVER)!.serialHex;
  const firstClient = agentA.svid(CLIENT)!.serialHex;
  let changes = 0;
  agentA.on('change', (r) => {
    changes++;
    a.set(r);
  });
  agentB.on('change', (r) => {
    changes++;
    b.set(r);
  });
  const result = await runLoad(pair.a, { url: `http://127.0.0.1:${OUT_PORT}/`, host: HOST, concurrency: 4, durationMs: 8000 });
  await Promise.all([a.converged(), b.converged()]);

  t.is(result.failed, 0, `failures: ${JSON.stringify(result.statuses)} ${JSON.stringify(result.errors)}`);
  t.true(result.ok > 100, `${result.ok} requests`);
  t.true(changes >= 4, `both agents renewed at least twice (${changes} changes)`);
  t.not(agentB.svid(SERVER)!.serialHex, firstServer);
  t.not(agentA.svid(CLIENT)!.serialHex, firstClient);
  const certs = JSON.parse(await b.admin('/certs')) as { certificates: Array<{ cert_chain: Array<{ serial_number: string }> }> };
  const serving = certs.certificates.flatMap((c) => c.cert_chain.map((x) => x.serial_number.toLowerCase()));
  t.true(serving.includes(agentB.svid(SERVER)!.serialHex), 'B serves the renewed SVID');
  t.false(serving.includes(firstServer));
  t.deepEqual([...new Set(result.xfcc.map((x) => x.replace(/Hash=[0-9a-f]+;/, '')))], [`By=${SERVER};URI=${CLIENT}`]);
  t.true(result.xfcc.length >= 2, `B saw renewed client certificates (XFCC hashes: ${result.xfcc.length})`);
  t.deepEqual([...a.nacks, ...b.nacks], []);
});

nsTest('CiliumNetworkPolicy authentication.mode required: node B applies the server pod\'s L7 policy to the verified SPIFFE ID of requests over the mesh; plaintext from an allowed pod\'s address is refused; a policy change reaches the next request', async (t) => {
  const f = await fixture(t);
  // Node A's pods (their service accounts are the SPIFFE IDs A presents for them); the server pod on node B,
  // whose application is the echo pod; its policy listener on the pod address stays for plaintext peers.
  const [clientIp, otherIp, serverIp] = ['127.0.41.1', '127.0.41.2', '127.0.41.10'];
  const pods = `
${meshPodsYaml({ name: 'server', port: BACKEND_PORT, ip: serverIp }, clientIp, otherIp)}`;
  const policy = (paths: string[]): string => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server-needs-mtls, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    authentication: { mode: required }
    toPorts:
    - ports: [{ port: "${BACKEND_PORT}", protocol: TCP }]
      rules: { http: [${paths.map((p) => `{ method: GET, path: "${p}" }`).join(', ')}] }
`;
  const accessLog = path.join(f.b.dir, 'l7-access.log');
  const apply = async (paths: string[]): Promise<void> => {
    const l7 = translateYaml('policy.yaml', `${pods}---${policy(paths)}`, { l7: { accessLogPath: accessLog, mesh: { trustDomain: TD } } }).l7!;
    t.deepEqual(l7.problems, []);
    const [listener] = l7.listeners;
    t.is(listener.meshRoute, `l7/mesh/default/server/${BACKEND_PORT}`);
    f.viewB.inbound!.services[0].routeConfig = listener.meshRoute;
    f.viewB.inbound!.accessLogPath = accessLog;
    f.extraB = l7.resources;
    await f.push();
  };
  f.viewA.outbound!.sources = [{ id: CLIENT, sources: [clientIp] }, { id: OTHER, sources: [otherIp] }];
  await apply(['/allowed']);
  const get = (source: string, path: string) => runLoad(f.pair.a, { url: `http://127.0.0.1:${OUT_PORT}${path}`, host: HOST, localAddress: source, count: 1 });

  const allowed = await get(clientIp, '/allowed');
  t.deepEqual(allowed.statuses, { 200: 1 }, JSON.stringify(allowed));
  t.deepEqual(allowed.xfcc.map((x) => x.replace(/Hash=[0-9a-f]+;/, '')), [`By=${SERVER};URI=${CLIENT}`]);
  const otherPath = await get(clientIp, '/other');
  t.deepEqual(otherPath.statuses, { 403: 1 }, 'another path: the L7 rule refuses it');
  t.deepEqual(otherPath.refusals, [ACCESS_DENIED_BODY]);
  // Another service account is refused whatever identity header it forges (only the certificate counts).
  const forged = await runLoad(f.pair.a, { url: `http://127.0.0.1:${OUT_PORT}/allowed`, host: HOST, localAddress: otherIp, count: 1, headers: { 'x-forwarded-client-cert': `URI=${CLIENT}` } });
  t.deepEqual(forged.statuses, { 403: 1 }, 'the other service account');
  t.deepEqual(forged.refusals, [ACCESS_DENIED_BODY]);

  // The inbound listener logs them as the policy listeners do, naming the peer by its verified SPIFFE ID's identity.
  const clientIdentity = String(translateYaml('policy.yaml', pods).l7!.table.byIp.get(clientIp));
  const readLog = () => readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!);
  const meshLog = await eventually(() => (readLog().length >= 3 ? readLog() : undefined), 10_000, 'three access log lines (Envoy flushes the file every second)');
  t.like(meshLog[0], { verdict: 'FORWARDED', path: '/allowed', destinationEndpoint: 'default/server', sourceIdentity: Number(clientIdentity) });
  t.like(meshLog[1], { verdict: 'DENIED', path: '/other', reason: 'denied:l7', sourceIdentity: Number(clientIdentity) });
  t.is(meshLog.length, 3);

  // Plaintext from the allowed pod's own address, straight to the server's policy listener on node B.
  const plaintext = await runLoad(f.pair.b, { url: `http://${serverIp}:${BACKEND_PORT}/allowed`, host: HOST, localAddress: clientIp, count: 1 });
  t.deepEqual(plaintext.statuses, { 403: 1 }, 'the rule requires authentication; plaintext is refused');
  t.deepEqual(plaintext.refusals, [ACCESS_DENIED_BODY]);
  const logged = await eventually(() => (readLog().length >= 4 ? readLog() : undefined), 10_000, 'the plaintext request\'s access log line');
  t.like(logged.at(-1), { verdict: 'DROPPED', reason: 'dropped:authentication-required', responseCode: 403 });
  t.true(logged.at(-1)!.sourceAddress.startsWith(`${clientIp}:`));

  // The policy changes (RDS only): the next request, on the established mTLS connection, sees it.
  const connections = async (): Promise<number> => (await f.b.stats(`^listener\\.${f.pair.addrB.replaceAll('.', '\\.')}_${IN_PORT}\\.downstream_cx_total$`))[`listener.${f.pair.addrB}_${IN_PORT}.downstream_cx_total`] ?? 0;
  const before = await connections();
  await apply(['/allowed', '/other']);
  t.deepEqual((await get(clientIp, '/other')).statuses, { 200: 1 }, 'the new rule applies');
  t.deepEqual((await get(otherIp, '/other')).statuses, { 403: 1 });
  t.is(await connections(), before, 'no new connection between the nodes: the policy reached the established one');
  // A tunnel to the policed port, even from the allowed workload's SVID, is refused: raw bytes would bypass its HTTP rules.
  const svid = f.svids.get(CLIENT)!;
  const tunnel = await hboneExchange(f.pair.a, { address: f.pair.addrB, port: IN_PORT, serverName: HOST, authority: `${serverIp}:${BACKEND_PORT}`, line: 'GET /other', cert: svid.chainPem(), key: svid.privateKeyPem() });
  t.deepEqual(tunnel, { status: 404, body: '' }, 'the L7 policy\'s route configuration has no CONNECT route');
  t.deepEqual(f.a.nacks, []);
  t.deepEqual(f.b.nacks, []);
});

/**
 * Node A's pods `client` and `other`, node B's `server` (the echo pod), whose ingress policy requires authentication
 * and allows both clients GET /allowed and /other (or `serverHttp`); `clientPolicy` adds the client's own (egress) policy. The server's
 * mesh route on B and the clients' egress rules on A's outbound listener come from one L7 translation, as in
 * `weft run`; both nodes write the L7 access log.
 */
async function egressOverMesh(t: ExecutionContext, clientPolicy: string, serverHttp = '[{ method: GET, path: "/allowed.*" }, { method: GET, path: "/other" }]') {
  const f = await fixture(t);
  const [clientIp, otherIp, serverIp] = ['127.0.43.1', '127.0.43.2', '127.0.43.10'];
  const yaml = `
${meshPodsYaml({ name: 'server', port: BACKEND_PORT, ip: serverIp }, clientIp, otherIp)}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server-needs-mtls, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchExpressions: [{ key: app, operator: In, values: [client, other] }] }]
    authentication: { mode: required }
    toPorts:
    - ports: [{ port: "${BACKEND_PORT}", protocol: TCP }]
      rules: { http: ${serverHttp} }
---
${clientPolicy}`;
  const logA = path.join(f.a.dir, 'l7-access.log');
  const logB = path.join(f.b.dir, 'l7-access.log');
  const l7 = translateYaml('policy.yaml', yaml, { l7: { accessLogPath: logB, mesh: { trustDomain: TD } } }).l7!;
  t.deepEqual(l7.problems, []);
  const [listener] = l7.listeners;
  f.viewA.outbound!.sources = [{ id: CLIENT, sources: [clientIp] }, { id: OTHER, sources: [otherIp] }];
  f.viewA.outbound!.services[0].clientsEgress = listener.meshEgress;
  f.viewA.outbound!.accessLogPath = logA;
  f.viewB.inbound!.services[0].routeConfig = listener.meshRoute;
  f.viewB.inbound!.accessLogPath = logB;
  f.extraB = l7.resources;
  await f.push();
  const get = (source: string, requestPath: string, o: { headers?: Record<string, string>; echoHeader?: string } = {}) =>
    runLoad(f.pair.a, { url: `http://127.0.0.1:${OUT_PORT}${requestPath}`, host: HOST, localAddress: source, count: 1, ...o });
  const read = (file: string) => () => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!);
    } catch {
      return [];
    }
  };
  return { f, l7, listener, clientIp, otherIp, get, logA: read(logA), logB: read(logB) };
}

/** The client pod's own egress policy towards the server's (or `to`'s) port, with one HTTP rule. */
function clientEgressPolicy(httpRule: string, to = 'server'): string {
  return `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-egress, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toEndpoints: [{ matchLabels: { app: ${to} } }]
    toPorts:
    - ports: [{ port: "${BACKEND_PORT}", protocol: TCP }]
      rules: { http: [${httpRule}] }
`;
}

nsTest('clients\' egress rules over the mesh: node A\'s outbound listener applies them before the request crosses; node B\'s ingress rules still apply', async (t) => {
  const m = await egressOverMesh(t, clientEgressPolicy('{ method: GET, path: "/allowed.*" }'));
  t.truthy(m.listener.meshEgress, 'the translation gives the outbound side the clients\' egress rules');
  const allowed = await m.get(m.clientIp, '/allowed');
  t.deepEqual(allowed.statuses, { 200: 1 }, 'both A\'s egress and B\'s ingress rules allow it');
  t.deepEqual(allowed.xfcc.map((x) => x.replace(/Hash=[0-9a-f]+;/, '')), [`By=${SERVER};URI=${CLIENT}`]);
  const refused = await m.get(m.clientIp, '/other');
  t.deepEqual(refused.statuses, { 403: 1 }, 'B\'s ingress rules allow /other; the client\'s egress rules do not');
  t.deepEqual(refused.refusals, [ACCESS_DENIED_BODY]);
  t.deepEqual((await m.get(m.otherIp, '/other')).statuses, { 200: 1 }, 'a client without egress rules');
  t.deepEqual((await m.get(m.clientIp, '/allowed/../other')).statuses, { 403: 1 }, 'A normalises the path before its egress rules see it');
  t.deepEqual((await m.get(m.otherIp, '/nope')).statuses, { 403: 1 }, 'B\'s ingress rules still refuse');

  const a = await eventually(() => (m.logA().length >= 5 ? m.logA() : undefined), 10_000, 'node A\'s access log lines');
  const byPath = (p: string, source: string) => a.find((e) => e.path === p && e.sourceAddress.startsWith(`${source}:`));
  t.like(byPath('/other', m.clientIp), { direction: 'egress', verdict: 'DENIED', reason: 'egress:denied:l7', responseCode: 403, destinationEndpoint: 'default/server', destinationPort: BACKEND_PORT });
  t.like(byPath('/allowed', m.clientIp), { direction: 'egress', verdict: 'FORWARDED', responseCode: 200, destinationEndpoint: 'default/server' });
  t.like(byPath('/nope', m.otherIp), { responseCode: 403, verdict: 'FORWARDED' }, 'A forwarded it; B refused it (its reason is in B\'s log)');
  const b = await eventually(() => (m.logB().length >= 3 ? m.logB() : undefined), 10_000, 'node B\'s access log lines (/allowed, the other client\'s /other, /nope)');
  t.false(b.some((e) => e.path === '/other' && e.responseCode === 403), 'the refused request never reached node B');
  t.like(b.find((e) => e.path === '/nope'), { verdict: 'DENIED', reason: 'denied:l7' });
  t.deepEqual([...m.f.a.nacks, ...m.f.b.nacks], []);
});

nsTest('headerMatches mismatch actions over the mesh: node B runs the destination\'s (ADD by the verified SPIFFE ID), node A the client\'s egress ones (REPLACE) before the request crosses; both logged', async (t) => {
  const m = await egressOverMesh(t, clientEgressPolicy('{ method: GET, path: "/allowed.*", headerMatches: [{ name: X-Want, value: from-client, mismatch: REPLACE }] }'), '[{ method: GET, path: "/allowed.*", headerMatches: [{ name: X-Token, value: t0k, mismatch: ADD }] }]');
  t.deepEqual(m.l7.problems, [], 'no "not run over the mesh" problem any more');
  const added = await m.get(m.otherIp, '/allowed/add', { echoHeader: 'x-token' });
  t.deepEqual(added.statuses, { 200: 1 }, JSON.stringify(added));
  t.deepEqual(added.echoed, ['t0k'], 'the destination\'s ADD: the backend sees the expected header');
  const kept = await m.get(m.otherIp, '/allowed/kept', { echoHeader: 'x-token', headers: { 'x-token': 't0k' } });
  t.deepEqual(kept.echoed, ['t0k'], 'a matching header is left alone');
  const replaced = await m.get(m.clientIp, '/allowed/replaced', { echoHeader: 'x-want', headers: { 'x-want': 'forged' } });
  t.deepEqual(replaced.statuses, { 200: 1 }, JSON.stringify(replaced));
  t.deepEqual(replaced.echoed, ['from-client'], 'the client\'s egress REPLACE, on node A');
  t.deepEqual((await m.get(m.otherIp, '/allowed/replaced', { echoHeader: 'x-want', headers: { 'x-want': 'forged' } })).echoed, ['forged'], 'not for a client without the rule');
  t.deepEqual((await m.get(m.otherIp, '/other')).statuses, { 403: 1 }, 'the rules\' verdicts hold');

  const b = await eventually(() => (m.logB().length >= 5 ? m.logB() : undefined), 10_000, 'node B\'s access log lines');
  t.deepEqual(b.find((e) => e.path === '/allowed/add')!.headerMismatches, [{ action: 'ADD', header: 'x-token' }]);
  t.deepEqual(b.find((e) => e.path === '/allowed/kept')!.headerMismatches, []);
  const a = await eventually(() => (m.logA().length >= 5 ? m.logA() : undefined), 10_000, 'node A\'s access log lines');
  const onA = a.find((e) => e.path === '/allowed/replaced' && e.sourceAddress.startsWith(`${m.clientIp}:`))!;
  t.deepEqual(onA.headerMismatches, [{ action: 'REPLACE', header: 'x-want' }]);
  t.deepEqual([...m.f.a.nacks, ...m.f.b.nacks], []);
});

/**
 * Kubernetes' shape (the translation in transparent mode, as `weft agent` makes it): a pod `web` on node B that no
 * policy selects (its application the echo pod), node A's pods `client`, whose egress HTTP rule allows only GET
 * /allowed.* towards web's port, and `other`. Node A's service is web's mesh host with the clients' egress rules the
 * translation gives for it (meshPolicyClientsEgress, as the agent passes them); with `transparent`, also its
 * transparent listener's chains for that service (no datapath: the pods connect to the listener themselves).
 */
async function egressToUnpolicedPort(t: ExecutionContext, transparent: boolean) {
  const f = await fixture(t);
  const [clientIp, otherIp, webIp] = ['127.0.44.1', '127.0.44.2', '127.0.44.10'];
  const yaml = `${meshPodsYaml({ name: 'web', port: BACKEND_PORT, ip: webIp }, clientIp, otherIp)}---${clientEgressPolicy('{ method: GET, path: "/allowed.*" }', 'web')}`;
  const logA = path.join(f.a.dir, 'l7-access.log');
  const l7 = translateYaml('policy.yaml', yaml, { l7: { accessLogPath: logA, mesh: { trustDomain: TD }, transparent: { proxyPort: 15099, upstreamMark: 0x400 } } }).l7!;
  t.deepEqual(l7.problems, []);
  t.deepEqual(l7.listeners, [], 'no rule polices web\'s port: the translation has no listener for it');
  const host = meshServiceHost('default/web', BACKEND_PORT);
  const clientsEgress = meshPolicyClientsEgress(l7.meshEgress).get(host);
  t.truthy(clientsEgress, 'the clients\' egress rules towards web\'s port, for the mesh\'s outbound side');
  const destination = { address: '127.0.0.1', port: TRANSPARENT_PORT };
  f.viewA.outbound!.sources = [{ id: CLIENT, sources: [clientIp] }, { id: OTHER, sources: [otherIp] }];
  f.viewA.outbound!.services = [{ host, node: { address: f.pair.addrB, port: IN_PORT }, id: SERVER, clientsEgress, ...(transparent ? { destination } : {}) }];
  f.viewA.outbound!.accessLogPath = logA;
  if (transparent) f.viewA.outbound!.transparentPort = TRANSPARENT_PORT;
  f.viewB.inbound!.services[0].host = host;
  await f.push();
  const readLogA = () => {
    try {
      return readFileSync(logA, 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!);
    } catch {
      return [];
    }
  };
  return { f, host, clientIp, otherIp, destination, readLogA };
}

nsTest('clients\' egress rules over the mesh on a port no ingress rule polices (Kubernetes\' explicit proxy): node A applies them too', async (t) => {
  const m = await egressToUnpolicedPort(t, false);
  const get = (source: string, requestPath: string) => runLoad(m.f.pair.a, { url: `http://127.0.0.1:${OUT_PORT}${requestPath}`, host: m.host, localAddress: source, count: 1 });
  const allowed = await get(m.clientIp, '/allowed');
  t.deepEqual(allowed.statuses, { 200: 1 }, JSON.stringify(allowed));
  t.deepEqual(allowed.xfcc.map((x) => x.replace(/Hash=[0-9a-f]+;/, '')), [`By=${SERVER};URI=${CLIENT}`]);
  const refused = await get(m.clientIp, '/other');
  t.deepEqual(refused.statuses, { 403: 1 }, 'the client\'s egress rule allows only /allowed.*');
  t.deepEqual(refused.refusals, [ACCESS_DENIED_BODY]);
  t.deepEqual((await get(m.clientIp, '/allowed/../other')).statuses, { 403: 1 }, 'normalised before the rules see it');
  t.deepEqual((await get(m.otherIp, '/other')).statuses, { 200: 1 }, 'a client without egress rules');
  const log = await eventually(() => (m.readLogA().length >= 4 ? m.readLogA() : undefined), 10_000, 'node A\'s access log lines');
  t.like(log.find((e) => e.path === '/other' && e.sourceAddress.startsWith(`${m.clientIp}:`)), { direction: 'egress', verdict: 'DENIED', reason: 'egress:denied:l7', responseCode: 403, destinationEndpoint: 'default/web', destinationPort: BACKEND_PORT });
  t.deepEqual([...m.f.a.nacks, ...m.f.b.nacks], []);
});

nsTest('the mesh\'s plain-TCP tunnel does not carry a client past its egress HTTP rules: its connections to that port are parsed as HTTP, also when the request comes after the protocol detection timeout', async (t) => {
  const m = await egressToUnpolicedPort(t, true);
  const request = (p: string) => `GET ${p} HTTP/1.1\r\nHost: ${m.host}\r\nConnection: close\r\n\r\n`;
  // Sent after the detection timeout: http_inspector saw nothing, so the connection was classified as plain TCP.
  const late = (source: string, p: string) => tcpExchange(m.f.pair.a, { host: m.destination.address, port: TRANSPARENT_PORT, localAddress: source, line: request(p), delayMs: PROTOCOL_DETECTION_TIMEOUT_MS + 500 });
  t.regex((await late(m.clientIp, '/other')).reply ?? '', /^HTTP\/1\.1 403 /, 'the client\'s egress rule refuses /other: its connection was not tunnelled');
  t.regex((await late(m.clientIp, '/allowed')).reply ?? '', /^HTTP\/1\.1 200 /, 'its allowed path still works');
  t.regex((await late(m.otherIp, '/other')).reply ?? '', /^HTTP\/1\.1 200 /, 'a client without egress rules: the tunnel carries its bytes to the pod');
  // Bytes that are no HTTP, from the policed client: the HTTP parser refuses them (Cilium's proxy on a port under HTTP rules).
  const raw = await tcpExchange(m.f.pair.a, { host: m.destination.address, port: TRANSPARENT_PORT, localAddress: m.clientIp, line: '\u0016\u0003\u0001 raw bytes \u00fe' });
  t.notRegex(raw.reply ?? '', /raw bytes/, JSON.stringify(raw));
  const stats = await m.f.a.stats('^tcp\\.mesh-tunnel\\.downstream_cx_total$');
  t.is(stats['tcp.mesh-tunnel.downstream_cx_total'], 1, `only the other client's connection took the tunnel: ${JSON.stringify(stats)}`);
  const log = await eventually(() => (m.readLogA().length >= 2 ? m.readLogA() : undefined), 10_000, 'node A\'s access log lines');
  t.like(log.find((e) => e.path === '/other' && e.sourceAddress.startsWith(`${m.clientIp}:`)), { direction: 'egress', verdict: 'DENIED', reason: 'egress:denied:l7', destinationEndpoint: 'default/web' });
  t.deepEqual([...m.f.a.nacks, ...m.f.b.nacks], []);
});
