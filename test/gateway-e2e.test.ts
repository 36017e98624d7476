// Gateway API core HTTP behaviour end to end: manifests → translateYaml → a real Envoy → echo backends.
// One scenario per GATEWAY-HTTP core behaviour; every test ends with no NACK and nothing warming.
import test from 'ava';
import type { EchoBackend } from './helpers/echo-backend.js';
import {
  applyYaml,
  assertHealthy,
  backendYaml,
  distribution,
  gatewayFixture,
  gatewayYaml,
  headerValues,
  request,
  routeConditions,
  routeYaml,
  startSlowBackend,
  type GatewayReply,
} from './helpers/gateway.js';

const backendsYaml = (bs: Array<{ name: string; port: number }>): string => bs.map((b) => backendYaml(b)).join('');
/**
 * The conformance suite's weight check: 500 requests, every share within ±5 percentage points of its
 * weight. A statistical bound, so (like the suite) up to 3 samples are taken and one must hold.
 */
async function sampleShares(
  port: number,
  opts: Parameters<typeof request>[1],
  want: Record<string, number>,
  classify: (r: GatewayReply) => string,
): Promise<{ samples: Array<Record<string, number>>; within: boolean }> {
  const n = 500;
  const samples: Array<Record<string, number>> = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const counts = await distribution(port, n, opts, classify);
    samples.push(counts);
    if (Object.entries(want).every(([k, share]) => Math.abs(((counts[k] ?? 0) * 100) / n - share) <= 5)) return { samples, within: true };
  }
  return { samples, within: false };
}

const ref = (name: string, extra = ''): string => `    - name: ${name}\n      port: 8080${extra}`;

test.serial('path matching: PathPrefix whole segments, Exact, trailing-slash prefix, RegularExpression; unmatched → 404', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['prefix', 'exact', 'slash', 'regex', 'bigregex'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'paths',
      `  - matches:
    - path: { type: PathPrefix, value: /v2 }
    backendRefs:
${ref('prefix')}
  - matches:
    - path: { type: Exact, value: /exact }
    backendRefs:
${ref('exact')}
  - matches:
    - path: { type: PathPrefix, value: /dir/ }
    backendRefs:
${ref('slash')}
  - matches:
    - path: { type: RegularExpression, value: "/re/[0-9]+" }
    backendRefs:
${ref('regex')}
  - matches:
    - path: { type: RegularExpression, value: "/big/[0-9]{1,200}" }
    backendRefs:
${ref('bigregex')}`,
    ),
  );
  const cases: Array<[string, string | 404]> = [
    ['/v2', 'prefix'],
    ['/v2/', 'prefix'],
    ['/v2/x', 'prefix'],
    ['/v2?q=1', 'prefix'],
    ['/v2example', 404],
    ['/exact', 'exact'],
    ['/exact/', 404],
    ['/exact/x', 404],
    ['/exactly', 404],
    ['/dir', 'slash'],
    ['/dir/', 'slash'],
    ['/dir/x', 'slash'],
    ['/directory', 404],
    ['/re/123', 'regex'],
    ['/re/abc', 404],
    ['/re/123/x', 404],
    // An RE2 program of 405 instructions: over Envoy's default limit for routes (100), which would NACK the table.
    ['/big/12345', 'bigregex'],
    ['/big/x', 404],
    ['/nothing', 404],
  ];
  for (const [path, want] of cases) {
    const r = await request(port, { path });
    if (want === 404) t.is(r.status, 404, `${path} → 404`);
    else t.deepEqual([r.status, r.backend], [200, want], `${path} → ${want}`);
  }
  await assertHealthy(t, mesh);
});

