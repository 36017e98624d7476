// The policy input and model without Envoy: validation (each bad policy rejected alone, with its field),
// identities from labels, and the verdicts of Cilium's documented semantics.
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../envoy/binary.js';
import { RESERVED_HOST, RESERVED_WORLD } from '../src/l7policy/identities.js';
import { spiffeIdentities } from '../src/l7policy/spiffe-identities.js';
import { EGRESS_RBAC_FILTER, egressL7Ports, TRANSPARENT_LISTENER } from '../src/l7policy/envoy.js';
import { decide } from '../src/l7policy/model.js';
import { parsePrefix } from '../src/l7policy/cidr.js';
import { translateDirectory, translateYaml } from '../src/standalone/pipeline.js';
import { parseL7AccessLogLine } from '../src/l7policy/access-log.js';
import { meshResources } from '../src/mtls/mesh-resources.js';
import { policiesRequireAuthentication, standaloneMeshView } from '../src/mtls/standalone-mesh.js';
import { readableResources } from '../src/xds/translator/readable.js';
import { pod } from './helpers/l7policy.js';

const serverYaml = `apiVersion: v1
kind: Pod
metadata: { name: server, namespace: default, labels: { app: server }, annotations: { weft.dev/standalone-backends: "80=127.0.0.1:8080" } }
spec: { containers: [{ name: app, ports: [{ name: http, containerPort: 80 }, { name: admin, containerPort: 9000 }] }] }
status: { podIP: 127.1.0.2 }
`;
const clients = [pod('client', '127.1.0.10', { app: 'client' }), pod('other', '127.1.0.11', { app: 'other' }), pod('prod-client', '127.1.0.12', { app: 'client' }, 'prod')].join('---\n');

function cnp(name: string, spec: string, kind = 'CiliumNetworkPolicy'): string {
  return `apiVersion: cilium.io/v2
kind: ${kind}
metadata: { name: ${name}${kind === 'CiliumNetworkPolicy' ? ', namespace: default' : ''} }
spec:
${spec.replace(/^/gm, '  ')}
`;
}

function translate(...docs: string[]) {
  const t = translateYaml('policies.yaml', [serverYaml, clients, ...docs].join('---\n'));
  const l7 = t.l7!;
  const ep = (name: string) => l7.model.endpointPolicy(l7.table.endpoints.find((e) => e.name === name)!);
  const id = (ip: string) => l7.table.byIp.get(ip)!;
  return { t, l7, ep, id };
}

