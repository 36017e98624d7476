// ListenerSet (gateway-api v1.6.1, GEP-1713) against a real Envoy. The first test reproduces ListenerSetHTTPRouting
// (a Gateway with two listeners, two ListenerSets of two listeners each, routes attached to the Gateway, to one of
// its listeners, to a ListenerSet, to one ListenerSet listener, and to all three parents; the suite's 36 requests)
// with one ListenerSet in another namespace. The second checks precedence on the wire: a ListenerSet listener that
// conflicts with an older ListenerSet's is not served, and serves once the older ListenerSet is deleted.
import test from 'ava';
import { applyYaml, assertHealthy, backendYaml, gatewayFixture, gatewayYaml, request } from './helpers/gateway.js';

type Status = Array<{ name: string; attachedRoutes: number; conditions: Array<{ type: string; status: string; reason: string }> }>;

/** The Gateway of gatewayYaml, allowing ListenerSets from every namespace. */
function gatewayAllowingListenerSets(port: number, listeners: Array<{ name: string; hostname: string }>): string {
  return gatewayYaml(port, listeners).replace('  gatewayClassName: weft\n', '  gatewayClassName: weft\n  allowedListeners: { namespaces: { from: All } }\n');
}

function listenerSetYaml(name: string, namespace: string, port: number, listeners: Array<{ name: string; hostname: string }>, creationTimestamp = '2026-01-01T00:00:00Z'): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ${name}, namespace: ${namespace}, creationTimestamp: "${creationTimestamp}" }
spec:
  parentRef: { name: gw, namespace: default }
  listeners:
${listeners.map((l) => `  - { name: ${l.name}, port: ${port}, protocol: HTTP, hostname: ${l.hostname}, allowedRoutes: { namespaces: { from: All } } }`).join('\n')}
`;
}

/** An HTTPRoute in namespace default with the given parentRefs (YAML flow mappings), one PathPrefix rule. */
function route(name: string, parentRefs: string[], path: string, backend: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: default }
spec:
  parentRefs: [${parentRefs.join(', ')}]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: ${backend}, port: 8080 }] }]
`;
}

const GW = '{ name: gw }';
const LS1 = '{ kind: ListenerSet, group: gateway.networking.k8s.io, name: ls-1 }';
const LS2 = '{ kind: ListenerSet, group: gateway.networking.k8s.io, name: ls-2, namespace: team }';

test.serial('ListenerSetHTTPRouting: routes reach the listeners of their own parents only, by Gateway, ListenerSet and sectionName', async (t) => {
  const { mesh, port, translation } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayAllowingListenerSets(p, [{ name: 'gw-1', hostname: 'gw-1.example' }, { name: 'gw-2', hostname: 'gw-2.example' }]) +
    '---\napiVersion: v1\nkind: Namespace\nmetadata: { name: team }\n' +
    listenerSetYaml('ls-1', 'default', p, [{ name: 'ls-1-a', hostname: 'ls-1-a.example' }, { name: 'ls-1-b', hostname: 'ls-1-b.example' }]) +
    listenerSetYaml('ls-2', 'team', p, [{ name: 'ls-2-a', hostname: 'ls-2-a.example' }, { name: 'ls-2-b', hostname: 'ls-2-b.example' }]) +
    bs.map((b) => backendYaml(b)).join('') +
    route('all', [GW, LS1, LS2], '/route', 'v1') +
    route('gateway', [GW], '/gateway-route', 'v2') +
    route('gateway-section', ['{ name: gw, sectionName: gw-1 }'], '/gateway-section-route', 'v3') +
    route('ls-1', [LS1], '/ls-1-route', 'v2') +
    route('ls-1-section', ['{ kind: ListenerSet, group: gateway.networking.k8s.io, name: ls-1, sectionName: ls-1-a }'], '/ls-1-section-route', 'v3') +
    route('ls-2', [LS2], '/ls-2-route', 'v2'),
  );
  const status = (kind: string, name: string): Record<string, unknown> => translation.statuses.find((s) => s.kind === kind && s.name === name)!.status;
  t.is(status('Gateway', 'gw').attachedListenerSets, 2);
  const attached = (kind: string, name: string): Record<string, number> => Object.fromEntries((status(kind, name).listeners as Status).map((l) => [l.name, l.attachedRoutes]));
  t.deepEqual(attached('Gateway', 'gw'), { 'gw-1': 3, 'gw-2': 2 });
  t.deepEqual(attached('ListenerSet', 'ls-1'), { 'ls-1-a': 3, 'ls-1-b': 2 });
  t.deepEqual(attached('ListenerSet', 'ls-2'), { 'ls-2-a': 2, 'ls-2-b': 2 });

  const hosts = ['gw-1.example', 'gw-2.example', 'ls-1-a.example', 'ls-1-b.example', 'ls-2-a.example', 'ls-2-b.example'];
  /** path → host → the backend that must answer (404 elsewhere). */
  const served: Record<string, Record<string, string>> = {
    '/route': Object.fromEntries(hosts.map((h) => [h, 'v1'])),
    '/gateway-route': { 'gw-1.example': 'v2', 'gw-2.example': 'v2' },
    '/gateway-section-route': { 'gw-1.example': 'v3' },
    '/ls-1-route': { 'ls-1-a.example': 'v2', 'ls-1-b.example': 'v2' },
    '/ls-1-section-route': { 'ls-1-a.example': 'v3' },
    '/ls-2-route': { 'ls-2-a.example': 'v2', 'ls-2-b.example': 'v2' },
  };
  const expected: string[] = [];
  const actual: string[] = [];
  for (const [path, byHost] of Object.entries(served)) {
    for (const host of hosts) {
      expected.push(`${host}${path} → ${byHost[host] ?? 404}`);
      const r = await request(port, { host, path });
      actual.push(`${host}${path} → ${r.status === 200 ? r.backend : r.status}`);
    }
  }
  t.deepEqual(actual, expected);
  await assertHealthy(t, mesh);
});

