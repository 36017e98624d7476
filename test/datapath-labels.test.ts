// Policies written as CiliumNetworkPolicies, resolved by the L7 policy helper's model (labels →
// identities → per-endpoint entries), translated to the datapath's maps and enforced by the kernel:
// allow by labels within a namespace (not across), CIDR with an exception, the host entity, and an L7
// port that becomes a proxy redirect in the map. Plus the translation alone, without root.
import test from 'ava';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { EndpointMap, IdentityCache } from '../src/datapath/endpoints.js';
import { PolicyMap } from '../src/datapath/policy.js';
import { FlowReader } from '../src/datapath/flows.js';
import { IDENTITY, type FlowEvent } from '../src/datapath/layout.js';
import { CidrIdentities, datapathPolicy, FIRST_CIDR_IDENTITY, registerCidrs } from '../src/datapath/policy-from-model.js';
import { buildIdentityTable, type PodInput } from '../src/l7policy/identities.js';
import { buildPolicyModel } from '../src/l7policy/model.js';
import { parseCiliumPolicy } from '../src/l7policy/parse.js';
import { ip, Topology } from './helpers/datapath-topology.js';
import { eventually } from './helpers/net.js';

const source = { file: 'test/datapath-labels.test.ts', line: 1 };
const pod = (namespace: string, name: string, app: string, n: number): PodInput =>
  ({ namespace, name, labels: { app }, ips: [`10.99.0.${n}`], ports: [], backends: new Map(), source });
const PODS = [pod('shop', 'frontend', 'frontend', 2), pod('shop', 'backend', 'backend', 3), pod('evil', 'impostor', 'frontend', 4)];
const POLICIES = [
  { kind: 'CiliumNetworkPolicy', metadata: { name: 'backend', namespace: 'shop' }, source, spec: {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [
      { fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
      { fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: '8081', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }] },
    ],
  } },
  { kind: 'CiliumNetworkPolicy', metadata: { name: 'frontend', namespace: 'shop' }, source, spec: {
    endpointSelector: { matchLabels: { app: 'frontend' } },
    egress: [
      { toEndpoints: [{ matchLabels: { app: 'backend' } }] },
      { toCIDRSet: [{ cidr: '192.0.2.0/24', except: ['192.0.2.10/32'] }], toPorts: [{ ports: [{ port: '7000', protocol: 'TCP' }] }] },
      { toEntities: ['host'], toPorts: [{ ports: [{ port: '7000', protocol: 'TCP' }] }] },
    ],
  } },
];

function translate() {
  const table = buildIdentityTable(PODS, new Map(), ['10.99.0.1']);
  const model = buildPolicyModel(table, POLICIES.flatMap((p) => parseCiliumPolicy(p)));
  const cidrs = new CidrIdentities();
  const byName = new Map(table.endpoints.map((e) => [e.name, { endpoint: e, policy: datapathPolicy(model.endpointPolicy(e), cidrs, 15001) }]));
  return { table, cidrs, byName };
}

test('the model translates to map entries: identities by labels, CIDR minus exception, host entity, L7 → redirect', (t) => {
  const { byName, cidrs } = translate();
  const backend = byName.get('shop/backend')!.policy;
  const frontend = byName.get('shop/frontend')!;
  const impostor = byName.get('evil/impostor')!;
  t.true(backend.ingressEnforced);
  t.false(backend.egressEnforced);
  t.deepEqual(backend.unsupported, []);
  t.deepEqual(backend.entries.filter((e) => e.direction === 'ingress').map((e) => `${e.peerIdentity} ${e.protocol}/${e.port} ${e.verdict} ${e.proxyPort ?? ''}`).sort(),
    [`${frontend.endpoint.identity} tcp/8080 allow `, `${frontend.endpoint.identity} tcp/8081 redirect 15001`].sort(), 'only the same-namespace frontend, not the impostor');
  t.not(impostor.endpoint.identity, frontend.endpoint.identity);
  const fe = frontend.policy;
  t.true(fe.egressEnforced);
  const cidr24 = cidrs.entries().get('192.0.2.0/24');
  t.is(cidr24, FIRST_CIDR_IDENTITY);
  t.true(cidrs.entries().has('192.0.2.10/32'), 'the exception has an identity of its own');
  t.true(fe.entries.some((e) => e.peerIdentity === cidr24 && e.port === 7000 && e.verdict === 'allow'));
  t.false(fe.entries.some((e) => e.peerIdentity === cidrs.entries().get('192.0.2.10/32')), 'the excepted prefix is not allowed');
  t.true(fe.entries.some((e) => e.peerIdentity === IDENTITY.host && e.port === 7000));
});