test.serial('header, query parameter and method matches', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['hdr', 'hdrre', 'query', 'post', 'fallback'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'matches',
      `  - matches:
    - headers: [{ name: version, value: two }]
    backendRefs:
${ref('hdr')}
  - matches:
    - headers: [{ name: version, type: RegularExpression, value: "v[0-9]+" }]
    backendRefs:
${ref('hdrre')}
  - matches:
    - queryParams: [{ name: animal, value: whale }]
    backendRefs:
${ref('query')}
  - matches:
    - method: POST
    backendRefs:
${ref('post')}
  - backendRefs:
${ref('fallback')}`,
    ),
  );
  const cases: Array<[Parameters<typeof request>[1], string]> = [
    [{ headers: { version: 'two' } }, 'hdr'],
    [{ headers: { Version: 'two' } }, 'hdr'],
    [{ headers: { version: 'Two' } }, 'fallback'],
    [{ headers: { version: 'v12' } }, 'hdrre'],
    [{ headers: { version: 'v12x' } }, 'fallback'],
    [{ path: '/?animal=whale' }, 'query'],
    [{ path: '/?animal=dolphin' }, 'fallback'],
    [{ path: '/?animal=whale&x=1' }, 'query'],
    [{ method: 'POST' }, 'post'],
    [{ method: 'GET' }, 'fallback'],
  ];
  for (const [opts, want] of cases) {
    const r = await request(port, opts);
    t.deepEqual([r.status, r.backend], [200, want], JSON.stringify(opts));
  }
  await assertHealthy(t, mesh);
});

test.serial('precedence across rules and routes: exact beats prefix, longest prefix, method, header count', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['exact', 'long', 'short', 'method', 'twohdr', 'onehdr'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    // Rules split over routes, and listed least specific first, so that only precedence can order them.
    routeYaml(
      'general',
      `  - matches:
    - path: { type: PathPrefix, value: / }
    backendRefs:
${ref('short')}
  - matches:
    - path: { type: PathPrefix, value: /hdr }
      headers: [{ name: a, value: "1" }]
    backendRefs:
${ref('onehdr')}
  - matches:
    - path: { type: PathPrefix, value: /m }
    backendRefs:
${ref('short')}`,
    ) +
    routeYaml(
      'specific',
      `  - matches:
    - path: { type: PathPrefix, value: /a/b }
    backendRefs:
${ref('long')}
  - matches:
    - path: { type: Exact, value: /a/b/c }
    backendRefs:
${ref('exact')}
  - matches:
    - path: { type: PathPrefix, value: /m }
      method: PUT
    backendRefs:
${ref('method')}
  - matches:
    - path: { type: PathPrefix, value: /hdr }
      headers: [{ name: a, value: "1" }, { name: b, value: "2" }]
    backendRefs:
${ref('twohdr')}`,
    ),
  );
  const cases: Array<[Parameters<typeof request>[1], string]> = [
    [{ path: '/a/b/c' }, 'exact'],
    [{ path: '/a/b/c/d' }, 'long'],
    [{ path: '/a/b' }, 'long'],
    [{ path: '/a' }, 'short'],
    [{ path: '/m', method: 'PUT' }, 'method'],
    [{ path: '/m' }, 'short'],
    [{ path: '/hdr', headers: { a: '1', b: '2' } }, 'twohdr'],
    [{ path: '/hdr', headers: { a: '1' } }, 'onehdr'],
    [{ path: '/hdr' }, 'short'],
  ];
  for (const [opts, want] of cases) {
    const r = await request(port, opts);
    t.deepEqual([r.status, r.backend], [200, want], JSON.stringify(opts));
  }
  await assertHealthy(t, mesh);
});

test.serial('hostnames: listener and route hostnames intersect; wildcard covers several labels; unmatched host → 404', async (t) => {
  const { mesh, port, translation } = await gatewayFixture(t, ['exact', 'wild', 'deep', 'any'], (bs, p) =>
    gatewayYaml(p, [
      { name: 'wild', hostname: '*.example.com' },
      { name: 'exact', hostname: 'exact.example.org' },
    ]) +
    backendsYaml(bs) +
    routeYaml('deep', `  - backendRefs:\n${ref('deep')}`, { hostnames: ['a.b.example.com'] }) +
    routeYaml('wild', `  - backendRefs:\n${ref('wild')}`, { hostnames: ['*.example.com'] }) +
    routeYaml('exact', `  - backendRefs:\n${ref('exact')}`, { hostnames: ['exact.example.org', 'other.example.net'] }) +
    routeYaml('nomatch', `  - backendRefs:\n${ref('any')}`, { hostnames: ['example.com', 'nothing.example.net'] }),
  );
  t.like(routeConditions(translation, 'nomatch'), { Accepted: { status: 'False', reason: 'NoMatchingListenerHostname' } });
  t.like(routeConditions(translation, 'deep'), { Accepted: { status: 'True', reason: 'Accepted' } });
  const cases: Array<[string, string | 404]> = [
    ['a.b.example.com', 'deep'],
    ['x.example.com', 'wild'],
    ['x.y.z.example.com', 'wild'],
    ['exact.example.org', 'exact'],
    ['exact.example.org:80', 'exact'],
    ['EXACT.example.org', 'exact'],
    ['other.example.net', 404],
    ['example.com', 404],
    ['unknown.test', 404],
  ];
  for (const [host, want] of cases) {
    const r = await request(port, { host, path: '/' });
    if (want === 404) t.is(r.status, 404, `${host} → 404`);
    else t.deepEqual([r.status, r.backend], [200, want], `${host} → ${want}`);
  }
  await assertHealthy(t, mesh);
});