const invalid: Array<[string, string, string]> = [
  ['unknown field', 'endpointSelector: {}\ningress: [{ fromEndpoint: [{}] }]', 'spec.ingress[0].fromEndpoint: unknown field'],
  ['invalid regex (RE2 has no lookahead)', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: "/a(?=b)" }] } }] }]', 'spec.ingress[0].toPorts[0].rules.http[0].path: invalid regular expression'],
  ['invalid regex (backreference)', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ method: "(GET)\\\\1" }] } }] }]', 'rules.http[0].method: invalid regular expression'],
  ['two L7 protocols on one port', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{}], kafka: [{}] } }] }]', 'multiple L7 protocol rule types specified in single rule'],
  ['L7 rules on UDP', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: UDP }], rules: { http: [{}] } }] }]', 'L7 rules can only apply to TCP (not UDP)'],
  ['L7 rules without a protocol (ANY)', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80" }], rules: { http: [{}] } }] }]', 'L7 rules can only apply to TCP (not ANY)'],
  ['L7 rules on port 0', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "0", protocol: TCP }], rules: { http: [{}] } }] }]', 'L7 rules can not be used when a port is 0'],
  ['endPort below port', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "90", endPort: 80 }] }] }]', 'endPort: must not be less than port'],
  ['unknown entity', 'endpointSelector: {}\ningress: [{ fromEntities: [everyone] }]', 'unsupported entity: everyone'],
  ['CIDR except outside its CIDR', 'endpointSelector: {}\ningress: [{ fromCIDRSet: [{ cidr: 10.0.0.0/8, except: [11.0.0.0/8] }] }]', 'does not contain exclude CIDR prefix'],
  ['combining peer kinds', 'endpointSelector: {}\ningress: [{ fromEndpoints: [{}], fromCIDR: [10.0.0.0/8] }]', 'Combining fromEndpoints and fromCIDR is not supported yet'],
  ['bad mismatch action', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ headerMatches: [{ name: x, mismatch: DROP }] }] } }] }]', 'Invalid header action: DROP'],
  ['L7 rules in a deny rule', 'endpointSelector: {}\ningressDeny: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{}] } }] }]', 'rules: unknown field'],
  ['DNS rules on ingress', 'endpointSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "53", protocol: UDP }], rules: { dns: [{}] } }] }]', 'DNS rules are not allowed on ingress'],
  ['no selector', 'ingress: [{}]', 'rule must have one of EndpointSelector or NodeSelector'],
  ['authentication mode outside the CRD enum', 'endpointSelector: {}\ningress: [{ fromEndpoints: [{}], authentication: { mode: spiffe } }]', 'spec.ingress[0].authentication.mode: unsupported authentication mode "spiffe" (disabled, required, test-always-fail)'],
  ['authentication without its mode', 'endpointSelector: {}\negress: [{ toEndpoints: [{}], authentication: {} }]', 'spec.egress[0].authentication.mode: is required'],
  ['authentication with an unknown field', 'endpointSelector: {}\ningress: [{ fromEndpoints: [{}], authentication: { mode: required, type: spire } }]', 'spec.ingress[0].authentication.type: unknown field'],
  ['authentication in a deny rule', 'endpointSelector: {}\ningressDeny: [{ fromEndpoints: [{}], authentication: { mode: required } }]', 'spec.ingressDeny[0].authentication: deny rules have no authentication'],
  ['bad matchExpressions operator', 'endpointSelector: { matchExpressions: [{ key: app, operator: Is, values: [x] }] }', 'must be In, NotIn, Exists or DoesNotExist'],
];

for (const [name, spec, message] of invalid) {
  test(`invalid policy is rejected with its field: ${name}`, (t) => {
    const good = cnp('good', 'endpointSelector: { matchLabels: { app: server } }\ningress: [{ fromEndpoints: [{ matchLabels: { app: client } }], toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /ok }] } }] }]');
    const { t: tr, l7 } = translate(cnp('bad', spec), good);
    const problems = tr.problems.filter((p) => p.object === 'CiliumNetworkPolicy default/bad');
    t.is(problems.length, 1, JSON.stringify(tr.problems));
    t.true(`${problems[0].field}: ${problems[0].message}`.includes(message), `${problems[0].field}: ${problems[0].message}`);
    t.true(problems[0].message.endsWith('the policy is not applied'));
    // The other policy still applies.
    t.deepEqual(l7.policies.map((p) => p.id), ['CiliumNetworkPolicy default/good']);
    t.is(l7.listeners.length, 1);
  });
}

test('host policies (nodeSelector) reject L7 rules; nodeSelector only in clusterwide policies', (t) => {
  const { t: tr } = translate(
    cnp('host', 'nodeSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{}] } }] }]', 'CiliumClusterwideNetworkPolicy'),
    cnp('ns', 'nodeSelector: {}\ningress: [{}]'),
  );
  t.true(tr.problems.some((p) => p.object === 'CiliumClusterwideNetworkPolicy host' && p.message.startsWith('host policies do not support L7 rules yet')));
  // As in Cilium: L3/L4 rules are fine, egress L7 rules and an empty `http: []` are not.
  const { t: more } = translate(
    cnp('host-l4', 'nodeSelector: {}\ningress: [{ fromEntities: [world], toPorts: [{ ports: [{ port: "22", protocol: TCP }] }] }]', 'CiliumClusterwideNetworkPolicy'),
    cnp('host-egress', 'nodeSelector: {}\negress: [{}, { toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /x }] } }] }]', 'CiliumClusterwideNetworkPolicy'),
    cnp('host-empty', 'nodeSelector: {}\ningress: [{ toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [] } }] }]', 'CiliumClusterwideNetworkPolicy'),
  );
  t.false(more.problems.some((p) => p.object === 'CiliumClusterwideNetworkPolicy host-l4'));
  t.true(more.problems.some((p) => p.object === 'CiliumClusterwideNetworkPolicy host-egress' && p.field === 'spec.egress[1].toPorts' && p.message.includes('host policies do not support L7 rules yet')), JSON.stringify(more.problems));
  t.true(more.problems.some((p) => p.object === 'CiliumClusterwideNetworkPolicy host-empty' && p.message.includes('host policies do not support L7 rules yet')));
  t.true(tr.problems.some((p) => p.object === 'CiliumNetworkPolicy default/ns' && p.message.startsWith('nodeSelector is only allowed in CiliumClusterwideNetworkPolicy')));
});

