// L7 policy in Kubernetes mode's shape, end to end in the real kernel and a real Envoy: pods and a
// CiliumNetworkPolicy go through the same pipeline the node agent runs (translateManifests with the transparent
// proxy), the DatapathController writes identities and policy (an L7 port becomes a redirect into the node Envoy's
// transparent listener), and the translation's xDS resources reach Envoy over ADS. Pod A's requests to pod B's
// L7 port are enforced by Envoy (allowed path: B answers and sees A's own address; other path: 403 `Access denied`),
// pod C is refused by the datapath before any proxy, B's other port is not proxied, and a policy change reaches
// Envoy through the route configuration alone (the transparent listener keeps its version).
// Egress (Cilium's egress toPorts.rules.http): pod A's own requests to pod S's port 80 are allow-listed (A's
// egress chain, chosen by A's address), A's L4-only port to S is not proxied, A's requests to pod B's L7 port
// meet A's egress rules and B's ingress rules in B's chain (both must allow), and egress policy changes reach
// the next request. Pod S2 (a store too) runs on a second node: the replies to the proxy's upstream connection, which
// carries A's address, come back from there addressed to A and must reach the proxy, not A. The second node also runs
// a datapath and an Envoy of its own for pod far-backend (the backend's labels): A's requests to it meet both nodes'
// proxies. Servers in namespaces outside the cluster (documentation addresses the node routes) are the world for
// A's egress rules by entity and by CIDR, also behind a node that masquerades.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeBootstrap } from '../envoy/bootstrap.js';
import { DatapathController } from '../src/datapath/controller.js';
import { Datapath } from '../src/datapath/datapath.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { INIT_IDENTITY } from '../src/datapath/cni/plugin.js';
import { nativeBpf } from '../src/datapath/native.js';
import { parseL7AccessLogLine, type L7AccessLogEntry } from '../src/l7policy/access-log.js';
import { TRANSPARENT_LISTENER } from '../src/l7policy/envoy.js';
import { silentLogger } from '../src/log/logger.js';
import type { Manifest } from '../src/sources/manifests.js';
import { translateManifests, type Translation } from '../src/standalone/pipeline.js';
import { InMemorySnapshotCache } from '../src/xds/cache.js';
import { XdsServer } from '../src/xds/server.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { inNs, ip, Topology } from './helpers/datapath-topology.js';
import { datapathWithEnvoyUnavailable, envoyPathIfInstalled } from './helpers/envoy-in-netns.js';
import { eventually } from './helpers/net.js';

const PROXY_PORT = 15001;
const MARK = 0x200;
const UPSTREAM_MARK = 0x400;
const NODE_ID = 'node-1';
/** The second node runs a datapath and an Envoy of its own for pod `far-backend` (the other pods there have none). */
const NODE2_ID = 'node-2';
const NODE2_IP = '10.98.0.2';
const source = { file: 'test/l7policy-transparent.test.ts', line: 1 };

const pod = (name: string, app: string, n: number): Manifest => (({
  apiVersion: 'v1', kind: 'Pod', source,
  metadata: { name, namespace: 'shop', labels: { app } },
  spec: { containers: [{ name: 'c', ports: [{ containerPort: 8081 }, { containerPort: 8082 }] }] },
  status: { podIP: `10.99.0.${n}` },
}));

function policy(paths: string[]): Manifest {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', source, metadata: { name: 'backend', namespace: 'shop' },
    spec: {
      endpointSelector: { matchLabels: { app: 'backend' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '8081', protocol: 'TCP' }], rules: { http: paths.map((p) => ({ method: 'GET', path: p })) } }] },
        { fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '8082', protocol: 'TCP' }] }] },
      ],
    },
  };
}

/** Pod A's (frontend's) egress rules: GET `storePaths` on the store's port 80, anything on its port 8080, and
 *  GET `backendPaths` on the backend's port 8081 (where the backend's own ingress rules apply too). */
function egressPolicy(storePaths: string[], backendPaths: string[]): Manifest {
  const http = (paths: string[]) => ({ http: paths.map((p) => ({ method: 'GET', path: p })) });
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', source, metadata: { name: 'frontend-egress', namespace: 'shop' },
    spec: {
      endpointSelector: { matchLabels: { app: 'frontend' } },
      egress: [
        { toEndpoints: [{ matchLabels: { app: 'store' } }], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: http(storePaths) }, { ports: [{ port: '8080', protocol: 'TCP' }] }] },
        { toEndpoints: [{ matchLabels: { app: 'backend' } }], toPorts: [{ ports: [{ port: '8081', protocol: 'TCP' }], rules: http(backendPaths) }] },
      ],
    },
  };
}

