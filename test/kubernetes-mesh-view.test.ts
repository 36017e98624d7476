// The mesh view of a node from Pods (src/kubernetes/mesh-view.ts) and the CA Secret's validation
// (src/kubernetes/mesh-ca.ts), as pure functions; test/kubernetes-mtls.test.ts runs them against the API server.
import test from 'ava';
import type * as k8s from '@kubernetes/client-node';
import type { KubeObject } from '../src/kubernetes/informers.js';
import { caFromSecret } from '../src/kubernetes/mesh-ca.js';
import { meshPolicyRoutes, meshViewFromPods, podMeshHost } from '../src/kubernetes/mesh-view.js';
import { translateL7Policy } from '../src/l7policy/translate.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { meshResources } from '../src/mtls/mesh-resources.js';
import { CertificateAuthority } from '../src/mtls/ca.js';

function pod(name: string, node: string, ip: string, hostIP: string, extra: { sa?: string; ports?: number[]; hostNetwork?: boolean; phase?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' },
    spec: { nodeName: node, ...(extra.sa ? { serviceAccountName: extra.sa } : {}), ...(extra.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'c', ports: (extra.ports ?? []).map((containerPort) => ({ containerPort })) }] },
    status: { podIP: ip, hostIP, phase: extra.phase ?? 'Running' },
  };
}

const opts = { nodeName: 'n1', trustDomain: 'cluster.local', outboundPort: 15002, inboundPort: 15443 };

test('a node\'s view: its pods as sources by ServiceAccount (default when unset) and inbound services; every served pod a destination at its node', (t) => {
  const pods = [
    pod('web-1', 'n1', '10.244.1.5', '10.0.0.11', { sa: 'web', ports: [8080, 9090] }),
    pod('web-2', 'n1', '10.244.1.6', '10.0.0.11', { sa: 'web' }),
    pod('batch', 'n1', '10.244.1.7', '10.0.0.11'),
    pod('db', 'n2', '10.244.2.5', '10.0.0.12', { sa: 'db', ports: [5432] }),
    pod('agent', 'n1', '10.0.0.11', '10.0.0.11', { hostNetwork: true, ports: [9091] }),
    pod('done', 'n2', '10.244.2.9', '10.0.0.12', { ports: [80], phase: 'Succeeded' }),
  ];
  const view = meshViewFromPods(pods, opts);
  // A pod coming on another node changes the sources' route configurations, not the outbound listener (whose
  // changed chains would be drained: their open connections closed under their requests after the drain time).
  const outboundListener = (v: typeof view) => meshResources(v).find((r) => r.typeUrl === TypeUrl.Listener && r.name === 'mesh-outbound')?.version;
  const grown = meshViewFromPods([...pods, pod('cache', 'n2', '10.244.2.6', '10.0.0.12', { ports: [6379] })], opts);
  t.truthy(outboundListener(view));
  t.is(outboundListener(grown), outboundListener(view), 'the outbound listener is the same with one more destination');
  t.true(meshResources(grown).some((r) => r.typeUrl === TypeUrl.RouteConfiguration && r.name === 'mesh-outbound|spiffe://cluster.local/ns/shop/sa/web'
    && r.references.some((ref) => ref.name.endsWith('|6379.cache.shop'))), 'the new destination is in the source\'s route configuration');
  t.deepEqual(view.outbound?.sources, [
    { id: 'spiffe://cluster.local/ns/shop/sa/default', sources: ['10.244.1.7'] },
    { id: 'spiffe://cluster.local/ns/shop/sa/web', sources: ['10.244.1.5', '10.244.1.6'] },
  ]);
  t.deepEqual(view.outbound?.services, [
    { host: '5432.db.shop', node: { address: '10.0.0.12', port: 15443 }, id: 'spiffe://cluster.local/ns/shop/sa/db' },
    { host: '8080.web-1.shop', node: { address: '10.0.0.11', port: 15443 }, id: 'spiffe://cluster.local/ns/shop/sa/web' },
    { host: '9090.web-1.shop', node: { address: '10.0.0.11', port: 15443 }, id: 'spiffe://cluster.local/ns/shop/sa/web' },
  ]);
  t.deepEqual(view.inbound, { address: '0.0.0.0', port: 15443, services: [
    { host: '8080.web-1.shop', id: 'spiffe://cluster.local/ns/shop/sa/web', backend: { address: '10.244.1.5', port: 8080 }, routeName: 'l7/mesh/shop/web-1/8080' },
    { host: '9090.web-1.shop', id: 'spiffe://cluster.local/ns/shop/sa/web', backend: { address: '10.244.1.5', port: 9090 }, routeName: 'l7/mesh/shop/web-1/9090' },
  ] });
  t.true(meshResources(view).length > 0, 'a view Envoy resources can be made of');
  t.is(podMeshHost('shop', 'db', 5432), '5432.db.shop', 'named as standalone mode names mesh services');
});

