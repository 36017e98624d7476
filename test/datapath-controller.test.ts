// The datapath controller in the real kernel: pods registered by the CNI plugin with the "init" identity
// get their identity from labels and namespace, their L3/L4 policy from CiliumNetworkPolicies through the
// policy model, and a Service with its EndpointSlice becomes a ClusterIP, all from one sync() with the
// objects the agent consumes; a second sync with the policy and Service gone undoes both, writing only the
// differences. Plus the Service/EndpointSlice translation alone, without root.
import test from 'ava';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { DatapathController } from '../src/datapath/controller.js';
import { clusterServices, type EndpointSliceObject, type ServiceObject } from '../src/datapath/cluster-services.js';
import { INIT_IDENTITY } from '../src/datapath/cni/plugin.js';
import { ipcacheKey, meshKey, parseAddress, parseCidr } from '../src/datapath/layout.js';
import { translateL7Policy, type L7Inputs } from '../src/l7policy/translate.js';
import type { RawPolicyObject } from '../src/l7policy/parse.js';
import { translateManifests } from '../src/standalone/pipeline.js';
import type { Manifest } from '../src/sources/manifests.js';
import { Topology } from './helpers/datapath-topology.js';

const source = { file: 'test/datapath-controller.test.ts', line: 1 };
const pod = (namespace: string, name: string, app: string, n: number) => ({
  metadata: { name, namespace, labels: { app } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] }, status: { podIP: `10.99.0.${n}` }, source,
});
const PODS = [pod('shop', 'frontend', 'frontend', 2), pod('shop', 'backend', 'backend', 3), pod('evil', 'impostor', 'frontend', 4), pod('shop', 'remote', 'backend', 5)];
const POLICY = {
  kind: 'CiliumNetworkPolicy', metadata: { name: 'backend', namespace: 'shop' }, source, spec: {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [{ fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] }],
  },
} as unknown as RawPolicyObject;
const SERVICE: ServiceObject = { metadata: { name: 'backend', namespace: 'shop' }, spec: { clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] } };
const SLICE: EndpointSliceObject = {
  metadata: { name: 'backend-x1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'backend' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }],
  endpoints: [{ addresses: ['10.99.0.3'], conditions: { ready: true } }, { addresses: ['10.99.0.9'], conditions: { ready: false } }],
};

function model(policies: RawPolicyObject[]) {
  const inputs: L7Inputs = { pods: PODS, namespaces: [], secrets: [], policies };
  const t = translateL7Policy(inputs, { hostIps: ['10.99.0.1'] });
  return { table: t.table, model: t.model };
}

test('Services and EndpointSlices → ClusterIP entries: named slice ports, ready endpoints only, NodePorts on node addresses', (t) => {
  t.deepEqual(clusterServices([SERVICE], [SLICE]), [
    { vip: '10.96.0.50', port: 80, protocol: 'tcp', backends: [{ ip: '10.99.0.3', port: 8080 }] },
    { vip: '10.96.0.50', port: 53, protocol: 'udp', backends: [{ ip: '10.99.0.3', port: 5353 }] },
  ]);
  const nodePort: ServiceObject = { metadata: { name: 'np', namespace: 'shop' }, spec: { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] } };
  const slice = { ...SLICE, metadata: { ...SLICE.metadata, labels: { 'kubernetes.io/service-name': 'np' } }, ports: [{ name: null, port: 8080, protocol: 'TCP' }] };
  t.deepEqual(clusterServices([nodePort], [slice], { nodeIps: ['192.0.2.1'] }), [{ vip: '192.0.2.1', port: 30080, protocol: 'tcp', backends: [{ ip: '10.99.0.3', port: 8080 }] }], 'headless: no ClusterIP entry, the NodePort still');
  t.deepEqual(clusterServices([{ metadata: { name: 'backend', namespace: 'other' }, spec: { clusterIP: '10.96.0.51', ports: [{ port: 80 }] } }], [SLICE]), [{ vip: '10.96.0.51', port: 80, protocol: 'tcp', backends: [] }], 'slices of another namespace do not count');
});