/** Pod A's egress rule towards the world with a headerMatches mismatch action: REPLACE X-Token on GET /public. */
function worldActionsPolicy(): Manifest {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', source, metadata: { name: 'frontend-world', namespace: 'shop' },
    spec: {
      endpointSelector: { matchLabels: { app: 'frontend' } },
      egress: [{ toEntities: ['world'], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public.*', headerMatches: [{ name: 'X-Token', value: 't0k', mismatch: 'REPLACE' }] }] } }] }],
    },
  };
}

/** Machines outside the cluster (namespaces this test creates, addresses from the documentation ranges). */
const WORLD = { w1: '192.0.2.80', w2: '198.51.100.80', w3: '198.51.100.200' };

/** Pod A's (frontend's) egress rules towards the world: GET /public on port 80 of any world address
 *  (`toEntities: [world]`), and GET /cidr… on port 8000 of 198.51.100.0/24 except its upper half (`toCIDRSet`). */
function worldEgressPolicy(): Manifest {
  return {
    apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', source, metadata: { name: 'frontend-world', namespace: 'shop' },
    spec: {
      endpointSelector: { matchLabels: { app: 'frontend' } },
      egress: [
        { toEntities: ['world'], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }] },
        { toCIDRSet: [{ cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }], toPorts: [{ ports: [{ port: '8000', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/cidr.*' }] } }] },
      ],
    },
  };
}

/** nftables' binary by its system path: node_modules/.bin, early in a test's PATH, holds an unrelated `nft`. */
const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p));

const envoyPath = envoyPathIfInstalled();
const unavailable = datapathWithEnvoyUnavailable(envoyPath);

if (unavailable) {
  test('L7 policy through the transparent proxy', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  let topo: Topology | undefined;
  let dp: Datapath | undefined;
  let server: XdsServer | undefined;
  let controller: DatapathController;
  const cache = new InMemorySnapshotCache();
  const nacks: string[] = [];
  let tmp = '';
  // `remote` (a frontend too) runs on a second node: its node's datapath knows nothing of the backend's rules.
  const pods = [pod('frontend', 'frontend', 2), pod('backend', 'backend', 3), pod('intruder', 'intruder', 4), pod('remote', 'frontend', 9)];
  const store: Manifest = { ...pod('store', 'store', 5), spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }, { containerPort: 8080 }] }] } };
  const remoteStore: Manifest = { ...pod('remote-store', 'store', 10), spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] } };
  /** A backend (the backend's labels, so its ingress rules) on the second node, behind that node's datapath and Envoy. */
  const farBackend = pod('far-backend', 'backend', 11);
  /** Pods on the second node (no datapath of their own here). */
  const remotePods = new Set(['remote', 'remote-store', 'far-backend']);
  let dp2: Datapath | undefined;
  let controller2: DatapathController;
  let node2 = '';

  /** What the node agent does with a translation: the datapath maps, then the snapshot for Envoy. */
  /** What one node's agent does with a translation: the datapath maps, then the snapshot for its Envoy. */
  const applyOn = (node: 1 | 2, manifests: Manifest[]): Translation => {
    const [nodeId, hostIp, log, dpc] = node === 1 ? [NODE_ID, topo!.nodeIp4, 'access.log', controller] : [NODE2_ID, NODE2_IP, 'access-n2.log', controller2];
    const translation = translateManifests(manifests, [], { l7: { hostIps: [hostIp], transparent: { proxyPort: PROXY_PORT, upstreamMark: UPSTREAM_MARK }, accessLogPath: path.join(tmp, log) } });
    if (translation.problems.length) throw new Error(translation.problems.map((p) => p.message).join('; '));
    dpc.syncTranslation(manifests, translation);
    cache.setSnapshot(nodeId, Snapshot.of(translation.resources));
    return translation;
  };
  /** Both nodes' agents; the first node's translation. */
  const apply = (manifests: Manifest[]): Translation => {
    const translation = applyOn(1, manifests);
    applyOn(2, manifests);
    return translation;
  };

  /** One request with curl from a pod; `headers`: `Name: value` lines to send. */
  const get = (from: string, url: string, ...headers: string[]): { status: number; body: string } => {
    let out: string;
    try {
      out = inNs(topo!.pod(from).ns, 'curl', '-s', '-m', '3', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url);
    } catch (err) {
      // curl fails (timeout, refused) with what it printed: status 000.
      out = (err as { stdout?: string }).stdout ?? '\n000';
    }
    const lines = out.trimEnd().split('\n');
    return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trim() };
  };

  test.before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'weft-l7-transparent-'));
    topo = new Topology();
    for (const [name, n] of [['frontend', 2], ['backend', 3], ['intruder', 4], ['store', 5]] as const) topo.addPod(name, n);
    // Connections the datapath assigned to the proxy are delivered locally.
    ip('-n', topo.node, 'rule', 'add', 'fwmark', `${MARK}/${MARK}`, 'lookup', '100');
    ip('-n', topo.node, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100');
    // As the agent does (node-datapath.ts): proxied connections from other nodes must reach the pods' veths.
    inNs(topo.node, 'sysctl', '-qw', 'net.ipv4.tcp_early_demux=0');
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    dp.setProxyMarks(MARK, UPSTREAM_MARK);
    const endpoints = new EndpointMap(dp.maps.endpoints);
    for (const p of topo.pods.values()) {
      dp.attach(topo.nodeNsPath, p.hostIf);
      // As the CNI plugin registers a new pod: its address and veth, the "init" identity.
      endpoints.upsert({ ips: [p.ip4], identity: INIT_IDENTITY, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, p.hostIf), ingressEnforced: false, egressEnforced: false });
    }
    const n2 = topo.addNode('n2');
    topo.addPod('remote', 9, n2);
    topo.addPod('remote-store', 10, n2);
    controller = new DatapathController(dp, { proxyPort: PROXY_PORT });
    // The second node's own datapath (on far-backend's veth only) and proxy plumbing, as its agent sets them up.
    node2 = n2;
    const far = topo.addPod('far-backend', 11, n2);
    ip('-n', n2, 'rule', 'add', 'fwmark', `${MARK}/${MARK}`, 'lookup', '100');
    ip('-n', n2, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100');
    inNs(n2, 'sysctl', '-qw', 'net.ipv4.tcp_early_demux=0');
    dp2 = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}-n2` });
    dp2.setProxyMarks(MARK, UPSTREAM_MARK);
    dp2.attach(`/var/run/netns/${n2}`, far.hostIf);
    new EndpointMap(dp2.maps.endpoints).upsert({ ips: [far.ip4], identity: INIT_IDENTITY, ifindex: nativeBpf().ifIndex(`/var/run/netns/${n2}`, far.hostIf), ingressEnforced: false, egressEnforced: false });
    controller2 = new DatapathController(dp2, { proxyPort: PROXY_PORT });
    await topo.serveHttp(far.ns, 'fb', 8081);
    await topo.serveHttp(topo.pod('backend').ns, 'b', 8081);
    await topo.serveHttp(topo.pod('backend').ns, 'b', 8082);
    await topo.serveHttp(topo.pod('store').ns, 's', 80);
    await topo.serveHttp(topo.pod('store').ns, 's', 8080);
    await topo.serveHttp(topo.pod('remote-store').ns, 's2', 80);
    for (const [name, address] of Object.entries(WORLD)) {
      const outside = topo.addExternal(name, address);
      await topo.serveHttp(outside.ns, name, 80);
      await topo.serveHttp(outside.ns, name, 8000);
    }

    server = new XdsServer({ cache, logger: silentLogger });
    server.on('nack', (e) => nacks.push(`${e.typeUrl}: ${e.errorMessage}`));
    const socket = path.join(tmp, 'xds.sock');
    await server.listen({ unix: socket });
    apply([...pods, policy(['/public.*'])]);
    for (const [nodeId, ns] of [[NODE_ID, topo.node], [NODE2_ID, n2]]) {
      const bootstrap = path.join(tmp, `envoy-${nodeId}.json`);
      writeFileSync(bootstrap, JSON.stringify(nodeBootstrap({ nodeId, xds: { unix: socket }, protocol: 'delta' })));
      topo.spawnIn(ns, envoyPath!, ['-c', bootstrap, '--use-dynamic-base-id', '--concurrency', '1', '-l', 'warning']);
      await eventually(() => inNs(ns, 'ss', '-Hltn', `sport = :${PROXY_PORT}`).includes(`${PROXY_PORT}`), 30_000, `${nodeId}'s transparent listener bound`);
    }
  });

  test.after.always(async () => {
    if (topo && dp) for (const p of topo.pods.values()) if (!remotePods.has(p.name)) dp.detach(topo.nodeNsPath, p.hostIf);
    dp?.destroy();
    if (topo && dp2) dp2.detach(`/var/run/netns/${node2}`, topo.pod('far-backend').hostIf);
    dp2?.destroy();
    topo?.destroy();
    await server?.shutdown(500);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The proxy's access log entries for one path (Envoy writes the file in batches: wait for them); `log`: the
   *  second node's proxy's file is `access-n2.log`; `where`: only the entries it accepts. */
  const logged = async (requestPath: string, count: number, log = 'access.log', where = (_: L7AccessLogEntry) => true): Promise<L7AccessLogEntry[]> =>
    eventually(() => {
      let text: string;
      try {
        text = readFileSync(path.join(tmp, log), 'utf8');
      } catch {
        return undefined;
      }
      const entries = text.split('\n').map(parseL7AccessLogLine).filter((e): e is L7AccessLogEntry => e?.path === requestPath && where(e));
      return entries.length >= count ? entries : undefined;
    }, 20_000, `${count} line(s) for ${requestPath} in ${log}`);

  test.serial('the allowed path reaches pod B from pod A\'s own address; another path is 403 Access denied from the proxy', async (t) => {
    const b = topo!.pod('backend');
    const allowed = await eventually(() => {
      const r = get('frontend', `http://${b.ip4}:8081/public/x`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 through the transparent proxy');
    t.is(allowed.body, `b ${topo!.pod('frontend').ip4} /public/x`, 'pod B sees pod A\'s address (original_src)');
    const denied = get('frontend', `http://${b.ip4}:8081/private`);
    t.is(denied.status, 403);
    t.is(denied.body, 'Access denied');
    t.deepEqual(nacks, []);
  });

  test.serial('a client on another node meets pod B\'s L7 rules in this node\'s proxy: allowed path 200 from its own address, another 403', async (t) => {
    const b = topo!.pod('backend');
    const remote = topo!.pod('remote');
    const allowed = await eventually(() => {
      const r = get('remote', `http://${b.ip4}:8081/public/remote`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 from the other node');
    t.is(allowed.body, `b ${remote.ip4} /public/remote`, 'pod B sees the remote client\'s address (original_src)');
    const denied = get('remote', `http://${b.ip4}:8081/private/remote`);
    t.is(denied.status, 403, 'the destination node\'s proxy polices a connection from another node');
    t.is(denied.body, 'Access denied');
    const [entry] = await logged('/private/remote', 1);
    t.like(entry, { direction: 'ingress', destinationEndpoint: 'shop/backend', verdict: 'DENIED', reason: 'denied:l7' });
    t.true(entry.sourceAddress.startsWith(`${remote.ip4}:`), entry.sourceAddress);
    const l4 = get('remote', `http://${b.ip4}:8082/private/remote-l4`);
    t.is(l4.status, 200, 'port 8082 has no L7 rule: not proxied');
    t.is(l4.body, `b ${remote.ip4} /private/remote-l4`);
  });

  test.serial('a pod the policy does not name is refused by the datapath; the L4-only port is not proxied', (t) => {
    const b = topo!.pod('backend');
    const intruder = get('intruder', `http://${b.ip4}:8081/public/x`);
    t.is(intruder.status, 0, 'no HTTP answer at all: the connection is dropped before any proxy');
    const direct = get('frontend', `http://${b.ip4}:8082/private`);
    t.is(direct.status, 200, 'port 8082 has no L7 rule: any path');
    t.is(direct.body, `b ${topo!.pod('frontend').ip4} /private`);
  });

  test.serial('a policy change reaches Envoy through the route configuration; the transparent listener is unchanged', async (t) => {
    const listenerVersion = (tr: Translation) => tr.resources.find((r) => r.typeUrl === TypeUrl.Listener && r.name === TRANSPARENT_LISTENER)?.version;
    const before = translateManifests([...pods, policy(['/public.*'])], [], { l7: { hostIps: [topo!.nodeIp4], transparent: { proxyPort: PROXY_PORT, upstreamMark: UPSTREAM_MARK }, accessLogPath: path.join(tmp, 'access.log') } });
    const after = apply([...pods, policy(['/public.*', '/private'])]);
    t.truthy(listenerVersion(after));
    t.is(listenerVersion(after), listenerVersion(before));
    const b = topo!.pod('backend');
    const now = await eventually(() => {
      const r = get('frontend', `http://${b.ip4}:8081/private`);
      return r.status === 200 ? r : undefined;
    }, 20_000, '/private allowed after the change');
    t.is(now.body, `b ${topo!.pod('frontend').ip4} /private`);
    t.is(get('frontend', `http://${b.ip4}:8081/other`).status, 403);
    t.deepEqual(nacks, []);
  });

  test.serial('egress: pod A\'s allowed request reaches pod S, which sees A\'s address; another path is 403 Access denied; the log says egress', async (t) => {
    apply([...pods, store, policy(['/public.*']), egressPolicy(['/public'], ['/public/a.*'])]);
    const a = topo!.pod('frontend');
    const s = topo!.pod('store');
    const allowed = await eventually(() => {
      const r = get('frontend', `http://${s.ip4}/public`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 through the egress chain');
    t.is(allowed.body, `s ${a.ip4} /public`, 'pod S sees pod A\'s address (original_src)');
    const denied = get('frontend', `http://${s.ip4}/private/e1`);
    t.is(denied.status, 403);
    t.is(denied.body, 'Access denied');
    const [entry] = await logged('/private/e1', 1);
    t.true(entry.sourceAddress.startsWith(`${a.ip4}:`), entry.sourceAddress);
    t.like(entry, { direction: 'egress', sourceEndpoint: 'shop/frontend', destinationAddress: s.ip4, destinationPort: 80, verdict: 'DENIED', reason: 'egress:denied:l7', responseCode: 403 });
    t.truthy(entry.sourceIdentity, 'the client\'s identity');
    t.truthy(entry.destinationIdentity, 'the destination\'s identity, by its address');
    t.deepEqual(nacks, []);
  });

  test.serial('egress to another node: pod A\'s allowed request reaches pod S2 there from A\'s address; another path is 403 Access denied', async (t) => {
    apply([...pods, store, remoteStore, policy(['/public.*']), egressPolicy(['/public'], ['/public/a.*'])]);
    const a = topo!.pod('frontend');
    const s2 = topo!.pod('remote-store');
    const allowed = await eventually(() => {
      const r = get('frontend', `http://${s2.ip4}/public`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 through the egress chain to the other node');
    t.is(allowed.body, `s2 ${a.ip4} /public`, 'pod S2 sees pod A\'s address (original_src); the reply reached the proxy');
    const denied = get('frontend', `http://${s2.ip4}/private/far`);
    t.is(denied.status, 403);
    t.is(denied.body, 'Access denied');
    const [entry] = await logged('/private/far', 1);
    t.like(entry, { direction: 'egress', sourceEndpoint: 'shop/frontend', destinationAddress: s2.ip4, destinationPort: 80, verdict: 'DENIED', reason: 'egress:denied:l7' });
    t.deepEqual(nacks, []);
  });

  test.serial('egress: pod A\'s L4-only port is not proxied, nor are pods without egress rules', async (t) => {
    const s = topo!.pod('store');
    const l4 = get('frontend', `http://${s.ip4}:8080/l4-only`);
    t.is(l4.status, 200, 'no L7 rule on port 8080: any path');
    t.is(l4.body, `s ${topo!.pod('frontend').ip4} /l4-only`);
    const other = get('intruder', `http://${s.ip4}/unpoliced`);
    t.is(other.status, 200, 'the intruder has no egress rules and the store no ingress rules: any path');
    // A later proxied request is logged: had the earlier ones gone through the proxy, they would be logged first.
    t.is(get('frontend', `http://${s.ip4}/public`).status, 200);
    await logged('/public', 2);
    const text = readFileSync(path.join(tmp, 'access.log'), 'utf8');
    t.false(text.includes('/l4-only'), 'port 8080 was not redirected into the proxy');
    t.false(text.includes('/unpoliced'), 'the intruder\'s connection was not redirected into the proxy');
  });

  test.serial('egress + ingress on one connection: pod A\'s egress rules and pod B\'s ingress rules must both allow', async (t) => {
    // A may GET /public/a…, /public/c and /private/a on B:8081; B admits /public… from A.
    apply([...pods, store, policy(['/public.*']), egressPolicy(['/public'], ['/public/a.*', '/public/c', '/private/a'])]);
    const a = topo!.pod('frontend');
    const b = topo!.pod('backend');
    const both = await eventually(() => {
      const r = get('frontend', `http://${b.ip4}:8081/public/c`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'both allow /public/c (the new egress rules are in Envoy)');
    t.is(both.body, `b ${a.ip4} /public/c`);
    const ingressDenies = get('frontend', `http://${b.ip4}:8081/private/a`);
    t.is(ingressDenies.status, 403, 'A\'s egress allows /private/a, B\'s ingress does not');
    t.is(ingressDenies.body, 'Access denied');
    const egressDenies = get('frontend', `http://${b.ip4}:8081/public/b`);
    t.is(egressDenies.status, 403, 'B\'s ingress allows /public/b, A\'s egress does not');
    t.is(egressDenies.body, 'Access denied');
    const [byIngress] = await logged('/private/a', 1);
    t.like(byIngress, { direction: 'ingress', destinationEndpoint: 'shop/backend', verdict: 'DENIED', reason: 'denied:l7' });
    const [byEgress] = await logged('/public/b', 1);
    t.like(byEgress, { direction: 'ingress', destinationEndpoint: 'shop/backend', verdict: 'DENIED', reason: 'egress:denied:l7' });
    t.deepEqual(nacks, []);
  });

  test.serial('egress: a policy change reaches the next request; the transparent listener is unchanged', async (t) => {
    const options = { l7: { hostIps: [topo!.nodeIp4], transparent: { proxyPort: PROXY_PORT, upstreamMark: UPSTREAM_MARK }, accessLogPath: path.join(tmp, 'access.log') } };
    const listenerVersion = (tr: Translation) => tr.resources.find((r) => r.typeUrl === TypeUrl.Listener && r.name === TRANSPARENT_LISTENER)?.version;
    const before = translateManifests([...pods, store, policy(['/public.*']), egressPolicy(['/public'], ['/public/a.*', '/public/c', '/private/a'])], [], options);
    const after = apply([...pods, store, policy(['/public.*']), egressPolicy(['/public', '/private'], ['/public/a.*', '/public/c', '/private/a'])]);
    t.is(listenerVersion(after), listenerVersion(before));
    const s = topo!.pod('store');
    const now = await eventually(() => {
      const r = get('frontend', `http://${s.ip4}/private`);
      return r.status === 200 ? r : undefined;
    }, 20_000, '/private allowed after the change');
    t.is(now.body, `s ${topo!.pod('frontend').ip4} /private`);
    t.is(get('frontend', `http://${s.ip4}/other`).status, 403);
    t.deepEqual(nacks, []);
  });

  test.serial('egress to the world (toEntities: world): the allowed path reaches a server outside the cluster from pod A\'s address; another path is 403 Access denied', async (t) => {
    apply([...pods, store, policy(['/public.*']), worldEgressPolicy()]);
    const a = topo!.pod('frontend');
    const allowed = await eventually(() => {
      const r = get('frontend', `http://${WORLD.w1}/public`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 from the world through the egress chain');
    t.is(allowed.body, `w1 ${a.ip4} /public`, 'the server sees pod A\'s address; its reply reached the proxy');
    const denied = get('frontend', `http://${WORLD.w1}/private/world`);
    t.is(denied.status, 403);
    t.is(denied.body, 'Access denied');
    const [entry] = await logged('/private/world', 1);
    // Named as Cilium names it: the world, identity 2 (reserved:world).
    t.like(entry, { direction: 'egress', sourceEndpoint: 'shop/frontend', destinationAddress: WORLD.w1, destinationIdentity: 2, destinationLabels: ['reserved:world'], destinationPort: 80, verdict: 'DENIED', reason: 'egress:denied:l7', responseCode: 403 });
    t.true(entry.sourceAddress.startsWith(`${a.ip4}:`), entry.sourceAddress);
    t.deepEqual(nacks, []);
  });

  test.serial('egress to the world by CIDR (toCIDRSet with except); the world entity covers addresses inside a policy CIDR too', async (t) => {
    const a = topo!.pod('frontend');
    const cidr = await eventually(() => {
      const r = get('frontend', `http://${WORLD.w2}:8000/cidr/x`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 inside the CIDR');
    t.is(cidr.body, `w2 ${a.ip4} /cidr/x`);
    const denied = get('frontend', `http://${WORLD.w2}:8000/public`);
    t.is(denied.status, 403, 'inside the CIDR, a path its rules do not allow');
    t.is(denied.body, 'Access denied');
    t.is(get('frontend', `http://${WORLD.w3}:8000/cidr/x`).status, 0, 'in the CIDR\'s exception: dropped by the datapath');
    t.is(get('frontend', `http://${WORLD.w1}:8000/cidr/x`).status, 0, 'outside the CIDR: dropped by the datapath');
    // 198.51.100.80 has the policy CIDR's identity in the datapath; that identity is the world's too.
    const world = get('frontend', `http://${WORLD.w2}/public`);
    t.is(world.status, 200, 'toEntities: world allows port 80 of an address inside a policy CIDR');
    t.is(world.body, `w2 ${a.ip4} /public`);
    t.is(get('frontend', `http://${WORLD.w3}/private`).status, 403, 'and its L7 rules apply there');
    // In the log, an address inside a policy CIDR has that CIDR's identity (the most specific CIDR: the exception's).
    const [inCidr] = await logged('/public', 1, 'access.log', (e) => e.destinationAddress === WORLD.w2 && e.destinationPort === 80);
    t.like(inCidr, { destinationAddress: WORLD.w2, destinationPort: 80, destinationIdentity: undefined, destinationLabels: ['cidr:198.51.100.0/24', 'reserved:world'], verdict: 'FORWARDED' });
    const [inExcept] = await logged('/private', 1, 'access.log', (e) => e.destinationAddress === WORLD.w3);
    t.like(inExcept, { destinationIdentity: undefined, destinationLabels: ['cidr:198.51.100.128/25', 'reserved:world'], verdict: 'DENIED' });
    t.deepEqual(nacks, []);
  });

  test.serial('egress to the world through a node that masquerades: the server sees the node\'s address; the replies, translated back, reach the proxy', async (t) => {
    // As a node's SNAT towards its uplink does (Weft's datapath masquerades nothing): connections leaving towards
    // w3 get the node's address; netfilter translates the replies back to pod A's address on the node. (w3: no
    // earlier request reached it, so Envoy has no upstream connection there from before the NAT rule.)
    if (!NFT) {
      t.log('skipped: no nft binary (nftables) for the node\'s SNAT');
      t.pass();
      return;
    }
    const table = `weft_masq_${topo!.id}`;
    inNs(topo!.node, NFT, `add table ip ${table}; add chain ip ${table} post { type nat hook postrouting priority srcnat; }; add rule ip ${table} post ip daddr ${WORLD.w3} snat to ${topo!.nodeIp4}`);
    t.teardown(() => inNs(topo!.node, NFT, 'delete', 'table', 'ip', table));
    const ok = get('frontend', `http://${WORLD.w3}/public`);
    t.is(ok.status, 200);
    t.is(ok.body, `w3 ${topo!.nodeIp4} /public`, 'the server sees the node\'s address (masqueraded)');
    const denied = get('frontend', `http://${WORLD.w3}/public/masq`);
    t.is(denied.status, 403, 'GET /public only');
    t.is(denied.body, 'Access denied');
    const [entry] = await logged('/public/masq', 1);
    t.like(entry, { direction: 'egress', sourceEndpoint: 'shop/frontend', destinationAddress: WORLD.w3, verdict: 'DENIED', reason: 'egress:denied:l7' });
    t.deepEqual(nacks, []);
  });

  test.serial('egress to a pod on another node with L7 ingress rules: both nodes\' proxies police; allowed by both 200, refused by either 403', async (t) => {
    // A may GET /public/a… and /private/x-far on backends' port 8081; backends admit /public… from A.
    apply([...pods, store, farBackend, policy(['/public.*']), egressPolicy(['/public'], ['/public/a.*', '/private/x-far'])]);
    const a = topo!.pod('frontend');
    const far = topo!.pod('far-backend');
    const both = await eventually(() => {
      const r = get('frontend', `http://${far.ip4}:8081/public/a-far`);
      return r.status === 200 ? r : undefined;
    }, 20_000, 'first 200 from the backend on the other node');
    t.is(both.body, `fb ${a.ip4} /public/a-far`, 'the far backend sees A\'s address; the reply went back through both proxies');
    // The client's node: A's egress rules (and the destination's ingress rules, whose chain every node has).
    // The entry of the request that got the 200: tries before both nodes had the policy may be logged too (ERROR).
    const [near] = await logged('/public/a-far', 1, 'access.log', (e) => e.responseCode === 200);
    t.like(near, { destinationEndpoint: 'shop/far-backend', verdict: 'FORWARDED' });
    // The destination's node: its datapath sent the connection from the other node into its own proxy, which
    // applied the backend's ingress rules (and A's egress rules) to the request from A's address.
    const [farEntry] = await logged('/public/a-far', 1, 'access-n2.log', (e) => e.responseCode === 200);
    t.like(farEntry, { direction: 'ingress', destinationEndpoint: 'shop/far-backend', destinationPort: 8081, verdict: 'FORWARDED', reason: 'via_upstream' });
    t.true(farEntry.sourceAddress.startsWith(`${a.ip4}:`), farEntry.sourceAddress);
    const ingressDenies = get('frontend', `http://${far.ip4}:8081/private/x-far`);
    t.is(ingressDenies.status, 403, 'A\'s egress allows /private/x-far, the backend\'s ingress does not');
    t.is(ingressDenies.body, 'Access denied');
    const egressDenies = get('frontend', `http://${far.ip4}:8081/public/b-far`);
    t.is(egressDenies.status, 403, 'the backend\'s ingress allows /public/b-far, A\'s egress does not');
    t.is(egressDenies.body, 'Access denied');
    const [byIngress] = await logged('/private/x-far', 1);
    t.like(byIngress, { destinationEndpoint: 'shop/far-backend', verdict: 'DENIED', reason: 'denied:l7' });
    const [byEgress] = await logged('/public/b-far', 1);
    t.like(byEgress, { destinationEndpoint: 'shop/far-backend', verdict: 'DENIED', reason: 'egress:denied:l7' });
    // Every node's proxy has the backend's ingress chain, so the client's node refused those already. The
    // destination's node enforces on its own too: with a narrower backend policy that has reached only that node
    // (as a change reaches nodes at different times), a request the client's node forwards is refused there.
    applyOn(2, [...pods, store, farBackend, policy(['/public/a-far']), egressPolicy(['/public'], ['/public/a.*', '/private/x-far'])]);
    const refused = await eventually(() => {
      const r = get('frontend', `http://${far.ip4}:8081/public/a-far2`);
      return r.status === 403 ? r : undefined;
    }, 20_000, 'the destination node\'s proxy refusing /public/a-far2');
    t.is(refused.body, 'Access denied');
    t.is(get('frontend', `http://${far.ip4}:8081/public/a-far`).status, 200, 'still allowed by both');
    // Requests before the change reached the destination node got 200: the client's node logs the relayed 403 too.
    const [forwarded] = await logged('/public/a-far2', 1, 'access.log', (e) => e.responseCode === 403);
    t.like(forwarded, { destinationEndpoint: 'shop/far-backend', verdict: 'FORWARDED' }, 'the client\'s node forwarded it and relayed the 403');
    const [byFar] = await logged('/public/a-far2', 1, 'access-n2.log', (e) => e.responseCode === 403);
    t.like(byFar, { direction: 'ingress', destinationEndpoint: 'shop/far-backend', verdict: 'DENIED', reason: 'denied:l7' });
    t.true(byFar.sourceAddress.startsWith(`${a.ip4}:`), byFar.sourceAddress);
    t.deepEqual(nacks, []);
  });

  test.serial('egress headerMatches mismatch actions in the client\'s own chain: the world server receives the replaced header; the log names the action', async (t) => {
    apply([...pods, store, policy(['/public.*']), worldActionsPolicy()]);
    const a = topo!.pod('frontend');
    const replaced = await eventually(() => {
      const r = get('frontend', `http://${WORLD.w1}/public/token`, 'X-Token: guess', 'X-Echo: x-token');
      return r.status === 200 && r.body.endsWith('x-token=t0k') ? r : undefined;
    }, 20_000, 'the replaced token at the world server');
    t.is(replaced.body, `w1 ${a.ip4} /public/token x-token=t0k`);
    t.is(get('frontend', `http://${WORLD.w1}/private/token`).status, 403, 'the rule still allows only GET /public…');
    const [entry] = await logged('/public/token', 1, 'access.log', (e) => e.headerMismatches.length > 0);
    t.like(entry, { direction: 'egress', sourceEndpoint: 'shop/frontend', destinationAddress: WORLD.w1, verdict: 'FORWARDED', headerMismatches: [{ action: 'REPLACE', header: 'x-token' }] });
    t.deepEqual(nacks, []);
  });
}