test.serial('ListenerSet precedence: a listener conflicting with an older ListenerSet\'s is not served, and is once the older one is gone', async (t) => {
  let port = 0;
  const backendPorts: Record<string, number> = {};
  const manifests = (p: number, withOlder: boolean): string =>
    gatewayAllowingListenerSets(p, [{ name: 'gw', hostname: 'gw.example' }]) +
    (withOlder ? listenerSetYaml('older', 'default', p, [{ name: 'shared', hostname: 'shared.example' }], '2026-01-01T00:00:00Z') : '') +
    listenerSetYaml('newer', 'default', p, [{ name: 'shared', hostname: 'shared.example' }], '2026-01-02T00:00:00Z') +
    backendYaml({ name: 'v1', port: backendPorts.v1 }) + backendYaml({ name: 'v2', port: backendPorts.v2 }) +
    (withOlder ? route('to-older', ['{ kind: ListenerSet, group: gateway.networking.k8s.io, name: older }'], '/', 'v1') : '') +
    route('to-newer', ['{ kind: ListenerSet, group: gateway.networking.k8s.io, name: newer }'], '/', 'v2');
  const { mesh, translation } = await gatewayFixture(t, ['v1', 'v2'], (bs, p) => {
    port = p;
    for (const b of bs) backendPorts[b.name] = b.port;
    return manifests(p, true);
  });
  const newer = translation.statuses.find((s) => s.kind === 'ListenerSet' && s.name === 'newer')!.status;
  t.like(Object.fromEntries((newer.conditions as Status[number]['conditions']).map((c) => [c.type, c])), { Accepted: { status: 'False', reason: 'ListenersNotValid' } });
  t.like(Object.fromEntries((newer.listeners as Status)[0].conditions.map((c) => [c.type, c])), { Conflicted: { status: 'True', reason: 'HostnameConflict' }, Programmed: { status: 'False', reason: 'HostnameConflict' } });
  t.is((await request(port, { host: 'shared.example' })).backend, 'v1', 'the older ListenerSet\'s route serves the shared hostname');

  const after = await applyYaml(t, mesh, manifests(port, false));
  const accepted = after.statuses.find((s) => s.kind === 'ListenerSet' && s.name === 'newer')!.status.conditions as Status[number]['conditions'];
  t.like(accepted.find((c) => c.type === 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.is((await request(port, { host: 'shared.example' })).backend, 'v2', 'the newer ListenerSet\'s route serves it now');
  await assertHealthy(t, mesh);
});