test.serial('listener hostnames on one port: each request goes to the routes of its most specific listener', async (t) => {
  // As the conformance suite's HTTPRouteListenerHostnameMatching: routes without hostnames, one per listener.
  const onListener = (name: string, section: string): string =>
    routeYaml(name, `  - backendRefs:\n${ref(name)}`).replace('    namespace: default\n', `    namespace: default\n    sectionName: ${section}\n`);
  const { mesh, port, translation } = await gatewayFixture(t, ['v1', 'v2', 'v3'], (bs, p) =>
    gatewayYaml(p, [
      { name: 'l1', hostname: 'bar.com' },
      { name: 'l2', hostname: 'foo.bar.com' },
      { name: 'l3', hostname: '*.bar.com' },
      { name: 'l4', hostname: '*.foo.com' },
    ]) +
    backendsYaml(bs) +
    onListener('v1', 'l1') +
    onListener('v2', 'l2') +
    routeYaml('v3', `  - backendRefs:\n${ref('v3')}`).replace('    namespace: default\n', '    namespace: default\n    sectionName: l3\n  - name: gw\n    namespace: default\n    sectionName: l4\n'),
  );
  for (const name of ['v1', 'v2', 'v3']) t.like(routeConditions(translation, name), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  const cases: Array<[string, string | 404]> = [
    ['bar.com', 'v1'],
    ['foo.bar.com', 'v2'],
    ['abc.bar.com', 'v3'],
    ['def.bar.com', 'v3'],
    ['abc.foo.com', 'v3'],
    ['foo.com', 404],
    ['no.matching.host', 404],
  ];
  const actual: typeof cases = [];
  for (const [host] of cases) {
    const r = await request(port, { host, path: '/' });
    actual.push([host, r.status === 404 ? 404 : r.status === 200 ? r.backend : `status ${r.status}`]);
  }
  t.deepEqual(actual, cases);
  await assertHealthy(t, mesh);
});

test.serial('routes without hostnames still serve hosts that other routes name; unmatched path → 404', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['named', 'wild', 'any'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml('named', `  - matches:\n    - path: { type: PathPrefix, value: /named }\n    backendRefs:\n${ref('named')}`, { hostnames: ['foo.example.com'] }) +
    routeYaml('wild', `  - matches:\n    - path: { type: PathPrefix, value: /wild }\n    backendRefs:\n${ref('wild')}`, { hostnames: ['*.example.com'] }) +
    routeYaml('any', `  - matches:\n    - path: { type: PathPrefix, value: /any }\n    backendRefs:\n${ref('any')}`),
  );
  const cases: Array<[string, string, string | 404]> = [
    ['foo.example.com', '/named', 'named'],
    ['foo.example.com', '/wild', 'wild'],
    ['foo.example.com', '/any', 'any'],
    ['bar.example.com', '/named', 404],
    ['bar.example.com', '/wild', 'wild'],
    ['bar.example.com', '/any', 'any'],
    ['other.test', '/any', 'any'],
    ['other.test', '/wild', 404],
    ['foo.example.com', '/none', 404],
  ];
  const actual: typeof cases = [];
  for (const [host, path] of cases) {
    const r = await request(port, { host, path });
    actual.push([host, path, r.status === 404 ? 404 : r.status === 200 ? r.backend : `status ${r.status}`]);
  }
  t.deepEqual(actual, cases);
  await assertHealthy(t, mesh);
});