const unavailable = datapathUnavailable();
if (unavailable) {
  test('datapath controller in the kernel', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  let topo: Topology | undefined;
  let dp: Datapath | undefined;

  test.before(async () => {
    topo = new Topology();
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    const endpoints = new EndpointMap(dp.maps.endpoints);
    for (const [name, n] of [['frontend', 2], ['backend', 3], ['impostor', 4]] as const) {
      const p = topo.addPod(name, n);
      dp.attach(topo.nodeNsPath, p.hostIf);
      // As the CNI plugin registers a new pod: its address and veth, the "init" identity.
      endpoints.upsert({ ips: [p.ip4], identity: INIT_IDENTITY, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, p.hostIf), ingressEnforced: false, egressEnforced: false });
    }
    await topo.serve(topo.pod('backend').ns, 'backend', 'tcp', [8080]);
  });

  test.after.always(() => {
    if (topo && dp) for (const p of topo.pods.values()) dp.detach(topo.nodeNsPath, p.hostIf);
    dp?.destroy();
    topo?.destroy();
  });

  test.serial('one sync: identities, policy and the ClusterIP from the objects; a second undoes them', async (t) => {
    const controller = new DatapathController(dp!, { proxyPort: 15001 });
    const m = model([POLICY]);
    // As the agent calls it: the objects it watches, translated by the same pipeline.
    const manifests = [
      ...PODS.map((p) => ({ apiVersion: 'v1', kind: 'Pod', ...p })),
      { apiVersion: 'cilium.io/v2', ...POLICY },
      { apiVersion: 'v1', kind: 'Service', ...SERVICE, source },
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', ...SLICE, source },
    ] as unknown as Manifest[];
    const r = controller.syncTranslation(manifests, translateManifests(manifests, [], { l7: { hostIps: ['10.99.0.1'] } }))!;
    t.deepEqual(r.localEndpoints.sort(), ['evil/impostor', 'shop/backend', 'shop/frontend']);
    t.deepEqual(r.unsupported, []);
    t.is(r.services, 2);
    const endpoints = new EndpointMap(dp!.maps.endpoints);
    const identityOf = (name: string) => m.table.endpoints.find((e) => e.name === name)!.identity;
    t.is(endpoints.lookup('10.99.0.3')?.identity, identityOf('shop/backend'), 'the init identity was replaced by the labels\' one');
    t.is(endpoints.lookup('10.99.0.3')?.flags, 1, 'backend: ingress enforced');
    t.is(dp!.maps.ipcache.lookup(ipcacheKey(parseCidr('10.99.0.5/32')))?.readUInt32LE(0), identityOf('shop/remote'), 'a pod of another node is in the identity cache');

    const frontend = await topo!.connect(topo!.pod('frontend').ns, 'tcp', '10.96.0.50', 80);
    t.like(frontend, { ok: true, reply: 'backend 10.99.0.2', from: '10.96.0.50' }, 'the frontend reaches the backend through the ClusterIP');
    t.false((await topo!.connect(topo!.pod('impostor').ns, 'tcp', '10.96.0.50', 80, 800)).ok, 'app=frontend of another namespace is denied');

    const again = controller.sync({ ...m, services: [SERVICE], endpointSlices: [SLICE] });
    t.is(again.policyWrites + again.identityCacheWrites, 0, 'nothing changed, nothing written');

    const open = model([]);
    const undo = controller.sync({ ...open, services: [], endpointSlices: [] });
    t.true(undo.policyWrites > 0);
    t.is(endpoints.lookup('10.99.0.3')?.flags, 0, 'no policy selects the backend: not enforced');
    t.like(await topo!.connect(topo!.pod('impostor').ns, 'tcp', '10.99.0.3', 8080), { ok: true }, 'without the policy the impostor connects');
    t.false((await topo!.connect(topo!.pod('frontend').ns, 'tcp', '10.96.0.50', 80, 800)).ok, 'the Service is gone from the datapath');
    t.deepEqual(dp!.maps.services.keys(), []);
  });

  test.serial('mesh redirects by destination address: a remote pod sharing a local pod\'s identity gets one, the local pod none; written incrementally', (t) => {
    const controller = new DatapathController(dp!, { proxyPort: 15001 });
    const m = model([POLICY]);
    const identityOf = (name: string) => m.table.endpoints.find((e) => e.name === name)!.identity;
    t.is(identityOf('shop/remote'), identityOf('shop/backend'), 'one label set on both "nodes"');
    // 10.99.0.5 (shop/remote) is on another node, 10.99.0.3 (shop/backend) on this one; the policy lets only the
    // frontend in, in plaintext (so the local backend needs no mesh).
    const mesh = { proxyPort: 15003, destinations: [{ address: '10.99.0.5', port: 8080 }, { address: '10.99.0.3', port: 8080 }] };
    const r = controller.sync({ ...m, services: [], endpointSlices: [], mesh });
    t.is(r.meshWrites, 1);
    const keys = dp!.maps.mesh.keys().map((k) => k.toString('hex'));
    t.deepEqual(keys, [meshKey(identityOf('shop/frontend'), parseAddress('10.99.0.5'), 8080).toString('hex')], 'the frontend to the remote replica only; the impostor is not let in');
    t.is(dp!.maps.mesh.lookup(Buffer.from(keys[0], 'hex'))?.readUInt16LE(2), 15003);
    t.is(controller.sync({ ...m, services: [], endpointSlices: [], mesh }).meshWrites, 0, 'nothing changed, nothing written');
    t.is(controller.sync({ ...m, services: [], endpointSlices: [] }).meshWrites, 1, 'without the mesh: removed');
    t.deepEqual(dp!.maps.mesh.keys(), []);
  });
}