test('identities come from labels (pod + namespace), not addresses', (t) => {
  const { l7, id } = translate(pod('client-2', '127.1.0.20', { app: 'client' }));
  t.is(id('127.1.0.10'), id('127.1.0.20'), 'equal labels, equal identity');
  t.not(id('127.1.0.10'), id('127.1.0.12'), 'same labels in another namespace: another identity');
  t.not(id('127.1.0.10'), id('127.1.0.11'));
  t.is(id('127.0.0.1'), RESERVED_HOST);
  const labels = l7.table.identities.get(id('127.1.0.12'))!.labels;
  t.is(labels.get('k8s:io.kubernetes.pod.namespace'), 'prod');
  t.is(labels.get('k8s:app'), 'client');
  // Stable across translations (numbered from the label set).
  t.is(translate().id('127.1.0.10'), id('127.1.0.10'));
});

test('default-deny per direction only when a policy selects the endpoint in that direction', (t) => {
  const { ep } = translate(cnp('in', 'endpointSelector: { matchLabels: { app: server } }\ningress: [{ fromEndpoints: [{ matchLabels: { app: client } }] }]'));
  const s = ep('default/server');
  t.true(s.ingress.enforced);
  t.false(s.egress.enforced);
  t.false(ep('default/client').ingress.enforced, 'not selected: allow all');
  t.is(decide(s.egress, { identity: RESERVED_WORLD, prefix: parsePrefix('8.8.8.8')! }, 53, 'UDP').verdict, 'allow');
  t.is(decide(ep('default/client').ingress, { identity: RESERVED_WORLD, prefix: parsePrefix('8.8.8.8')! }, 80, 'TCP').verdict, 'allow');
});

