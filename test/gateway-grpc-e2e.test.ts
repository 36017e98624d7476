// GRPCRoute end to end: manifests → translateYaml → a real Envoy → gRPC echo backends (grpc-js, h2c) on
// 127.0.0.1, called by a grpc-js client through the Gateway's listener. Every test ends with no NACK and
// nothing warming.
import type { ExecutionContext } from 'ava';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Translation } from '../src/standalone/pipeline.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { assertHealthy, backendYaml, gatewayYaml, request, routeConditions, routeYaml, translate } from './helpers/gateway.js';
import { ECHO_SERVICE, GrpcEchoClient, startGrpcEchoBackend, type CallResult, type GrpcEchoBackend } from './helpers/grpc-echo.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';

/** A GRPCRoute attached to gateway `gw`. `rules` is the YAML of the rules list, indented by 2. */
function grpcRouteYaml(name: string, rules: string, opts: { hostnames?: string[]; creationTimestamp?: string } = {}): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: ${name}
  namespace: default${opts.creationTimestamp ? `\n  creationTimestamp: "${opts.creationTimestamp}"` : ''}
spec:
  parentRefs:
  - name: gw
    namespace: default${opts.hostnames ? `\n  hostnames: [${opts.hostnames.map((h) => `"${h}"`).join(', ')}]` : ''}
  rules:
${rules}
`;
}

const ref = (name: string, extra = ''): string => `    - name: ${name}\n      port: 8080${extra}`;

interface Fixture {
  mesh: Mesh;
  backends: GrpcEchoBackend[];
  port: number;
  translation: Translation;
  /** A client with this :authority, closed with the test. */
  client(authority?: string): GrpcEchoClient;
}

/**
 * gRPC echo backends (and HTTP echo backends named `httpNames`), a real Envoy serving
 * `manifests(backends, port)`, and clients; all torn down with the test.
 */
async function grpcFixture(t: ExecutionContext, names: string[], manifests: (backends: GrpcEchoBackend[], port: number) => string, httpNames: string[] = []): Promise<Fixture> {
  const backends = await Promise.all(names.map((n) => startGrpcEchoBackend(n)));
  const httpBackends = await Promise.all(httpNames.map((n) => startEchoBackend(n)));
  const port = await freePort();
  const mesh = new Mesh({ protocol: 'delta' });
  const clients: GrpcEchoClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await mesh.stop();
    await Promise.all([...backends, ...httpBackends].map((b) => b.close()));
  });
  const services = [...backends, ...httpBackends].map((b) => backendYaml(b)).join('');
  const translation = translate(t, gatewayYaml(port) + services + manifests(backends, port));
  await mesh.start(translation.resources);
  await mesh.converged();
  await eventually(async () => (await request(port, { path: '/__weft_probe__' })).status > 0, 15_000, 'the Gateway listener to answer');
  return {
    mesh,
    port,
    translation,
    backends,
    client(authority = 'grpc.example.com') {
      const c = new GrpcEchoClient(port, authority);
      clients.push(c);
      return c;
    },
  };
}

function grpcRouteConditions(tr: Translation, name: string): Record<string, { status: string; reason: string }> {
  const s = tr.statuses.find((x) => x.kind === 'GRPCRoute' && x.name === name);
  if (!s) throw new Error(`no status for GRPCRoute ${name}`);
  const parents = (s.status.parents ?? []) as Array<{ conditions: Array<{ type: string; status: string; reason: string }> }>;
  return Object.fromEntries((parents[0]?.conditions ?? []).map((c) => [c.type, { status: c.status, reason: c.reason }]));
}

const header = (r: CallResult, name: string): string | undefined => r.response?.headers.find((h) => h.key === name)?.value;

/** What answered a call: the backend's name, or the gRPC status name when no backend did. */
const outcome = (r: CallResult): string => r.response?.backend ?? grpc.status[r.code];

test.serial('exact service/method matching, hostnames, header filters; unmatched method and host → UNIMPLEMENTED', async (t) => {
  const f = await grpcFixture(t, ['v1', 'v2', 'other'], () =>
    grpcRouteYaml(
      'exact',
      `  - matches:
    - method: { service: ${ECHO_SERVICE}, method: Echo }
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: x-set, value: one }]
        add: [{ name: x-add, value: two }]
        remove: [x-remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add: [{ name: x-response, value: three }]
    backendRefs:
${ref('v1')}
  - matches:
    - method: { service: ${ECHO_SERVICE}, method: EchoTwo }
    backendRefs:
${ref('v2')}`,
      { hostnames: ['grpc.example.com'] },
    ) +
    grpcRouteYaml(
      'other-host',
      `  - backendRefs:
${ref('other')}`,
      { hostnames: ['other.example.com'] },
    ),
  );
  t.deepEqual(grpcRouteConditions(f.translation, 'exact'), { Accepted: { status: 'True', reason: 'Accepted' }, ResolvedRefs: { status: 'True', reason: 'ResolvedRefs' } });
  const c = f.client('grpc.example.com');

  const echo = await c.call('Echo', { 'x-add': 'zero', 'x-remove': 'gone', 'x-set': 'old' });
  t.is(echo.code, grpc.status.OK);
  t.is(echo.response?.backend, 'v1');
  t.is(echo.response?.method, `/${ECHO_SERVICE}/Echo`);
  t.is(echo.response?.authority, 'grpc.example.com');
  t.is(header(echo, 'x-set'), 'one', 'RequestHeaderModifier set overwrites');
  // grpc-js joins the values of a repeated key with ", ".
  t.deepEqual(header(echo, 'x-add')?.split(',').map((v) => v.trim()), ['zero', 'two'], 'RequestHeaderModifier add appends');
  t.is(header(echo, 'x-remove'), undefined, 'RequestHeaderModifier remove');
  t.is(echo.responseHeaders['x-response'], 'three', 'ResponseHeaderModifier add');

  t.deepEqual([(await c.call('EchoTwo')).response?.backend, (await c.call('EchoTwo')).code], ['v2', grpc.status.OK]);
  // Envoy's 404 for a request no route matches reaches a gRPC client as UNIMPLEMENTED.
  t.is((await c.call('EchoThree')).code, grpc.status.UNIMPLEMENTED, 'a method no rule matches');
  t.is((await c.call('Echo', {}, 'other.Service')).code, grpc.status.UNIMPLEMENTED, 'a service no rule matches');
  t.is((await f.client('nowhere.example.com').call('Echo')).code, grpc.status.UNIMPLEMENTED, 'a host no route serves');
  // A route without matches takes every gRPC request for its hostname.
  const other = f.client('other.example.com');
  t.deepEqual(await Promise.all(['Echo', 'EchoTwo', 'EchoThree'].map(async (m) => outcome(await other.call(m)))), ['other', 'other', 'other']);
  await assertHealthy(t, f.mesh);
});

test.serial('RegularExpression, service-only and method-only matches, by precedence', async (t) => {
  const f = await grpcFixture(t, ['exact', 'regex', 'method-only', 'service-only'], () =>
    grpcRouteYaml(
      'kinds',
      `  - matches:
    - method: { type: RegularExpression, service: "gateway_api_conformance\\\\..*", method: "EchoT.*" }
    backendRefs:
${ref('regex')}
  - matches:
    - method: { service: ${ECHO_SERVICE}, method: Echo }
    backendRefs:
${ref('exact')}
  - matches:
    - method: { method: EchoThree }
    backendRefs:
${ref('method-only')}
  - matches:
    - method: { service: other.Service }
    backendRefs:
${ref('service-only')}`,
    ),
  );
  t.deepEqual(grpcRouteConditions(f.translation, 'kinds').Accepted, { status: 'True', reason: 'Accepted' });
  const c = f.client();
  const cases: Array<[string, string, string]> = [
    [ECHO_SERVICE, 'Echo', 'exact'],
    [ECHO_SERVICE, 'EchoTwo', 'regex'],
    // Exact method characters rank above regex ones.
    [ECHO_SERVICE, 'EchoThree', 'method-only'],
    ['another.Svc', 'EchoThree', 'method-only'],
    ['another.Svc', 'EchoTwo', 'UNIMPLEMENTED'],
    ['other.Service', 'Echo', 'service-only'],
    ['other.Service', 'EchoTwo', 'service-only'],
    ['other.ServiceX', 'Echo', 'UNIMPLEMENTED'],
  ];
  for (const [service, method, want] of cases) {
    const r = await c.call(method, {}, service);
    t.is(outcome(r), want, `/${service}/${method}`);
    if (r.response) t.is(r.response.method, `/${service}/${method}`, 'the backend sees the path as called');
  }
  await assertHealthy(t, f.mesh);
});

test.serial('header matches: Exact, RegularExpression, all headers of a match, service characters before header count, fallback', async (t) => {
  const f = await grpcFixture(t, ['both', 'version', 'tenant', 'fallback'], () =>
    grpcRouteYaml(
      'headers',
      `  - matches:
    - method: { service: ${ECHO_SERVICE} }
      headers: [{ name: version, value: two }, { name: tenant, type: RegularExpression, value: "t-[0-9]+" }]
    backendRefs:
${ref('both')}
  - matches:
    - headers: [{ name: Version, value: two }]
    backendRefs:
${ref('version')}
  - matches:
    - method: { service: ${ECHO_SERVICE} }
      headers: [{ name: tenant, type: RegularExpression, value: "t-[0-9]+" }]
    backendRefs:
${ref('tenant')}
  - backendRefs:
${ref('fallback')}`,
    ),
  );
  const c = f.client();
  const cases: Array<[Record<string, string>, string]> = [
    [{ version: 'two', tenant: 't-42' }, 'both'],
    [{ version: 'two', tenant: 'x-42' }, 'version'],
    [{ version: 'two' }, 'version'],
    [{ version: 'Two' }, 'fallback'],
    [{ tenant: 't-7' }, 'tenant'],
    [{ tenant: 't-7x' }, 'fallback'],
    [{}, 'fallback'],
  ];
  for (const [md, want] of cases) t.is(outcome(await c.call('Echo', md)), want, JSON.stringify(md));
  t.is(outcome(await c.call('Echo', { tenant: 't-7' }, 'other.Service')), 'fallback', 'the tenant rule also needs its service');
  t.is(outcome(await c.call('Echo', { version: 'two', tenant: 't-42' }, 'other.Service')), 'version', 'the two-header rule also needs its service');
  await assertHealthy(t, f.mesh);
});

/** `n` calls of `method` over a few clients (HTTP/2 connections); counts by outcome. */
async function callDistribution(f: Fixture, method: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const clients = Array.from({ length: 4 }, () => f.client());
  let sent = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (sent < n) {
        sent++;
        const key = outcome(await c.call(method));
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

/** Like the conformance suite's weight check: every share within ±5 points; up to 3 samples, one must hold. */
async function sampleShares(f: Fixture, method: string, want: Record<string, number>): Promise<{ samples: Array<Record<string, number>>; within: boolean }> {
  const n = 400;
  const samples: Array<Record<string, number>> = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const counts = await callDistribution(f, method, n);
    samples.push(counts);
    const keys = new Set([...Object.keys(want), ...Object.keys(counts)]);
    if ([...keys].every((k) => Math.abs(((counts[k] ?? 0) * 100) / n - (want[k] ?? 0)) <= 5)) return { samples, within: true };
  }
  return { samples, within: false };
}

test.serial('weighted backends within ±5 points; invalid backends answer UNAVAILABLE, all or their share', async (t) => {
  const f = await grpcFixture(t, ['one', 'two', 'zero'], () =>
    grpcRouteYaml(
      'weights',
      `  - matches:
    - method: { service: ${ECHO_SERVICE}, method: Echo }
    backendRefs:
${ref('one', '\n      weight: 3')}
${ref('two', '\n      weight: 1')}
${ref('zero', '\n      weight: 0')}
  - matches:
    - method: { service: ${ECHO_SERVICE}, method: EchoTwo }
    backendRefs:
${ref('one')}
${ref('missing')}
  - matches:
    - method: { service: ${ECHO_SERVICE}, method: EchoThree }
    backendRefs:
${ref('missing')}`,
    ),
  );
  t.deepEqual(grpcRouteConditions(f.translation, 'weights'), { Accepted: { status: 'True', reason: 'Accepted' }, ResolvedRefs: { status: 'False', reason: 'BackendNotFound' } });

  const split = await sampleShares(f, 'Echo', { one: 75, two: 25 });
  t.true(split.within, `3:1 split within ±5 points: ${JSON.stringify(split.samples)}`);
  t.false(split.samples.some((s) => 'zero' in s), 'a weight 0 backend gets nothing');

  const c = f.client();
  t.is((await c.call('EchoThree')).code, grpc.status.UNAVAILABLE, 'a rule whose only backend is invalid answers UNAVAILABLE');
  const half = await sampleShares(f, 'EchoTwo', { one: 50, UNAVAILABLE: 50 });
  t.true(half.within, `an invalid backend's share answers UNAVAILABLE: ${JSON.stringify(half.samples)}`);
  await assertHealthy(t, f.mesh);
});