test('the world entity selects the policy CIDRs\' identities too, also those another endpoint\'s policy names (registered first)', (t) => {
  const table = buildIdentityTable(PODS, new Map(), ['10.99.0.1']);
  const world = (name: string, app: string, peer: Record<string, unknown>) => ({ kind: 'CiliumNetworkPolicy', metadata: { name, namespace: 'shop' }, source, spec: {
    endpointSelector: { matchLabels: { app } }, egress: [{ ...peer, toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] }],
  } });
  const model = buildPolicyModel(table, [world('fe', 'frontend', { toEntities: ['world'] }), world('be', 'backend', { toCIDR: ['203.0.113.0/24'] })].flatMap((p) => parseCiliumPolicy(p)));
  const [frontend, backend] = ['shop/frontend', 'shop/backend'].map((n) => model.endpointPolicy(table.endpoints.find((e) => e.name === n)!));
  const cidrs = new CidrIdentities();
  for (const ep of [frontend, backend]) registerCidrs(ep, cidrs);
  const peers = datapathPolicy(frontend, cidrs, 15001).entries.filter((e) => e.direction === 'egress' && e.port === 80).map((e) => e.peerIdentity).sort((a, b) => a - b);
  t.deepEqual(peers, [IDENTITY.world, cidrs.entries().get('203.0.113.0/24')!], 'an address in the backend\'s CIDR is still the world for the frontend');
});

const unavailable = datapathUnavailable();
if (unavailable) {
  test('labels policy in the datapath', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  let topo: Topology | undefined;
  let dp: Datapath | undefined;
  let flows: FlowReader | undefined;
  const events: FlowEvent[] = [];

  test.before(async () => {
    topo = new Topology();
    for (const a of ['192.0.2.10', '192.0.2.11']) ip('-n', topo.node, 'addr', 'add', `${a}/32`, 'dev', 'lo');
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    flows = new FlowReader(dp.flowsMapFd, (b) => events.push(...b));
    const { byName, cidrs } = translate();
    const endpoints = new EndpointMap(dp.maps.endpoints);
    const policy = new PolicyMap(dp.maps.policy);
    const ids = new IdentityCache(dp.maps.ipcache);
    ids.sync(new Map([...cidrs.entries(), [`${topo.nodeIp4}/32`, IDENTITY.host]]));
    for (const [i, name] of ['frontend', 'backend', 'impostor'].entries()) {
      const p = topo.addPod(name.slice(0, 3), 2 + i);
      dp.attach(topo.nodeNsPath, p.hostIf);
      const { endpoint, policy: d } = byName.get(`${name === 'impostor' ? 'evil' : 'shop'}/${name}`)!;
      endpoints.upsert({ ips: [p.ip4], identity: endpoint.identity, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, p.hostIf), ingressEnforced: d.ingressEnforced, egressEnforced: d.egressEnforced });
      policy.apply(endpoint.identity, d.entries);
    }
    await topo.serve(topo.pod('bac').ns, 'backend', 'tcp', [8080, 9090]);
    await topo.serve(topo.node, 'node', 'tcp', [7000, 7001]);
  });

  test.after.always(() => {
    flows?.close();
    if (topo && dp) for (const p of topo.pods.values()) dp.detach(topo.nodeNsPath, p.hostIf);
    dp?.destroy();
    topo?.destroy();
  });

  test.serial('labels: the frontend in the policy\'s namespace reaches the backend; a same-labelled pod elsewhere does not', async (t) => {
    const [fe, be, imp] = ['fro', 'bac', 'imp'].map((n) => topo!.pod(n));
    t.like(await topo!.connect(fe.ns, 'tcp', be.ip4, 8080), { ok: true, reply: `backend ${fe.ip4}` });
    t.false((await topo!.connect(fe.ns, 'tcp', be.ip4, 9090, 800)).ok, 'port not in the policy');
    t.false((await topo!.connect(imp.ns, 'tcp', be.ip4, 8080, 800)).ok, 'app=frontend in namespace evil');
    t.true(await eventually(() => events.some((e) => e.kind === 'drop' && e.source.ip === imp.ip4 && e.destination.port === 8080 && e.reason === 'policy-denied' && e.direction === 'ingress'), 10_000, 'the drop event of imp → backend:8080'));
  });

  test.serial('CIDR with an exception and the host entity, on the frontend\'s enforced egress', async (t) => {
    const fe = topo!.pod('fro');
    t.like(await topo!.connect(fe.ns, 'tcp', '192.0.2.11', 7000), { ok: true, reply: `node ${fe.ip4}` });
    t.false((await topo!.connect(fe.ns, 'tcp', '192.0.2.10', 7000, 800)).ok, 'the excepted address');
    t.like(await topo!.connect(fe.ns, 'tcp', topo!.nodeIp4, 7000), { ok: true });
    t.false((await topo!.connect(fe.ns, 'tcp', topo!.nodeIp4, 7001, 800)).ok, 'host, other port');
    t.true(await eventually(() => events.some((e) => e.kind === 'drop' && e.destination.ip === '192.0.2.10' && e.direction === 'egress' && e.reason === 'policy-denied'), 10_000, 'the drop event of the excepted address'));
  });
}