test.serial('weights: 70/20/10 within ±5 points over 500 requests; weight 0 gets nothing', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['w70', 'w20', 'w10', 'w0'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml('weights', `  - backendRefs:\n${ref('w70', '\n      weight: 70')}\n${ref('w20', '\n      weight: 20')}\n${ref('w10', '\n      weight: 10')}\n${ref('w0', '\n      weight: 0')}`),
  );
  const want = { w70: 70, w20: 20, w10: 10 };
  const { samples, within } = await sampleShares(port, {}, want, (r) => r.backend);
  t.log(samples.map((x) => JSON.stringify(x)).join('\n'));
  t.true(within, 'one sample of 500 has every share within ±5 points');
  t.true(
    samples.every((x) => (x.w0 ?? 0) === 0),
    'weight 0 gets nothing',
  );
  t.true(
    samples.every((x) => Object.keys(x).every((k) => k in want || k === 'w0')),
    'only 200s from the weighted backends',
  );
  await assertHealthy(t, mesh);
});

for (const protocol of ['delta', 'sotw'] as const) test.serial(`${protocol}: invalid backendRefs: a missing Service → 500 and BackendNotFound; a partly invalid split sends its share to 500`, async (t) => {
  const { mesh, port, translation } = await gatewayFixture(t, ['valid'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml('missing', `  - matches:\n    - path: { type: PathPrefix, value: /missing }\n    backendRefs:\n${ref('does-not-exist')}`) +
    routeYaml('split', `  - matches:\n    - path: { type: PathPrefix, value: /split }\n    backendRefs:\n${ref('valid', '\n      weight: 1')}\n${ref('also-missing', '\n      weight: 1')}`),
  protocol,
  );
  t.like(routeConditions(translation, 'missing'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'False', reason: 'BackendNotFound' } });
  t.like(routeConditions(translation, 'split'), { ResolvedRefs: { status: 'False', reason: 'BackendNotFound' } });
  for (let i = 0; i < 5; i++) t.is((await request(port, { path: '/missing' })).status, 500);
  const { samples, within } = await sampleShares(port, { path: '/split' }, { valid: 50, '500': 50 }, (r) =>
    r.status === 200 && r.backend === 'valid' ? 'valid' : r.status === 500 && !r.backend ? '500' : `other ${r.status} ${r.backend}`,
  );
  t.log(samples.map((x) => JSON.stringify(x)).join('\n'));
  t.true(within, 'one sample of 500 has 200s (valid backend) and 500s each within 50 ±5 points');
  t.true(
    samples.every((x) => Object.keys(x).every((k) => k === 'valid' || k === '500')),
    'only 200s from the valid backend and 500s',
  );
  await assertHealthy(t, mesh);
});