test('with the datapath (transparentPort), other nodes\' pods are also destinations by their own address; this node\'s unpoliced ports are not', (t) => {
  const view = meshViewFromPods([
    pod('web-1', 'n1', '10.244.1.5', '10.0.0.11', { sa: 'web', ports: [8080] }),
    pod('db', 'n2', '10.244.2.5', '10.0.0.12', { sa: 'db', ports: [5432] }),
  ], { ...opts, transparentPort: 15003 });
  t.is(view.outbound?.transparentPort, 15003);
  t.deepEqual(view.outbound?.services.map((s) => [s.host, s.destination]), [['5432.db.shop', { address: '10.244.2.5', port: 5432 }], ['8080.web-1.shop', undefined]]);
  const transparent = meshResources(view).find((r) => r.name === 'mesh-transparent');
  t.truthy(transparent, 'the transparent listener');
  t.is(meshViewFromPods([pod('db', 'n2', '10.244.2.5', '10.0.0.12', { ports: [5432] })], opts).outbound, undefined);
});

test('with the L7 policy, the node\'s policed pod ports are served with the translator\'s mesh routes, towards the pod itself', (t) => {
  const pods = [
    pod('web-1', 'n1', '10.244.1.5', '10.0.0.11', { sa: 'web', ports: [8080, 9090] }),
    pod('db', 'n2', '10.244.2.5', '10.0.0.12', { sa: 'db', ports: [8080] }),
  ];
  const source = { file: 'api', line: 0 };
  const rule = { toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }], fromEndpoints: [{}], authentication: { mode: 'required' } };
  const policy = { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'p', namespace: 'shop' }, spec: { endpointSelector: {}, ingress: [rule] }, source };
  const l7 = translateL7Policy({ pods: pods.map((p) => ({ ...p, metadata: { ...p.metadata!, name: p.metadata!.name!, labels: {} }, source })), namespaces: [], secrets: [], policies: [policy] },
    { transparent: { proxyPort: 15001, upstreamMark: 0x400 }, mesh: { trustDomain: 'cluster.local' } });
  t.deepEqual(l7.problems, []);
  const routes = meshPolicyRoutes(l7.listeners);
  t.deepEqual([...routes].sort(), [['8080.db.shop', 'l7/mesh/shop/db/8080'], ['8080.web-1.shop', 'l7/mesh/shop/web-1/8080']]);
  const view = meshViewFromPods(pods, opts, { routes, accessLogPath: '/tmp/l7.log' });
  t.deepEqual(view.inbound, { address: '0.0.0.0', port: 15443, accessLogPath: '/tmp/l7.log', services: [
    { host: '8080.web-1.shop', id: 'spiffe://cluster.local/ns/shop/sa/web', backend: { address: '10.244.1.5', port: 8080 }, routeConfig: 'l7/mesh/shop/web-1/8080' },
    { host: '9090.web-1.shop', id: 'spiffe://cluster.local/ns/shop/sa/web', backend: { address: '10.244.1.5', port: 9090 }, routeName: 'l7/mesh/shop/web-1/9090' },
  ] }, 'the unpoliced port goes straight to the pod; the other node\'s pod is not served here');
  // The policy coming (or going) changes the port's route configuration, not the inbound listener: a listener change
  // would drain the port's filter chain, whose open connections keep the old route for Envoy's drain time, then close.
  const inboundOf = (v: typeof view) => meshResources(v).filter((r) => r.typeUrl === TypeUrl.Listener && r.name === 'mesh-inbound');
  const unpoliced = meshViewFromPods(pods, opts, { routes: new Map(), accessLogPath: '/tmp/l7.log' });
  t.is(inboundOf(unpoliced)[0].version, inboundOf(view)[0].version, 'the inbound listener is the same with and without the policy');
  const straight = meshResources(unpoliced).find((r) => r.typeUrl === TypeUrl.RouteConfiguration && r.name === 'l7/mesh/shop/web-1/8080');
  t.deepEqual(straight?.references, [{ typeUrl: TypeUrl.Cluster, name: 'mesh-in|8080.web-1.shop' }], 'unpoliced, the route of the same name goes straight to the pod');
  t.false(meshResources(view).some((r) => r.typeUrl === TypeUrl.RouteConfiguration && r.name === 'l7/mesh/shop/web-1/8080'), 'policed, the route is the translator\'s alone');
  // With the datapath: this node's policed port is a transparent destination too (same-node sources that must
  // authenticate are redirected there), its unpoliced one is not; the other node's pod is, policed or not.
  const transparent = meshViewFromPods(pods, { ...opts, transparentPort: 15003 }, { routes });
  t.deepEqual(transparent.outbound?.services.map((s) => [s.host, s.destination]), [
    ['8080.db.shop', { address: '10.244.2.5', port: 8080 }], ['8080.web-1.shop', { address: '10.244.1.5', port: 8080 }], ['9090.web-1.shop', undefined],
  ]);
  // The mesh route's cluster is the pod's address (a mesh connection's original destination is the node).
  const route = l7.resources.find((r) => r.typeUrl === TypeUrl.RouteConfiguration && r.name === 'l7/mesh/shop/web-1/8080');
  const cluster = route?.references.find((r) => r.typeUrl === TypeUrl.Cluster)?.name;
  t.truthy(cluster);
  t.true(l7.resources.some((r) => r.typeUrl === TypeUrl.ClusterLoadAssignment && r.name === cluster && Buffer.from(r.body).includes(Buffer.from('10.244.1.5'))));
});

