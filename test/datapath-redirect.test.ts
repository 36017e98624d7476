// Redirection into the node proxy: pod B's ingress policy puts an L7 rule on port 8081, so the datapath
// assigns pod A's connections to B:8081 to the node Envoy's transparent listener (bpf_sk_assign at tc
// ingress, a mark, and a policy route delivering marked packets locally). Envoy sees the original
// destination, applies its HTTP rule and forwards to B from pod A's address (original_src; the datapath
// marks B's replies so they return to Envoy): GET /public → 200 from B, GET /private → 403 from Envoy.
// Connections to B's other port are not redirected.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Datapath } from '../src/datapath/datapath.js';
import { nativeBpf } from '../src/datapath/native.js';
import { EndpointMap, IdentityCache } from '../src/datapath/endpoints.js';
import { PolicyMap } from '../src/datapath/policy.js';
import { FlowReader } from '../src/datapath/flows.js';
import { IDENTITY, type FlowEvent } from '../src/datapath/layout.js';
import { inNs, ip, Topology } from './helpers/datapath-topology.js';
import { datapathWithEnvoyUnavailable, envoyPathIfInstalled } from './helpers/envoy-in-netns.js';
import { eventually } from './helpers/net.js';

const PROXY_PORT = 15001;
const MARK = 0x200;
const UPSTREAM_MARK = 0x400;
const ID = { a: 4001, b: 4002 };

function envoyConfig(): object {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'weft-proxy',
        address: { socket_address: { address: '0.0.0.0', port_value: PROXY_PORT } },
        transparent: true,
        listener_filters: [
          { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } },
          // Upstream connections from the client's address, marked: the datapath sends their replies back here.
          { name: 'envoy.filters.listener.original_src', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_src.v3.OriginalSrc', mark: UPSTREAM_MARK } },
        ],
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'proxy',
              route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'original-destination' } }] }] },
              http_filters: [
                { name: 'envoy.filters.http.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: { action: 'ALLOW', policies: { public: { permissions: [{ url_path: { path: { exact: '/public' } } }], principals: [{ any: true }] } } } } },
                { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
              ],
            },
          }],
        }],
      }],
      clusters: [{ name: 'original-destination', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' }],
    },
  };
}

const envoyPath = envoyPathIfInstalled();
const unavailable = datapathWithEnvoyUnavailable(envoyPath);

if (unavailable) {
  test('redirection into the node proxy', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  let topo: Topology | undefined;
  let dp: Datapath | undefined;
  let flows: FlowReader | undefined;
  let tmp = '';
  const events: FlowEvent[] = [];

  test.before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'weft-redirect-'));
    topo = new Topology();
    const [a, b] = [topo.addPod('a', 2), topo.addPod('b', 3)];
    // Marked packets (assigned to the proxy) are delivered locally.
    ip('-n', topo.node, 'rule', 'add', 'fwmark', `${MARK}/${MARK}`, 'lookup', '100');
    ip('-n', topo.node, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100');
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    dp.setProxyMarks(MARK, UPSTREAM_MARK);
    flows = new FlowReader(dp.flowsMapFd, (batch) => events.push(...batch));
    new IdentityCache(dp.maps.ipcache).set(`${topo.nodeIp4}/32`, IDENTITY.host);
    const endpoints = new EndpointMap(dp.maps.endpoints);
    for (const [p, id] of [[a, ID.a], [b, ID.b]] as const) {
      dp.attach(topo.nodeNsPath, p.hostIf);
      endpoints.upsert({ ips: [p.ip4], identity: id, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, p.hostIf), ingressEnforced: p === b, egressEnforced: false });
    }
    new PolicyMap(dp.maps.policy).apply(ID.b, [
      { direction: 'ingress', peerIdentity: ID.a, port: 8081, protocol: 'tcp', verdict: 'redirect', proxyPort: PROXY_PORT },
      { direction: 'ingress', peerIdentity: ID.a, port: 8082, protocol: 'tcp', verdict: 'allow' },
    ]);
    await topo.serveHttp(b.ns, 'b', 8081);
    await topo.serveHttp(b.ns, 'b', 8082);
    const config = path.join(tmp, 'envoy.json');
    writeFileSync(config, JSON.stringify(envoyConfig()));
    topo.spawnIn(topo.node, envoyPath!, ['-c', config, '--use-dynamic-base-id', '--concurrency', '1', '-l', 'warning']);
    await eventually(() => inNs(topo!.node, 'ss', '-Hltn', `sport = :${PROXY_PORT}`).includes(`${PROXY_PORT}`), 20_000, 'Envoy listening');
  });

  test.after.always(() => {
    flows?.close();
    if (topo && dp) for (const p of topo.pods.values()) dp.detach(topo.nodeNsPath, p.hostIf);
    dp?.destroy();
    topo?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const get = (url: string) => {
    const out = inNs(topo!.pod('a').ns, 'curl', '-s', '-m', '3', '-w', '\n%{http_code}', url);
    const lines = out.trimEnd().split('\n');
    return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trim() };
  };

  test.serial('an L7 port goes through the node Envoy: /public reaches pod B, /private gets 403 from Envoy', async (t) => {
    const b = topo!.pod('b');
    const pub = get(`http://${b.ip4}:8081/public`);
    t.is(pub.status, 200, pub.body);
    t.is(pub.body, `b ${topo!.pod('a').ip4} /public`, 'the backend sees pod A\'s address (Envoy\'s original_src)');
    const priv = get(`http://${b.ip4}:8081/private`);
    t.is(priv.status, 403);
    t.regex(priv.body, /RBAC/, 'the denial comes from Envoy');
    // The flow reader runs on the event loop, blocked by curl above.
    t.true(await eventually(() => events.some((e) => e.kind === 'new' && e.verdict === 'redirect' && e.proxyPort === PROXY_PORT && e.destination.port === 8081), 10_000, 'the redirect\'s flow event'));
  });

  test.serial('a port without L7 rules is not redirected: the backend sees pod A itself', (t) => {
    const [a, b] = [topo!.pod('a'), topo!.pod('b')];
    const r = get(`http://${b.ip4}:8082/private`);
    t.is(r.status, 200);
    t.is(r.body, `b ${a.ip4} /private`);
  });
}
