// GATEWAY-HTTP core conformance tests (gateway-api v1.6.1) that the other e2e files did not cover yet,
// each as a standalone scenario against a real Envoy: manifests → translateYaml → Envoy → echo backends on
// 127.0.0.1. The test titles start with the upstream test's ShortName; docs/conformance-coverage.md maps
// every core test to its Weft test. Every test ends with no NACK and nothing warming.
import test from 'ava';
import type { EchoBackend } from './helpers/echo-backend.js';
import { applyYaml, assertHealthy, backendYaml, gatewayFixture, gatewayYaml, request, routeConditions, routeYaml, type GatewayReply } from './helpers/gateway.js';
import { freePort } from './helpers/net.js';
import type { Translation } from '../src/standalone/pipeline.js';

const ref = (name: string, extra = ''): string => `    - name: ${name}\n      port: 8080${extra}`;
const served = (r: GatewayReply): [number, string] => [r.status, r.backend];

type Status = Record<string, unknown> & { conditions?: Array<{ type: string; status: string; reason: string; observedGeneration?: number }> };

function statusOf(tr: Translation, kind: string, name: string, namespace?: string): Status {
  const s = tr.statuses.find((x) => x.kind === kind && x.name === name && (namespace === undefined || (x.namespace ?? 'default') === namespace));
  if (!s) throw new Error(`no status for ${kind} ${namespace ?? ''}/${name}`);
  return s.status;
}

/** Every observedGeneration in a status (conditions of the object, of its listeners, of its parents). */
function observedGenerations(status: Status): number[] {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'observedGeneration' && typeof x === 'number') out.push(x);
        else walk(x);
      }
    }
  };
  walk(status);
  return out;
}

/** A Gateway `name` in `default` with plain HTTP listeners, without the GatewayClass. */
function namedGatewayYaml(name: string, listeners: Array<{ name: string; port: number; hostname?: string }>, generation?: number): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ${name}
  namespace: default${generation ? `\n  generation: ${generation}` : ''}
spec:
  gatewayClassName: weft
  listeners:${listeners
    .map(
      (l) => `
  - name: ${l.name}
    protocol: HTTP
    port: ${l.port}${l.hostname ? `\n    hostname: "${l.hostname}"` : ''}
    allowedRoutes:
      namespaces:
        from: All`,
    )
    .join('')}
`;
}

const gatewayClassYaml = (generation?: number, description?: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weft${generation ? `\n  generation: ${generation}` : ''}
spec:
  controllerName: weft.dev/gateway-controller${description ? `\n  description: ${description}` : ''}
`;