test.serial('route precedence ties: the oldest route wins, then namespace/name; rule order within a route; matches are ORed', async (t) => {
  const same = (backend: string): string => `  - matches:\n    - path: { type: PathPrefix, value: /tie }\n    backendRefs:\n${ref(backend)}`;
  const { mesh, port } = await gatewayFixture(t, ['older', 'newer', 'alpha', 'beta', 'first', 'second', 'either'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml('newer', same('newer'), { creationTimestamp: '2025-01-02T00:00:00Z', hostnames: ['time.test'] }) +
    routeYaml('older', same('older'), { creationTimestamp: '2025-01-01T00:00:00Z', hostnames: ['time.test'] }) +
    routeYaml('beta', same('beta'), { creationTimestamp: '2025-01-01T00:00:00Z', hostnames: ['name.test'] }) +
    routeYaml('alpha', same('alpha'), { creationTimestamp: '2025-01-01T00:00:00Z', hostnames: ['name.test'] }) +
    routeYaml('rules', `${same('first')}\n${same('second')}`, { hostnames: ['rules.test'] }) +
    routeYaml(
      'or',
      `  - matches:\n    - path: { type: Exact, value: /one }\n    - headers: [{ name: x-two, value: "2" }]\n    backendRefs:\n${ref('either')}`,
      { hostnames: ['or.test'] },
    ),
  );
  const cases: Array<[string, string, Record<string, string>, string | 404]> = [
    ['time.test', '/tie', {}, 'older'],
    ['name.test', '/tie', {}, 'alpha'],
    ['rules.test', '/tie', {}, 'first'],
    ['or.test', '/one', {}, 'either'],
    ['or.test', '/other', { 'x-two': '2' }, 'either'],
    ['or.test', '/other', {}, 404],
  ];
  const actual: typeof cases = [];
  for (const [host, path, headers] of cases) {
    const r = await request(port, { host, path, headers });
    actual.push([host, path, headers, r.status === 404 ? 404 : r.status === 200 ? r.backend : `status ${r.status}`]);
  }
  t.deepEqual(actual, cases);
  await assertHealthy(t, mesh);
});

test.serial('cross-namespace backendRef: 500 and RefNotPermitted without a ReferenceGrant, 200 with one', async (t) => {
  const grant = `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: allow-default-routes
  namespace: other
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    namespace: default
  to:
  - group: ""
    kind: Service
`;
  const manifests = (bs: EchoBackend[], p: number, withGrant: boolean): string =>
    gatewayYaml(p) +
    backendYaml(bs[0], 'other') +
    routeYaml('cross', `  - backendRefs:\n    - name: ${bs[0].name}\n      namespace: other\n      port: 8080`) +
    (withGrant ? grant : '');
  const { mesh, port, backends, translation } = await gatewayFixture(t, ['elsewhere'], (bs, p) => manifests(bs, p, false));
  t.like(routeConditions(translation, 'cross'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'False', reason: 'RefNotPermitted' } });
  const denied = await request(port, { path: '/x' });
  t.is(denied.status, 500);
  t.is(backends[0].requests, 0, 'the backend in the other namespace saw nothing');

  const granted = await applyYaml(t, mesh, manifests(backends, port, true));
  t.like(routeConditions(granted, 'cross'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True', reason: 'ResolvedRefs' } });
  const r = await request(port, { path: '/x' });
  t.deepEqual([r.status, r.backend], [200, 'elsewhere']);
  await assertHealthy(t, mesh);
});

test.serial('header modifiers: request set/add/remove, response set/add/remove, per-backend filters', async (t) => {
  const { mesh, port } = await gatewayFixture(t, ['echo', 'b1'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'headers',
      `  - matches:
    - path: { type: PathPrefix, value: /req }
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: X-Set, value: set-value }]
        add: [{ name: X-Add, value: new }]
        remove: [X-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{ name: X-Backend, value: overwritten }]
        add: [{ name: X-Resp-Add, value: resp-added }]
        remove: [Content-Type]
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /per-backend }
    backendRefs:
    - name: b1
      port: 8080
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier:
          set: [{ name: X-Which, value: b1 }]
      - type: ResponseHeaderModifier
        responseHeaderModifier:
          add: [{ name: X-From, value: b1 }]`,
    ),
  );
  const r = await request(port, { path: '/req', headers: { 'X-Set': 'original', 'X-Add': 'old', 'X-Remove': 'gone', 'X-Keep': 'kept' } });
  t.is(r.status, 200);
  t.deepEqual(headerValues(r.echo, 'x-set'), ['set-value'], 'set overwrites');
  t.deepEqual(headerValues(r.echo, 'x-add'), ['old', 'new'], 'add appends: old,new');
  t.deepEqual(headerValues(r.echo, 'x-remove'), [], 'remove removes');
  t.deepEqual(headerValues(r.echo, 'x-keep'), ['kept']);
  const added = await request(port, { path: '/req' });
  t.deepEqual(headerValues(added.echo, 'x-add'), ['new'], 'add adds when absent');
  t.deepEqual(headerValues(added.echo, 'x-set'), ['set-value'], 'set adds when absent');
  t.is(r.headers['x-backend'], 'overwritten', 'response set');
  t.is(r.headers['x-resp-add'], 'resp-added', 'response add');
  t.is(r.headers['content-type'], undefined, 'response remove');

  const pb = await request(port, { path: '/per-backend' });
  t.deepEqual([pb.status, pb.backend], [200, 'b1']);
  t.deepEqual(headerValues(pb.echo, 'x-which'), ['b1']);
  t.is(pb.headers['x-from'], 'b1');
  await assertHealthy(t, mesh);
});

test.serial('per-backend RequestHeaderModifier on an even split: over 100 requests, the header set for each backend names the one that served (HTTPRouteRequestHeaderModifierBackendWeights)', async (t) => {
  const backendRef = (name: string): string => `    - name: ${name}
      port: 8080
      weight: 10
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier:
          set: [{ name: Backend, value: ${name} }]`;
  const { mesh, port } = await gatewayFixture(t, ['infra-backend-v1', 'infra-backend-v2'], (bs, p) =>
    gatewayYaml(p) + backendsYaml(bs) + routeYaml('request-header-modifier-backend-weights', `  - backendRefs:\n${backendRef('infra-backend-v1')}\n${backendRef('infra-backend-v2')}`),
  );
  const servedBy = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const r = await request(port, { headers: { Backend: 'from-the-client' } });
    t.is(r.status, 200);
    t.deepEqual(headerValues(r.echo, 'backend'), [r.backend], `request ${i}: one Backend header, naming the backend that served`);
    servedBy.set(r.backend, (servedBy.get(r.backend) ?? 0) + 1);
  }
  t.deepEqual([...servedBy.keys()].sort(), ['infra-backend-v1', 'infra-backend-v2'], 'both backends served');
  await assertHealthy(t, mesh);
});

test.serial('RequestRedirect: scheme, hostname, port, ReplaceFullPath, ReplacePrefixMatch, status codes (301, 302, 303 to a POST, 307, 308); Location as the conformance suite expects, without the scheme\'s well-known port', async (t) => {
  const redirect = (path: string, spec: string): string => `  - matches:
    - path: { type: PathPrefix, value: ${path} }
    filters:
    - type: RequestRedirect
      requestRedirect:
${spec}`;
  const { mesh, port } = await gatewayFixture(t, ['unused'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'redirects',
      [
        redirect('/scheme', '        scheme: https'),
        redirect('/scheme-port', '        scheme: https\n        port: 8443'),
        redirect('/scheme-default-port', '        scheme: https\n        port: 443'),
        redirect('/hostname', '        hostname: example.org'),
        redirect('/port', '        port: 8083'),
        redirect('/http-80', '        port: 80'),
        redirect('/status-301', '        hostname: example.org\n        statusCode: 301'),
        redirect('/see-other', '        statusCode: 303'),
        redirect('/temporary', '        statusCode: 307'),
        redirect('/permanent', '        statusCode: 308'),
        redirect('/full', '        path: { type: ReplaceFullPath, replaceFullPath: /replaced }'),
        redirect('/prefix/one', '        path: { type: ReplacePrefixMatch, replacePrefixMatch: /two }'),
        redirect('/strip', '        path: { type: ReplacePrefixMatch, replacePrefixMatch: / }'),
        redirect('/all', '        scheme: https\n        hostname: example.org\n        port: 8443\n        path: { type: ReplaceFullPath, replaceFullPath: /new }\n        statusCode: 301'),
        redirect('/scheme-hostname', '        scheme: https\n        hostname: example.org'),
      ].join('\n'),
      { hostnames: ['example.com'] },
    ) +
    // A wildcard hostname: the host is only known from the request.
    routeYaml('wildcard-redirects', redirect('/scheme', '        scheme: https'), { hostnames: ['*.example.net'] }),
  );
  const cases: Array<[string, number, string]> = [
    // The Host names a port; a redirect to the scheme's well-known port leaves it out (the spec's SHOULD NOT).
    ['/scheme', 302, 'https://example.com/scheme'],
    ['/scheme-port', 302, 'https://example.com:8443/scheme-port'],
    ['/scheme-default-port', 302, 'https://example.com/scheme-default-port'],
    ['/scheme-hostname', 302, 'https://example.org/scheme-hostname'],
    // No scheme, no port: the listener's port stays (Gateway API: the Gateway listener port).
    ['/hostname', 302, `http://example.org:${port}/hostname`],
    ['/port', 302, 'http://example.com:8083/port'],
    ['/http-80', 302, 'http://example.com/http-80'],
    ['/status-301', 301, `http://example.org:${port}/status-301`],
    // Extended: HTTPRoute303/307/308RedirectStatusCode (the suite's HTTPRoute303Redirect sends a POST).
    ['/see-other', 303, `http://example.com:${port}/see-other`],
    ['/temporary', 307, `http://example.com:${port}/temporary`],
    ['/permanent', 308, `http://example.com:${port}/permanent`],
    ['/full/x?q=1', 302, `http://example.com:${port}/replaced?q=1`],
    ['/prefix/one/three', 302, `http://example.com:${port}/two/three`],
    ['/prefix/one', 302, `http://example.com:${port}/two`],
    ['/strip/x', 302, `http://example.com:${port}/x`],
    ['/strip', 302, `http://example.com:${port}/`],
    ['/all/x', 301, 'https://example.org:8443/new'],
  ];
  const actual: Array<[string, number, string | undefined]> = [];
  for (const [path] of cases) {
    const r = await request(port, { path, host: `example.com:${port}`, ...(path === '/see-other' ? { method: 'POST' } : {}) });
    actual.push([path, r.status, r.headers.location]);
  }
  t.deepEqual(actual, cases);
  // A Host without a port: Location carries none for the scheme's default port (the spec's SHOULD).
  const portless: Array<[string, string | undefined]> = [];
  for (const path of ['/scheme', '/http-80', '/scheme-port']) portless.push([path, (await request(port, { path, host: 'example.com' })).headers.location]);
  t.deepEqual(portless, [
    ['/scheme', 'https://example.com/scheme'],
    ['/http-80', 'http://example.com/http-80'],
    ['/scheme-port', 'https://example.com:8443/scheme-port'],
  ]);
  // Under a wildcard hostname the host comes from the request, so a Host with a port gets the well-known port
  // written out (the right port, against the SHOULD NOT: Envoy cannot strip the request's port otherwise).
  t.deepEqual((await request(port, { path: '/scheme', host: `a.example.net:${port}` })).headers.location, 'https://a.example.net:443/scheme');
  t.deepEqual((await request(port, { path: '/scheme', host: 'a.example.net' })).headers.location, 'https://a.example.net/scheme');
  await assertHealthy(t, mesh);
});

test.serial('URLRewrite: hostname, ReplaceFullPath, ReplacePrefixMatch (also to "/")', async (t) => {
  const rewrite = (path: string, spec: string): string => `  - matches:
    - path: { type: PathPrefix, value: ${path} }
    filters:
    - type: URLRewrite
      urlRewrite:
${spec}
    backendRefs:
${ref('echo')}`;
  const { mesh, port } = await gatewayFixture(t, ['echo'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'rewrites',
      [
        rewrite('/host', '        hostname: rewritten.example.org'),
        rewrite('/full', '        path: { type: ReplaceFullPath, replaceFullPath: /one }'),
        rewrite('/prefix/one', '        path: { type: ReplacePrefixMatch, replacePrefixMatch: /two }'),
        rewrite('/strip', '        path: { type: ReplacePrefixMatch, replacePrefixMatch: / }'),
        rewrite('/both', '        hostname: both.example.org\n        path: { type: ReplacePrefixMatch, replacePrefixMatch: /b }'),
      ].join('\n'),
    ),
  );
  const host = await request(port, { path: '/host/x' });
  t.is(host.echo?.host, 'rewritten.example.org');
  t.is(host.echo?.path, '/host/x');
  const cases: Array<[string, string]> = [
    ['/full', '/one'],
    ['/full/x/y', '/one'],
    ['/full/x?q=1', '/one?q=1'],
    ['/prefix/one', '/two'],
    ['/prefix/one/', '/two/'],
    ['/prefix/one/three', '/two/three'],
    ['/prefix/one/three?q=1', '/two/three?q=1'],
    ['/strip', '/'],
    ['/strip/', '/'],
    ['/strip/one', '/one'],
    ['/strip/one/two', '/one/two'],
    ['/both/x', '/b/x'],
  ];
  for (const [path, want] of cases) {
    const r = await request(port, { path });
    t.deepEqual([r.status, r.echo?.path], [200, want], path);
  }
  t.is((await request(port, { path: '/both/x' })).echo?.host, 'both.example.org');
  await assertHealthy(t, mesh);
});

test.serial('timeouts: a backend slower than timeouts.request or timeouts.backendRequest → 504; a faster one → 200', async (t) => {
  const slow = await startSlowBackend(t, 'slow', 5_000);
  const { mesh, port } = await gatewayFixture(t, ['fast'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml([...bs, slow]) +
    routeYaml(
      'timeouts',
      `  - matches:\n    - path: { type: PathPrefix, value: /slow }\n    timeouts:\n      request: 500ms\n    backendRefs:\n${ref('slow')}
  - matches:\n    - path: { type: PathPrefix, value: /backend-slow }\n    timeouts:\n      request: 10s\n      backendRequest: 500ms\n    backendRefs:\n${ref('slow')}
  - matches:\n    - path: { type: PathPrefix, value: /fast }\n    timeouts:\n      request: 10s\n    backendRefs:\n${ref('fast')}`,
    ),
  );
  const r = await request(port, { path: '/slow' });
  t.is(r.status, 504);
  t.is((await request(port, { path: '/backend-slow' })).status, 504, 'backendRequest timeout');
  const f = await request(port, { path: '/fast' });
  t.deepEqual([f.status, f.backend], [200, 'fast']);
  await assertHealthy(t, mesh);
});