test('egress HTTP rules: the client\'s own requests to the selected peers and ports; deny wins; L4-only makes L7 moot; default-deny only when selected for egress', (t) => {
  const { ep, id, t: tr } = translate(
    cnp('out', 'endpointSelector: { matchLabels: { app: client } }\negress:\n- toEndpoints: [{ matchLabels: { app: server } }]\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ method: GET, path: /public }] } }]\n- toEndpoints: [{ matchLabels: { app: other } }]\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /x }] } }, { ports: [{ port: "80", protocol: TCP }] }]\n- toEndpoints: [{ matchLabels: { app: server } }]\n  toPorts: [{ ports: [{ port: "8000", endPort: 8003, protocol: TCP }], rules: { http: [{}] } }]'),
    cnp('no', 'endpointSelector: { matchLabels: { app: client } }\negressDeny: [{ toEndpoints: [{ matchLabels: { app: server } }], toPorts: [{ ports: [{ port: "8002", protocol: TCP }] }] }]'),
  );
  t.deepEqual(tr.problems, []);
  const c = ep('default/client');
  t.true(c.egress.enforced);
  t.false(c.ingress.enforced, 'egress rules only: ingress stays open');
  const server = id('127.1.0.2');
  const d80 = decide(c.egress, { identity: server }, 80, 'TCP');
  t.true(d80.verdict === 'allow' && d80.http?.[0].rule.path === '/public', 'the client\'s requests to the server:80 are allow-listed');
  t.like(decide(c.egress, { identity: server }, 81, 'TCP'), { verdict: 'deny', reason: 'default-deny' });
  t.like(decide(c.egress, { identity: RESERVED_WORLD, prefix: parsePrefix('8.8.8.8')! }, 80, 'TCP'), { verdict: 'deny', reason: 'default-deny' });
  t.like(decide(c.egress, { identity: id('127.1.0.11') }, 80, 'TCP'), { verdict: 'allow', http: null }, 'an L4-only egress rule to the same peer and port makes its L7 rules moot');
  t.like(decide(c.egress, { identity: server }, 8002, 'TCP'), { verdict: 'deny', reason: 'deny-rule' }, 'egressDeny wins');
  t.false(ep('default/other').egress.enforced, 'not selected for egress: anything goes');
  t.deepEqual(egressL7Ports(c.egress), { ports: [80, 8000, 8001, 8002, 8003], problems: [] });
  // Standalone: the server's listener applies the client's egress rules (by the client's address).
  const routes = readableResources(tr.resources).RouteConfiguration as Array<{ name: string; virtual_hosts: Array<{ typed_per_filter_config: Record<string, unknown> }> }>;
  const serverRoute = routes.find((r) => r.name === 'l7/ingress/default/server/80');
  t.truthy(serverRoute?.virtual_hosts[0].typed_per_filter_config[EGRESS_RBAC_FILTER], 'the server\'s route configuration enables the egress filter');
  // Transparent: one egress chain per destination port, by the client's address.
  const k8s = translateYaml('policies.yaml', [serverYaml, clients, cnp('out', 'endpointSelector: { matchLabels: { app: client } }\negress: [{ toEndpoints: [{ matchLabels: { app: server } }], toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /public }] } }] }]')].join('---\n'), { l7: { transparent: { proxyPort: 15001, upstreamMark: 0x400 } } });
  const listener = (readableResources(k8s.resources).Listener as Array<{ name: string; filter_chains: Array<{ name: string; filter_chain_match: unknown }> }>).find((l) => l.name === TRANSPARENT_LISTENER);
  t.deepEqual(listener?.filter_chains.map((c) => [c.name, c.filter_chain_match]), [['l7/egress/default/client/80', { destination_port: { value: 80 }, source_prefix_ranges: [{ address_prefix: '127.1.0.10', prefix_len: { value: 32 } }] }]]);
});

test('enableDefaultDeny: false keeps other peers allowed', (t) => {
  const { ep, id } = translate(cnp('add', 'endpointSelector: { matchLabels: { app: server } }\nenableDefaultDeny: { ingress: false }\ningress: [{ fromEndpoints: [{ matchLabels: { app: client } }], toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /a }] } }] }]'));
  const s = ep('default/server').ingress;
  t.false(s.enforced);
  t.is(decide(s, { identity: id('127.1.0.11') }, 80, 'TCP').verdict, 'allow');
  const c = decide(s, { identity: id('127.1.0.10') }, 80, 'TCP');
  t.true(c.verdict === 'allow' && c.http !== null && c.http.length === 1);
});