test.serial('HTTPRouteNoBackendRefs: a rule with omitted or empty backendRefs answers 500; the route is Accepted with ResolvedRefs True', async (t) => {
  const { mesh, port, translation } = await gatewayFixture(t, ['v1'], (bs, p) =>
    gatewayYaml(p) +
    backendYaml(bs[0]) +
    routeYaml(
      'omitted-backendrefs',
      `  - matches:\n    - path: { type: PathPrefix, value: /forward }\n    backendRefs:\n${ref('v1')}
  - matches:\n    - path: { type: PathPrefix, value: /omitted-no-forward }
  - matches:\n    - path: { type: PathPrefix, value: /empty-no-forward }\n    backendRefs: []`,
    ),
  );
  t.like(routeConditions(translation, 'omitted-backendrefs'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  t.deepEqual(served(await request(port, { path: '/forward' })), [200, 'v1']);
  t.is((await request(port, { path: '/omitted-no-forward' })).status, 500);
  t.is((await request(port, { path: '/empty-no-forward' })).status, 500);
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteServiceTypes: a Service with hand-made EndpointSlices, a headless Service, a headless one with hand-made slices', async (t) => {
  // The suite copies the backend Pods' addresses into selector-less slices named unlike the Service, with an
  // IPv6 slice next to the IPv4 one; here the IPv6 slices are empty (the echo backends listen on 127.0.0.1).
  const service = (name: string, port: number, headless: boolean): string => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
spec:${headless ? '\n  clusterIP: None' : ''}
  ports:
  - name: first-port
    protocol: TCP
    port: 8080
    targetPort: ${port}
`;
  const slice = (service: string, name: string, family: 'IPv4' | 'IPv6', port: number): string => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: default
  labels:
    kubernetes.io/service-name: ${service}
addressType: ${family}
ports:
- name: first-port
  port: ${port}
  protocol: TCP
endpoints:${family === 'IPv4' ? `\n- addresses: ["127.0.0.1"]\n  conditions:\n    ready: true` : ' []'}
`;
  const { mesh, port, translation } = await gatewayFixture(t, ['manual', 'headless', 'headless-manual'], (bs, p) => {
    const [manual, headless, headlessManual] = bs;
    return (
      gatewayYaml(p) +
      service('manual-endpointslices', manual.port, false) +
      slice('manual-endpointslices', 'manual-endpointslices-ip4', 'IPv4', manual.port) +
      slice('manual-endpointslices', 'manual-endpointslices-ip6', 'IPv6', manual.port) +
      service('headless', headless.port, true) +
      slice('headless', 'headless-abcde', 'IPv4', headless.port) +
      service('headless-manual-endpointslices', headlessManual.port, true) +
      slice('headless-manual-endpointslices', 'headless-manual-endpointslices-ip4', 'IPv4', headlessManual.port) +
      slice('headless-manual-endpointslices', 'headless-manual-endpointslices-ip6', 'IPv6', headlessManual.port) +
      routeYaml(
        'service-types',
        ['manual-endpointslices', 'headless', 'headless-manual-endpointslices']
          .map((n) => `  - matches:\n    - path: { type: Exact, value: /${n} }\n    backendRefs:\n${ref(n)}`)
          .join('\n'),
      )
    );
  });
  t.like(routeConditions(translation, 'service-types'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  for (let i = 0; i < 3; i++) {
    t.deepEqual(served(await request(port, { path: '/manual-endpointslices' })), [200, 'manual']);
    t.deepEqual(served(await request(port, { path: '/headless' })), [200, 'headless']);
    t.deepEqual(served(await request(port, { path: '/headless-manual-endpointslices' })), [200, 'headless-manual']);
  }
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteMultipleGateways: one route attached to two Gateways serves on both; each Gateway keeps its dedicated route', async (t) => {
  // The suite's two Gateways have their own addresses on :80; in standalone mode every Gateway binds
  // 127.0.0.1, so here they differ by port.
  const port2 = await freePort();
  const { mesh, port, translation } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayClassYaml() +
    namedGatewayYaml('same-namespace', [{ name: 'http', port: p }]) +
    namedGatewayYaml('all-namespaces', [{ name: 'http', port: port2 }]) +
    bs.map((b) => backendYaml(b)).join('') +
    `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: multiple-gateways-shared-route
  namespace: default
spec:
  parentRefs:
  - name: same-namespace
  - name: all-namespaces
  rules:
  - matches:
    - path: { type: PathPrefix, value: /shared }
    backendRefs:
${ref('v1')}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: same-namespace-dedicated-route
  namespace: default
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
${ref('v2')}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: all-namespaces-dedicated-route
  namespace: default
spec:
  parentRefs:
  - name: all-namespaces
  rules:
  - backendRefs:
${ref('v3')}
`,
  );
  const shared = statusOf(translation, 'HTTPRoute', 'multiple-gateways-shared-route') as { parents: Array<{ parentRef: { name: string }; conditions: Array<{ type: string; status: string }> }> };
  t.deepEqual(shared.parents.map((x) => x.parentRef.name).sort(), ['all-namespaces', 'same-namespace']);
  for (const parent of shared.parents) t.like(Object.fromEntries(parent.conditions.map((c) => [c.type, c.status])), { Accepted: 'True', ResolvedRefs: 'True' });
  for (const gw of ['same-namespace', 'all-namespaces']) {
    const listeners = (statusOf(translation, 'Gateway', gw) as { listeners: Array<{ attachedRoutes: number }> }).listeners;
    t.is(listeners[0].attachedRoutes, 2, `${gw}: the shared and its dedicated route`);
  }
  t.deepEqual(served(await request(port, { path: '/shared' })), [200, 'v1']);
  t.deepEqual(served(await request(port, { path: '/' })), [200, 'v2']);
  t.deepEqual(served(await request(port2, { path: '/shared' })), [200, 'v1']);
  t.deepEqual(served(await request(port2, { path: '/' })), [200, 'v3']);
  await assertHealthy(t, mesh);
});

test.serial('GatewayModifyListeners (HTTP part): an added listener counts the route and serves it; removing the other listener stops its traffic only', async (t) => {
  // The suite's Gateways also have an HTTPS listener (secure.test.com), which Weft does not serve yet; here
  // an HTTP listener on other.test.com stands in for it.
  const manifests = (bs: EchoBackend[], p: number, listeners: Array<'other' | 'data'>, generation: number): string =>
    gatewayClassYaml() +
    namedGatewayYaml(
      'gateway-add-listener',
      listeners.map((l) => (l === 'other' ? { name: 'http-other', port: p, hostname: 'other.test.com' } : { name: 'http', port: p, hostname: 'data.test.com' })),
      generation,
    ) +
    backendYaml(bs[0]) +
    `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route-1
  namespace: default
spec:
  parentRefs:
  - name: gateway-add-listener
  rules:
  - backendRefs:
${ref('v1')}
`;
  type Listener = { name: string; attachedRoutes: number; conditions: Array<{ type: string; status: string }> };
  const listenersOf = (tr: Translation): Record<string, { attachedRoutes: number; conditions: Record<string, string> }> =>
    Object.fromEntries(
      (statusOf(tr, 'Gateway', 'gateway-add-listener') as { listeners: Listener[] }).listeners.map((l) => [
        l.name,
        { attachedRoutes: l.attachedRoutes, conditions: Object.fromEntries(l.conditions.map((c) => [c.type, c.status])) },
      ]),
    );
  const ready = { Accepted: 'True', ResolvedRefs: 'True', Programmed: 'True' };
  const { mesh, port, backends, translation } = await gatewayFixture(t, ['v1'], (bs, p) => manifests(bs, p, ['other'], 1));
  t.like(listenersOf(translation), { 'http-other': { attachedRoutes: 1, conditions: ready } });
  t.deepEqual(served(await request(port, { host: 'other.test.com' })), [200, 'v1']);
  t.is((await request(port, { host: 'data.test.com' })).status, 404);

  const added = await applyYaml(t, mesh, manifests(backends, port, ['other', 'data'], 2));
  t.like(listenersOf(added), { 'http-other': { attachedRoutes: 1, conditions: ready }, http: { attachedRoutes: 1, conditions: ready } });
  t.deepEqual([...new Set(observedGenerations(statusOf(added, 'Gateway', 'gateway-add-listener')))], [2], 'the Gateway status observes generation 2');
  t.deepEqual(served(await request(port, { host: 'data.test.com' })), [200, 'v1']);
  t.deepEqual(served(await request(port, { host: 'other.test.com' })), [200, 'v1']);

  const removed = await applyYaml(t, mesh, manifests(backends, port, ['data'], 3));
  t.deepEqual(Object.keys(listenersOf(removed)), ['http']);
  t.like(listenersOf(removed), { http: { attachedRoutes: 1, conditions: ready } });
  t.is((await request(port, { host: 'other.test.com' })).status, 404);
  t.deepEqual(served(await request(port, { host: 'data.test.com' })), [200, 'v1']);
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteCrossNamespace, HTTPRouteInvalidCrossNamespaceParentRef: a route from a namespace the listener selects serves; to a Same-namespace listener it is not allowed', async (t) => {
  const port2 = await freePort();
  const route = (name: string, gateway: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: web-backend
spec:
  parentRefs:
  - name: ${gateway}
    namespace: default
  rules:
  - backendRefs:
${ref('web-backend')}
`;
  const { mesh, port, translation } = await gatewayFixture(t, ['web-backend'], (bs, p) =>
    gatewayClassYaml() +
    `---
apiVersion: v1
kind: Namespace
metadata:
  name: web-backend
  labels:
    gateway-conformance: backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: backend-namespaces
  namespace: default
spec:
  gatewayClassName: weft
  listeners:
  - name: http
    protocol: HTTP
    port: ${p}
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            gateway-conformance: backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace
  namespace: default
spec:
  gatewayClassName: weft
  listeners:
  - name: http
    protocol: HTTP
    port: ${port2}
    allowedRoutes:
      namespaces:
        from: Same
` +
    backendYaml(bs[0], 'web-backend') +
    route('cross-namespace', 'backend-namespaces') +
    route('invalid-cross-namespace-parent-ref', 'same-namespace'),
  );
  t.like(routeConditions(translation, 'cross-namespace', 'web-backend'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  t.like(routeConditions(translation, 'invalid-cross-namespace-parent-ref', 'web-backend'), {
    Accepted: { status: 'False', reason: 'NotAllowedByListeners' },
    ResolvedRefs: { status: 'True' },
  });
  const attached = (gw: string): number[] => (statusOf(translation, 'Gateway', gw) as { listeners: Array<{ attachedRoutes: number }> }).listeners.map((l) => l.attachedRoutes);
  t.deepEqual(attached('backend-namespaces'), [1]);
  t.deepEqual(attached('same-namespace'), [0], 'the not allowed route is not counted');
  t.deepEqual(served(await request(port)), [200, 'web-backend']);
  t.is((await request(port2)).status, 404, 'the Same-namespace Gateway serves nothing of it');
  await assertHealthy(t, mesh);
});

test.serial('GatewayClassObservedGenerationBump, GatewayObservedGenerationBump, HTTPRouteObservedGenerationBump: every observedGeneration follows metadata.generation after an update', async (t) => {
  // Standalone has no API server to bump metadata.generation; the manifests carry it, as a server would.
  const manifests = (bs: EchoBackend[], p: number, gen: number): string =>
    gatewayClassYaml(gen, gen > 1 ? 'new' : undefined) +
    namedGatewayYaml('gateway-observed-generation-bump', [{ name: 'http', port: p }, ...(gen > 1 ? [{ name: 'alternate', port: p, hostname: 'foo.com' }] : [])], gen) +
    bs.map((b) => backendYaml(b)).join('') +
    `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: observed-generation-bump
  namespace: default
  generation: ${gen}
spec:
  parentRefs:
  - name: gateway-observed-generation-bump
    sectionName: http
  rules:
  - backendRefs:
${ref(gen > 1 ? 'v2' : 'v1')}
`;
  const { mesh, port, backends, translation } = await gatewayFixture(t, ['v1', 'v2'], (bs, p) => manifests(bs, p, 1));
  const check = (tr: Translation, gen: number): void => {
    for (const [kind, name] of [
      ['GatewayClass', 'weft'],
      ['Gateway', 'gateway-observed-generation-bump'],
      ['HTTPRoute', 'observed-generation-bump'],
    ] as const) {
      const gens = observedGenerations(statusOf(tr, kind, name));
      t.true(gens.length > 0, `${kind} ${name} has conditions`);
      t.deepEqual([...new Set(gens)], [gen], `${kind} ${name}: every observedGeneration is ${gen}`);
    }
    t.like(routeConditions(tr, 'observed-generation-bump'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
    t.like(Object.fromEntries((statusOf(tr, 'GatewayClass', 'weft').conditions ?? []).map((c) => [c.type, c.status])), { Accepted: 'True' });
  };
  check(translation, 1);
  t.deepEqual(served(await request(port)), [200, 'v1']);
  const bumped = await applyYaml(t, mesh, manifests(backends, port, 2));
  check(bumped, 2);
  t.deepEqual(served(await request(port)), [200, 'v2'], 'the updated backendRef serves');
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteInvalidReferenceGrant, HTTPRoutePartiallyInvalidViaInvalidReferenceGrant: grants of the wrong namespace, from group, from kind or from namespace permit nothing', async (t) => {
  const grant = (name: string, namespace: string, from: { group: string; kind: string; namespace: string }, toName: string): string => `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  from:
  - group: ${from.group}
    kind: ${from.kind}
    namespace: ${from.namespace}
  to:
  - group: ""
    kind: Service
    name: ${toName}
`;
  const { mesh, port, translation } = await gatewayFixture(t, ['web-backend', 'app-backend-v1', 'app-backend-v2'], (bs, p) => {
    const [web, appV1, appV2] = bs;
    const gw = 'gateway.networking.k8s.io';
    return (
      gatewayYaml(p) +
      backendYaml(web, 'web-backend') +
      backendYaml(appV1, 'app-backend') +
      backendYaml(appV2, 'app-backend') +
      grant('reference-grant-wrong-namespace', 'default', { group: gw, kind: 'HTTPRoute', namespace: 'default' }, 'web-backend') +
      grant('reference-grant-wrong-from-group', 'web-backend', { group: 'not-the-group-youre-looking-for', kind: 'HTTPRoute', namespace: 'default' }, 'web-backend') +
      grant('reference-grant-wrong-from-kind', 'web-backend', { group: gw, kind: 'Gateway', namespace: 'default' }, 'web-backend') +
      grant('reference-grant-wrong-from-namespace', 'web-backend', { group: gw, kind: 'HTTPRoute', namespace: 'not-the-namespace-youre-looking-for' }, 'web-backend') +
      // the partially invalid case: a grant for app-backend-v1 only
      grant('reference-grant', 'app-backend', { group: gw, kind: 'HTTPRoute', namespace: 'default' }, 'app-backend-v1') +
      routeYaml('reference-grant', `  - matches:\n    - path: { type: PathPrefix, value: / }\n    backendRefs:\n${ref('web-backend', '\n      namespace: web-backend')}`, { hostnames: ['web.example.com'] }) +
      routeYaml(
        'invalid-reference-grant',
        `  - matches:\n    - path: { type: PathPrefix, value: / }\n    backendRefs:\n${ref('app-backend-v1', '\n      namespace: app-backend')}
  - matches:\n    - path: { type: PathPrefix, value: /v2 }\n    backendRefs:\n${ref('app-backend-v2', '\n      namespace: app-backend')}`,
        { hostnames: ['app.example.com'] },
      )
    );
  });
  t.like(routeConditions(translation, 'reference-grant'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'False', reason: 'RefNotPermitted' } });
  t.like(routeConditions(translation, 'invalid-reference-grant'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'False', reason: 'RefNotPermitted' } });
  for (let i = 0; i < 3; i++) {
    t.is((await request(port, { host: 'web.example.com' })).status, 500);
    t.is((await request(port, { host: 'app.example.com', path: '/v2' })).status, 500);
    t.deepEqual(served(await request(port, { host: 'app.example.com' })), [200, 'app-backend-v1']);
  }
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteExactPathMatching, HTTPRouteMatching, HTTPRoutePathMatchOrder, HTTPRouteHeaderMatching, HTTPRouteMatchingAcrossRoutes: the suite’s routes and requests', async (t) => {
  // Each upstream test's route(s) on a hostname of its own, so that they share one Gateway without mixing.
  const exact = (path: string, backend: string): string => `  - matches:\n    - path: { type: Exact, value: ${path} }\n    backendRefs:\n${ref(backend)}`;
  const prefix = (path: string, backend: string): string => `  - matches:\n    - path: { type: PathPrefix, value: ${path} }\n    backendRefs:\n${ref(backend)}`;
  const headers = (matches: Array<Array<[string, string]>>, backend: string): string =>
    `  - matches:\n${matches.map((hs) => `    - headers: [${hs.map(([n, v]) => `{ name: ${n}, value: ${v} }`).join(', ')}]`).join('\n')}\n    backendRefs:\n${ref(backend)}`;
  const prefixOrHeader = (path: string, version: string, backend: string): string =>
    `  - matches:\n    - path: { type: PathPrefix, value: ${path} }\n    - headers: [{ name: version, value: ${version} }]\n    backendRefs:\n${ref(backend)}`;
  const { mesh, port } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayYaml(p) +
    bs.map((b) => backendYaml(b)).join('') +
    routeYaml('exact-matching', [exact('/one', 'v1'), exact('/two', 'v2')].join('\n'), { hostnames: ['exact.test'] }) +
    routeYaml('matching', [prefixOrHeader('/', 'one', 'v1'), prefixOrHeader('/v2', 'two', 'v2')].join('\n'), { hostnames: ['matching.test'] }) +
    routeYaml(
      'path-matching-order',
      [exact('/match', 'v1'), exact('/match/exact', 'v2'), exact('/match/exact/one', 'v3'), prefix('/match/', 'v3'), prefix('/match/prefix/', 'v1'), prefix('/match/prefix/one', 'v2')].join('\n'),
      { hostnames: ['order.test'] },
    ) +
    routeYaml(
      'header-matching',
      [
        headers([[['version', 'one']]], 'v1'),
        headers([[['version', 'two']]], 'v2'),
        headers(
          [
            [
              ['version', 'two'],
              ['color', 'orange'],
            ],
          ],
          'v1',
        ),
        headers([[['color', 'blue']], [['color', 'green']]], 'v1'),
        headers([[['color', 'red']], [['color', 'yellow']]], 'v2'),
      ].join('\n'),
      { hostnames: ['headers.test'] },
    ) +
    routeYaml('matching-part1', prefixOrHeader('/', 'one', 'v1'), { hostnames: ['example.com', 'example.net'], creationTimestamp: '2026-01-01T00:00:00Z' }) +
    routeYaml('matching-part2', prefixOrHeader('/v2', 'two', 'v2'), { hostnames: ['example.com'], creationTimestamp: '2026-01-01T00:00:01Z' }),
  );
  type Case = [host: string, path: string, hdrs: Record<string, string>, want: string | 404];
  const cases: Case[] = [
    // HTTPRouteExactPathMatching
    ['exact.test', '/one', {}, 'v1'],
    ['exact.test', '/two', {}, 'v2'],
    ['exact.test', '/', {}, 404],
    ['exact.test', '/one/example', {}, 404],
    ['exact.test', '/two/', {}, 404],
    ['exact.test', '/Two', {}, 404],
    // HTTPRouteMatching
    ['matching.test', '/', {}, 'v1'],
    ['matching.test', '/example', {}, 'v1'],
    ['matching.test', '/', { Version: 'one' }, 'v1'],
    ['matching.test', '/v2', {}, 'v2'],
    ['matching.test', '/v2/example', {}, 'v2'],
    ['matching.test', '/', { Version: 'two' }, 'v2'],
    ['matching.test', '/v2/', {}, 'v2'],
    ['matching.test', '/v2example', {}, 'v1'],
    ['matching.test', '/foo/v2/example', {}, 'v1'],
    // HTTPRoutePathMatchOrder
    ['order.test', '/match/exact/one', {}, 'v3'],
    ['order.test', '/match/exact', {}, 'v2'],
    ['order.test', '/match', {}, 'v1'],
    ['order.test', '/match/prefix/one/any', {}, 'v2'],
    ['order.test', '/match/prefix/any', {}, 'v1'],
    ['order.test', '/match/any', {}, 'v3'],
    // HTTPRouteHeaderMatching
    ['headers.test', '/', { Version: 'one' }, 'v1'],
    ['headers.test', '/', { Version: 'two' }, 'v2'],
    ['headers.test', '/', { Version: 'two', Color: 'orange' }, 'v1'],
    ['headers.test', '/', { Version: 'two', Color: 'blue' }, 'v2'],
    ['headers.test', '/', { Color: 'orange' }, 404],
    ['headers.test', '/', { 'Some-Other-Header': 'one' }, 404],
    ['headers.test', '/', { Color: 'blue' }, 'v1'],
    ['headers.test', '/', { Color: 'green' }, 'v1'],
    ['headers.test', '/', { Color: 'red' }, 'v2'],
    ['headers.test', '/', { Color: 'yellow' }, 'v2'],
    // HTTPRouteMatchingAcrossRoutes
    ['example.com', '/', {}, 'v1'],
    ['example.com', '/example', {}, 'v1'],
    ['example.net', '/example', {}, 'v1'],
    ['example.com', '/example', { Version: 'one' }, 'v1'],
    ['example.com', '/v2', {}, 'v2'],
    ['example.net', '/v2', {}, 'v1'],
    ['example.com', '/v2/example', {}, 'v2'],
    ['example.com', '/', { Version: 'two' }, 'v2'],
  ];
  for (const [host, path, hdrs, want] of cases) {
    const r = await request(port, { host, path, headers: hdrs });
    t.deepEqual(served(r), want === 404 ? [404, ''] : [200, want], `${host}${path} ${JSON.stringify(hdrs)}`);
  }
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteHostnameIntersection: the suite’s listeners, routes and hosts; a route intersecting no listener is NoMatchingListenerHostname', async (t) => {
  const port2 = await freePort();
  const route = (name: string, gateway: string, hostnames: string[], rule: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: default
spec:
  parentRefs:
  - name: ${gateway}
  hostnames: [${hostnames.map((h) => `"${h}"`).join(', ')}]
  rules:
${rule}
`;
  const onPrefix = (path: string, backend: string): string => `  - matches:\n    - path: { type: PathPrefix, value: ${path} }\n    backendRefs:\n${ref(backend)}`;
  const gw = 'httproute-hostname-intersection';
  const { mesh, port, translation } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayClassYaml() +
    namedGatewayYaml(gw, [
      { name: 'listener-1', port: p, hostname: 'very.specific.com' },
      { name: 'listener-2', port: p, hostname: '*.wildcard.io' },
      { name: 'listener-3', port: p, hostname: '*.anotherwildcard.io' },
    ]) +
    namedGatewayYaml(`${gw}-all`, [{ name: 'listener-1', port: port2 }]) +
    bs.map((b) => backendYaml(b)).join('') +
    route('specific-host-matches-listener-specific-host', gw, ['non.matching.com', '*.nonmatchingwildcard.io', 'very.specific.com'], onPrefix('/s1', 'v1')) +
    route('specific-host-matches-listener-wildcard-host', gw, ['non.matching.com', 'wildcard.io', 'foo.wildcard.io', 'bar.wildcard.io', 'foo.bar.wildcard.io'], onPrefix('/s2', 'v2')) +
    route('wildcard-host-matches-listener-specific-host', gw, ['non.matching.com', '*.specific.com'], onPrefix('/s3', 'v3')) +
    route('wildcard-host-matches-listener-wildcard-host', gw, ['*.anotherwildcard.io'], onPrefix('/s4', 'v1')) +
    route('no-intersecting-hosts', gw, ['specific.but.wrong.com', 'wildcard.io'], onPrefix('/s5', 'v2')) +
    route(`${gw}-all`, `${gw}-all`, ['first.com', 'sub.first.com', 'second.com', 'sub.second.com'], `  - backendRefs:\n${ref('v2')}`),
  );
  t.like(routeConditions(translation, 'no-intersecting-hosts'), { Accepted: { status: 'False', reason: 'NoMatchingListenerHostname' } });
  for (const name of ['specific-host-matches-listener-specific-host', 'specific-host-matches-listener-wildcard-host', 'wildcard-host-matches-listener-specific-host', 'wildcard-host-matches-listener-wildcard-host', `${gw}-all`])
    t.like(routeConditions(translation, name), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } }, name);
  const cases: Array<[p: number, host: string, path: string, want: string | 404]> = [
    [port, 'very.specific.com', '/s1', 'v1'],
    [port, 'very.specific.com:1234', '/s1', 'v1'],
    [port, 'non.matching.com', '/s1', 404],
    [port, 'foo.nonmatchingwildcard.io', '/s1', 404],
    [port, 'foo.wildcard.io', '/s1', 404],
    [port, 'very.specific.com', '/non-matching-prefix', 404],
    [port, 'foo.wildcard.io', '/s2', 'v2'],
    [port, 'bar.wildcard.io', '/s2', 'v2'],
    [port, 'foo.bar.wildcard.io', '/s2', 'v2'],
    [port, 'non.matching.com', '/s2', 404],
    [port, 'wildcard.io', '/s2', 404],
    [port, 'very.specific.com', '/s2', 404],
    [port, 'foo.wildcard.io', '/non-matching-prefix', 404],
    [port, 'very.specific.com', '/s3', 'v3'],
    [port, 'non.matching.com', '/s3', 404],
    [port, 'foo.specific.com', '/s3', 404],
    [port, 'foo.wildcard.io', '/s3', 404],
    [port, 'foo.anotherwildcard.io', '/s4', 'v1'],
    [port, 'bar.anotherwildcard.io', '/s4', 'v1'],
    [port, 'foo.bar.anotherwildcard.io', '/s4', 'v1'],
    [port, 'anotherwildcard.io', '/s4', 404],
    [port, 'foo.wildcard.io', '/s4', 404],
    [port, 'very.specific.com', '/s4', 404],
    [port, 'foo.anotherwildcard.io', '/non-matching-prefix', 404],
    [port, 'specific.but.wrong.com', '/s5', 404],
    [port, 'wildcard.io', '/s5', 404],
    [port2, 'first.com', '/', 'v2'],
    [port2, 'sub.first.com', '/', 'v2'],
    [port2, 'second.com', '/', 'v2'],
    [port2, 'sub.second.com', '/', 'v2'],
    [port2, 'third.com', '/', 404],
    [port2, 'sub.third.com', '/', 404],
  ];
  for (const [p, host, path, want] of cases) {
    const r = await request(p, { host, path });
    t.deepEqual(served(r), want === 404 ? [404, ''] : [200, want], `${host}${path}`);
  }
  await assertHealthy(t, mesh);
});

test.serial('HTTPRouteListenerPortMatching, HTTPRouteInvalidParentRefNotMatchingListenerPort, HTTPRouteInvalidParentRefSectionNameNotMatchingPort: parentRef ports select listeners; a port no listener has, or one its sectionName does not have, is NoMatchingParent', async (t) => {
  // The suite's listeners are on 80, 8080 and 8090; here on three free ports of 127.0.0.1.
  const [port2, port3] = [await freePort(), await freePort()];
  const route = (name: string, parentRef: string, backend: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: default
spec:
  parentRefs:
  - name: ${parentRef}
  rules:
  - backendRefs:
${ref(backend)}
`;
  const { mesh, port, translation } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayClassYaml() +
    namedGatewayYaml('httproute-listener-port-matching', [
      { name: 'listener-1', port: p, hostname: 'foo.com' },
      { name: 'listener-2', port: port2, hostname: 'foo.com' },
      { name: 'listener-3', port: port2, hostname: 'bar.com' },
      { name: 'listener-4', port: port3, hostname: 'foo.com' },
      { name: 'listener-5', port: port3, hostname: 'bar.com' },
    ]) +
    bs.map((b) => backendYaml(b)).join('') +
    route('backend-v1', `httproute-listener-port-matching\n    port: ${p}`, 'v1') +
    route('backend-v2', `httproute-listener-port-matching\n    port: ${port2}`, 'v2') +
    route('backend-v3', `httproute-listener-port-matching\n    port: ${port3}\n    sectionName: listener-4`, 'v3') +
    route('listener-not-matching-route-port', `httproute-listener-port-matching\n    port: 81`, 'v1') +
    route('section-name-not-matching-port', `httproute-listener-port-matching\n    sectionName: listener-1\n    port: ${port2}`, 'v1'),
  );
  for (const name of ['backend-v1', 'backend-v2', 'backend-v3']) t.like(routeConditions(translation, name), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } }, name);
  for (const name of ['listener-not-matching-route-port', 'section-name-not-matching-port']) {
    t.like(routeConditions(translation, name), { Accepted: { status: 'False', reason: 'NoMatchingParent' }, ResolvedRefs: { status: 'True' } }, name);
  }
  const listeners = (statusOf(translation, 'Gateway', 'httproute-listener-port-matching') as { listeners: Array<{ name: string; attachedRoutes: number }> }).listeners;
  t.deepEqual(
    listeners.map((l) => [l.name, l.attachedRoutes]),
    [['listener-1', 1], ['listener-2', 1], ['listener-3', 1], ['listener-4', 1], ['listener-5', 0]],
    'a route naming a port attaches to every listener on it, unless its sectionName narrows that',
  );
  t.deepEqual(served(await request(port, { host: 'foo.com' })), [200, 'v1']);
  const withPort = await request(port2, { host: `foo.com:${port2}` });
  t.deepEqual(served(withPort), [200, 'v2']);
  t.is(withPort.echo?.host, `foo.com:${port2}`, 'the backend sees Host as the client sent it, port included');
  t.deepEqual(served(await request(port2, { host: `bar.com:${port2}` })), [200, 'v2']);
  t.deepEqual(served(await request(port3, { host: `foo.com:${port3}` })), [200, 'v3']);
  t.is((await request(port3, { host: `bar.com:${port3}` })).status, 404);
  await assertHealthy(t, mesh);
});