test.serial('GRPCRoute and HTTPRoute share a listener on distinct hostnames; on an intersecting hostname the older route wins', async (t) => {
  const f = await grpcFixture(
    t,
    ['grpc', 'late'],
    () =>
      routeYaml('web', `  - backendRefs:\n${ref('web')}`, { hostnames: ['web.example.com'], creationTimestamp: '2024-01-01T00:00:00Z' }) +
      grpcRouteYaml('grpc', `  - backendRefs:\n${ref('grpc')}`, { hostnames: ['grpc.example.com'], creationTimestamp: '2024-01-01T00:00:00Z' }) +
      grpcRouteYaml('late', `  - backendRefs:\n${ref('late')}`, { hostnames: ['web.example.com'], creationTimestamp: '2024-02-01T00:00:00Z' }),
    ['web'],
  );
  t.deepEqual(routeConditions(f.translation, 'web').Accepted, { status: 'True', reason: 'Accepted' });
  t.deepEqual(grpcRouteConditions(f.translation, 'grpc').Accepted, { status: 'True', reason: 'Accepted' });
  t.deepEqual(grpcRouteConditions(f.translation, 'late').Accepted, { status: 'False', reason: 'HostnameConflict' });
  const listener = (f.translation.statuses.find((s) => s.kind === 'Gateway')?.status.listeners as Array<{ attachedRoutes: number }>)[0];
  t.is(listener.attachedRoutes, 2, 'the rejected route is not counted');

  const web = await request(f.port, { host: 'web.example.com' });
  t.deepEqual([web.status, web.backend], [200, 'web'], 'HTTP on the HTTPRoute hostname');
  t.is(outcome(await f.client('grpc.example.com').call('Echo')), 'grpc', 'gRPC on the GRPCRoute hostname');
  // The rejected GRPCRoute serves nothing: gRPC on its hostname reaches the HTTPRoute's HTTP/1 backend.
  const rejected = await f.client('web.example.com').call('Echo');
  t.not(rejected.code, grpc.status.OK);
  t.is(f.backends.find((b) => b.name === 'late')?.calls, 0, 'the rejected route got no call');
  await assertHealthy(t, f.mesh);
});

test.serial('RequestMirror: every call also reaches the mirror backend (over h2c); the client gets the main backend reply', async (t) => {
  const f = await grpcFixture(t, ['main', 'mirror'], () =>
    grpcRouteYaml(
      'mirrored',
      `  - filters:
    - type: RequestMirror
      requestMirror:
        backendRef: { name: mirror, port: 8080 }
    backendRefs:
${ref('main')}`,
    ),
  );
  t.deepEqual(grpcRouteConditions(f.translation, 'mirrored'), { Accepted: { status: 'True', reason: 'Accepted' }, ResolvedRefs: { status: 'True', reason: 'ResolvedRefs' } });
  const c = f.client();
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push(outcome(await c.call('Echo')));
  t.deepEqual(outcomes, ['main', 'main', 'main', 'main', 'main']);
  const mirror = f.backends.find((b) => b.name === 'mirror')!;
  // Mirrored requests are sent alongside, not before the reply: wait for them to arrive.
  await eventually(() => mirror.calls >= 5, 15_000, 'the mirror backend to get 5 calls');
  t.is(mirror.calls, 5);
  await assertHealthy(t, f.mesh);
});