test('deny wins; L4-only makes L7 moot; ports, ranges, named ports, protocols', (t) => {
  const { ep, id } = translate(
    cnp('l7', 'endpointSelector: { matchLabels: { app: server } }\ningress:\n- fromEndpoints: [{ matchLabels: { app: client } }]\n  toPorts: [{ ports: [{ port: http, protocol: TCP }], rules: { http: [{ method: GET }] } }]\n- fromEndpoints: [{ matchLabels: { app: other } }]\n  toPorts: [{ ports: [{ port: "8000", endPort: 8100, protocol: TCP }] }]\n- fromEndpoints: [{ matchLabels: { app: other } }]\n  toPorts: [{ ports: [{ port: "8050", protocol: TCP }], rules: { http: [{ method: GET }] } }]'),
    cnp('deny', 'endpointSelector: { matchLabels: { app: server } }\ningressDeny: [{ fromEndpoints: [{ matchLabels: { app: other } }], toPorts: [{ ports: [{ port: "8090", protocol: TCP }] }] }]'),
  );
  const s = ep('default/server').ingress;
  const client = id('127.1.0.10');
  const other = id('127.1.0.11');
  const c80 = decide(s, { identity: client }, 80, 'TCP');
  t.true(c80.verdict === 'allow' && c80.http?.[0].rule.method === 'GET', 'named port http → 80');
  t.is(decide(s, { identity: client }, 80, 'UDP').verdict, 'deny', 'protocol');
  t.is(decide(s, { identity: client }, 9000, 'TCP').verdict, 'deny');
  t.deepEqual(decide(s, { identity: other }, 8050, 'TCP'), { verdict: 'allow', http: null, policies: ['CiliumNetworkPolicy default/l7'] }, 'L4-only on the range makes the L7 rule on 8050 moot');
  t.is(decide(s, { identity: other }, 8100, 'TCP').verdict, 'allow', 'endPort is inclusive');
  t.is(decide(s, { identity: other }, 8101, 'TCP').verdict, 'deny');
  t.like(decide(s, { identity: other }, 8090, 'TCP'), { verdict: 'deny', reason: 'deny-rule' }, 'deny wins inside an allowed range');
  t.is(decide(s, { identity: id('127.1.0.12') }, 80, 'TCP').verdict, 'deny', 'namespaced policy: peers of its namespace only');
});