test('a node without pods serves nothing; pods without an address or node are not in the mesh yet', (t) => {
  t.deepEqual(meshViewFromPods([], opts), { trustDomain: 'cluster.local' });
  const pending = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [] } } as KubeObject;
  t.deepEqual(meshViewFromPods([pending], opts), { trustDomain: 'cluster.local' });
});

test('the CA Secret is validated as supplied files are, errors naming the Secret and field', (t) => {
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret = (type: string, data: Record<string, string>): k8s.V1Secret => ({ metadata: { name: 'weft-mtls-ca', namespace: 'sys' }, type, data });
  const good = { 'tls.crt': b64(ca.root.pem), 'tls.key': b64(ca.root.privateKeyPem()) };
  t.is(caFromSecret(secret('Opaque', good), { trustDomain: 'cluster.local' }).root.x509.fingerprint256, ca.root.x509.fingerprint256);
  t.is(caFromSecret(secret('kubernetes.io/tls', good), { trustDomain: 'cluster.local' }).root.x509.fingerprint256, ca.root.x509.fingerprint256);
  t.throws(() => caFromSecret(secret('kubernetes.io/basic-auth', good), { trustDomain: 'cluster.local' }), { message: /^Secret sys\/weft-mtls-ca: type kubernetes\.io\/basic-auth is not supported/ });
  t.throws(() => caFromSecret(secret('Opaque', { 'tls.crt': good['tls.crt'] }), { trustDomain: 'cluster.local' }), { message: /^Secret sys\/weft-mtls-ca: data\.tls\.key is missing/ });
  t.throws(() => caFromSecret(secret('Opaque', good), { trustDomain: 'other.example' }), { message: 'Secret sys/weft-mtls-ca certificate: its SPIFFE ID spiffe://cluster.local is not of trust domain other.example' });
  const leaf = ca.issue('spiffe://cluster.local/ns/a/sa/b');
  t.throws(() => caFromSecret(secret('Opaque', { 'tls.crt': b64(leaf.chainPem().split(/(?<=-----END CERTIFICATE-----\n)/)[0]), 'tls.key': b64(leaf.privateKeyPem()) }), { trustDomain: 'cluster.local' }),
    { message: /^Secret sys\/weft-mtls-ca certificate: basicConstraints cA is not true/ });
  t.throws(() => caFromSecret(secret('Opaque', { 'tls.crt': good['tls.crt'], 'tls.key': b64(leaf.privateKeyPem()) }), { trustDomain: 'cluster.local' }), { message: 'Secret sys/weft-mtls-ca: the key does not match the certificate' });
});