test('authentication.mode: the strongest mode of the peer\'s matching allow rules decides; plaintext is refused, an authenticated SPIFFE ID counts as its service account\'s identities', (t) => {
  const sa = (name: string, ip: string, app: string, account: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: default, labels: { app: ${app} } }\nspec: { serviceAccountName: ${account} }\nstatus: { podIP: ${ip} }\n`;
  const { ep, id, l7 } = translate(
    [sa('worker', '127.1.0.20', 'worker', 'worker'), sa('worker-canary', '127.1.0.21', 'canary', 'worker'), sa('batch', '127.1.0.22', 'batch', 'batch')].join('---\n'),
    cnp('auth', 'endpointSelector: { matchLabels: { app: server } }\ningress:\n- fromEndpoints: [{ matchLabels: { app: worker } }]\n  authentication: { mode: required }\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ method: GET, path: /api }] } }]\n- fromEndpoints: [{ matchLabels: { app: worker } }]\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }], rules: { http: [{ path: /healthz }] } }]\n- fromEndpoints: [{ matchLabels: { app: batch } }]\n  authentication: { mode: disabled }\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }] }]\n- fromEndpoints: [{ matchLabels: { app: client } }]\n  authentication: { mode: test-always-fail }\n- fromEndpoints: [{ matchLabels: { app: client } }]\n  authentication: { mode: required }\n  toPorts: [{ ports: [{ port: "80", protocol: TCP }] }]'),
  );
  t.deepEqual(l7.policies[0].rules.map((r) => r.authentication), ['required', undefined, 'disabled', 'test-always-fail', 'required']);
  const s = ep('default/server').ingress;
  const worker = { identity: id('127.1.0.20') };
  const canary = { identity: id('127.1.0.21') };
  t.like(decide(s, worker, 80, 'TCP'), { verdict: 'deny', reason: 'authentication-required' }, 'plaintext: the rule without a mode takes the required one of the same peer and port');
  const authenticated = decide(s, worker, 80, 'TCP', { authenticated: true });
  t.true(authenticated.verdict === 'allow' && authenticated.http?.length === 2, 'authenticated: the L7 rules of both rules apply');
  t.deepEqual(decide(s, { identity: id('127.1.0.22') }, 80, 'TCP'), { verdict: 'allow', http: null, policies: ['CiliumNetworkPolicy default/auth'] }, 'mode disabled: plaintext allowed');
  t.like(decide(s, { identity: id('127.1.0.10') }, 80, 'TCP', { authenticated: true }), { verdict: 'deny', reason: 'authentication-failed' }, 'test-always-fail is the strongest mode');
  t.like(decide(s, canary, 80, 'TCP', { authenticated: true }), { verdict: 'deny', reason: 'default-deny' }, 'another label set, not selected');
  // worker and worker-canary share a service account, so one SPIFFE ID: over mTLS it counts as both identities.
  const ids = spiffeIdentities(l7.table, 'cluster.local');
  t.deepEqual(ids.get('spiffe://cluster.local/ns/default/sa/worker'), [worker.identity, canary.identity].sort((a, b) => a - b));
  t.like(decide(s, [canary, worker], 80, 'TCP', { authenticated: true }), { verdict: 'allow' });
  t.deepEqual(l7.model.allowedIdentities(s, 80, 'TCP'), [id('127.1.0.22')], 'in plaintext only the peer of mode disabled');
  t.deepEqual(l7.listeners.map((l) => l.port), [80]);
});

test('a rule requiring authentication without L7 rules puts its ports behind the proxy', (t) => {
  const { l7, t: tr } = translate(cnp('auth-l4', 'endpointSelector: { matchLabels: { app: server } }\ningress: [{ fromEndpoints: [{ matchLabels: { app: client } }], authentication: { mode: required } }]'));
  t.deepEqual(l7.listeners.map((l) => l.port), [80], 'an L3 rule: every declared port…');
  t.deepEqual(tr.problems.map((p) => p.message.split(',')[0]), ['the policy puts port 9000 behind the proxy (HTTP rules or authentication)'], '…and the one without a backend is reported');
});

test('entities and CIDRs', (t) => {
  const { ep, id } = translate(
    cnp('e', 'endpointSelector: { matchLabels: { app: server } }\ningress:\n- fromEntities: [cluster]\n  toPorts: [{ ports: [{ port: "1", protocol: TCP }] }]\n- fromEntities: [world]\n  toPorts: [{ ports: [{ port: "2", protocol: TCP }] }]\n- fromEntities: [host]\n  toPorts: [{ ports: [{ port: "3", protocol: TCP }] }]\n- fromEntities: [all]\n  toPorts: [{ ports: [{ port: "4", protocol: TCP }] }]\n- fromCIDRSet: [{ cidr: 10.0.0.0/8, except: [10.1.0.0/16] }]\n  toPorts: [{ ports: [{ port: "5", protocol: TCP }] }]\n- fromCIDR: [127.1.0.10/32]\n  toPorts: [{ ports: [{ port: "6", protocol: TCP }] }]'),
  );
  const s = ep('default/server').ingress;
  const world = (ip: string) => ({ identity: RESERVED_WORLD, prefix: parsePrefix(ip)! });
  const client = { identity: id('127.1.0.10') };
  const v = (peer: { identity: number }, port: number) => decide(s, peer, port, 'TCP').verdict;
  t.deepEqual([v(client, 1), v({ identity: RESERVED_HOST }, 1), v(world('8.8.8.8'), 1)], ['allow', 'allow', 'deny'], 'cluster');
  t.deepEqual([v(client, 2), v(world('8.8.8.8'), 2)], ['deny', 'allow'], 'world');
  t.deepEqual([v(client, 3), v({ identity: RESERVED_HOST }, 3)], ['deny', 'allow'], 'host');
  t.deepEqual([v(client, 4), v(world('8.8.8.8'), 4), v({ identity: RESERVED_HOST }, 4)], ['allow', 'allow', 'allow'], 'all');
  t.deepEqual([v(world('10.2.3.4'), 5), v(world('10.1.3.4'), 5), v(world('11.0.0.1'), 5)], ['allow', 'deny', 'deny'], 'CIDR with except');
  t.is(v(client, 6), 'deny', 'a CIDR never selects a cluster endpoint, even its address');
});

test('NetworkPolicy (networking.k8s.io/v1): L3/L4 with podSelector, namespaceSelector, ipBlock, ports', (t) => {
  const np = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: np, namespace: default }
spec:
  podSelector: { matchLabels: { app: server } }
  ingress:
  - from: [{ podSelector: { matchLabels: { app: client } } }]
    ports: [{ port: 80 }, { port: 8000, endPort: 8010 }]
  - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: prod } } }]
    ports: [{ port: 9000 }]
  - from: [{ ipBlock: { cidr: 10.0.0.0/8 } }]
`;
  const { ep, id, t: tr } = translate(np);
  t.deepEqual(tr.problems, []);
  const s = ep('default/server');
  t.true(s.ingress.enforced);
  t.false(s.egress.enforced);
  const v = (identity: number, port: number, prefix?: string) => decide(s.ingress, { identity, ...(prefix ? { prefix: parsePrefix(prefix)! } : {}) }, port, 'TCP').verdict;
  t.is(v(id('127.1.0.10'), 80), 'allow');
  t.is(v(id('127.1.0.10'), 8005), 'allow');
  t.is(v(id('127.1.0.10'), 9000), 'deny');
  t.is(v(id('127.1.0.12'), 9000), 'allow', 'namespaceSelector');
  t.is(v(id('127.1.0.12'), 80), 'deny');
  t.is(v(RESERVED_WORLD, 1234, '10.9.9.9'), 'allow', 'ipBlock, every port');
});

test('examples/l7policy translates without problems: one proxied port on the deathstar', (t) => {
  const tr = translateDirectory(path.join(projectRoot(), 'examples', 'l7policy'));
  t.deepEqual(tr.problems, []);
  t.deepEqual(tr.l7!.listeners.map((l) => `${l.endpoint} ${l.address}:${l.port} → ${l.backend.address}:${l.backend.port}`), ['default/deathstar 127.0.10.2:8080 → 127.0.0.1:18081']);
});

test('examples/mutual-auth: the policy asks for the mesh; its view (what weft run serves) has every pod as a source and echo\'s port as a service with its L7 mesh route', (t) => {
  const dir = path.join(projectRoot(), 'examples', 'mutual-auth');
  t.true(policiesRequireAuthentication(translateDirectory(dir).l7!.policies));
  const tr = translateDirectory(dir, undefined, { l7: { mesh: { trustDomain: 'cluster.local' } } });
  t.deepEqual(tr.problems, []);
  const { view, problems } = standaloneMeshView(tr.l7!, { trustDomain: 'cluster.local', outbound: { address: '127.0.0.1', port: 15001 }, inbound: { address: '127.0.0.1', port: 15008 } });
  t.deepEqual(problems, []);
  const sa = (name: string) => `spiffe://cluster.local/ns/default/sa/${name}`;
  t.deepEqual(view.outbound?.sources, [{ id: sa('echo'), sources: ['127.0.11.2'] }, { id: sa('pod-worker'), sources: ['127.0.11.10'] }, { id: sa('intruder'), sources: ['127.0.11.11'] }]);
  t.deepEqual(view.outbound?.services, [{ host: '3000.echo.default', node: { address: '127.0.0.1', port: 15008 }, id: sa('echo') }]);
  t.deepEqual(view.inbound?.services, [{ host: '3000.echo.default', id: sa('echo'), backend: { address: '127.0.0.1', port: 18081 }, routeConfig: 'l7/mesh/default/echo/3000' }]);
  t.notThrows(() => meshResources(view));
  t.false(policiesRequireAuthentication(translateDirectory(path.join(projectRoot(), 'examples', 'l7policy')).l7!.policies), 'no rule asks for it there');
});

test('over the mesh, the clients\' egress rules reach every endpoint port they name (L7Translation.meshEgress): replicas each by name, undeclared ports and unrestricted ports left out', (t) => {
  const web = (name: string, ip: string, ports: number[]) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: web } }
spec: { containers: [{ name: app, ports: [${ports.map((p) => `{ containerPort: ${p} }`).join(', ')}] }] }
status: { podIP: ${ip} }
`;
  const yaml = [web('web-1', '127.1.0.20', [8080, 9090]), web('web-2', '127.1.0.21', [8080]), web('db', '127.1.0.22', [5432]), clients, `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-egress, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "8080", protocol: TCP }]
      rules: { http: [{ method: GET }] }
`].join('---\n');
  const tr = translateYaml('p.yaml', yaml, { l7: { mesh: { trustDomain: 'cluster.local' }, transparent: { proxyPort: 15001, upstreamMark: 0x400 } } });
  t.deepEqual(tr.problems, []);
  t.deepEqual(tr.l7!.listeners, []);
  // db's 5432 and web-1's 9090 are no port of the rules; pods that declare no ports get the rules' ports (the
  // client's egress is default-deny towards them there).
  const id = (ip: string) => String(tr.l7!.table.byIp.get(ip));
  t.deepEqual(tr.l7!.meshEgress.map((m) => `${m.endpoint}/${m.port} ${m.egress.routeName}`), [
    `default/web-1/8080 l7 ${id('127.1.0.20')} 8080 default/web-1`,
    `default/web-2/8080 l7 ${id('127.1.0.21')} 8080 default/web-2`,
    `default/client/8080 l7 ${id('127.1.0.10')} 8080 default/client`,
    `default/other/8080 l7 ${id('127.1.0.11')} 8080 default/other`,
    `prod/prod-client/8080 l7 ${id('127.1.0.12')} 8080 prod/prod-client`,
  ]);
  // The policy is namespaced: only default's `client` is restricted (not prod's); `other` has no egress rules.
  t.deepEqual([...tr.l7!.meshEgress[0].egress.clients].sort(), ['127.1.0.10']);
  t.deepEqual(tr.l7!.meshEgress[0].egress.typedPerFilterConfig, tr.l7!.meshEgress[1].egress.typedPerFilterConfig, 'one identity, one policy');
  t.deepEqual(translateYaml('p.yaml', yaml, { l7: { transparent: { proxyPort: 15001, upstreamMark: 0x400 } } }).l7!.meshEgress, [], 'without the mesh, none');
});

test('the access log names the peer by the enforcing decision (`<peer>|<decision>`), refusals included', (t) => {
  const line = (policy: string, details: string): string => JSON.stringify({ direction: 'ingress', destination: 'l7 59828 8080 default/server', policy, response_code: details === 'via_upstream' ? 200 : 403, response_code_details: details });
  t.like(parseL7AccessLogLine(line('14440|allowed:CiliumNetworkPolicy default/p,CiliumNetworkPolicy default/q:0 LOG:x-want', 'via_upstream')), { sourceIdentity: 14440, sourceLabels: [], destinationIdentity: 59828, verdict: 'FORWARDED', headerMismatches: [{ action: 'LOG', header: 'x-want' }] });
  t.like(parseL7AccessLogLine(line('14440|denied:l7 -', 'rbac_access_denied_matched_policy[14440|denied:l7]')), { sourceIdentity: 14440, verdict: 'DENIED', reason: 'denied:l7', headerMismatches: [] });
  t.like(parseL7AccessLogLine(line('unlisted|dropped:default-deny -', 'rbac_access_denied_matched_policy[unlisted|dropped:default-deny]')), { sourceIdentity: undefined, sourceLabels: [], verdict: 'DROPPED', reason: 'dropped:default-deny' });
  t.like(parseL7AccessLogLine(line('cidr:198.51.100.0/24|egress:denied:l7 -', 'rbac_access_denied_matched_policy[cidr:198.51.100.0/24|egress:denied:l7]')), { sourceLabels: ['cidr:198.51.100.0/24', 'reserved:world'], verdict: 'DENIED', reason: 'egress:denied:l7' });
  // Over the mesh the shadow matcher names the verified SPIFFE ID's identities; nothing named: `-`.
  t.like(parseL7AccessLogLine(line('14440 -', 'via_upstream')), { sourceIdentity: 14440 });
  t.like(parseL7AccessLogLine(line('- -', 'via_upstream')), { sourceIdentity: undefined, headerMismatches: [] });
});
