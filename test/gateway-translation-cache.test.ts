// The translation cache `weft run` keeps across reloads must never change what comes out: after every
// kind of edit, a cached translation equals a translation from scratch (statuses, IR, and every resource's
// bytes, version and references). And a RouteConfiguration assembled from separately encoded routes must
// be the exact bytes protobufjs gives for the whole message.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../envoy/binary.js';
import { asManifests, inputDocs, INPUT_SIZES } from '../bench/gateway-manifests.js';
import type { Manifest } from '../src/sources/manifests.js';
import { parseManifests } from '../src/sources/manifests.js';
import { translateManifests, TranslationCache, type TranslateOptions, type Translation } from '../src/standalone/pipeline.js';
import { routeConfigurationResource } from '../src/xds/envoy-resources.js';
import { decodeMessage } from '../src/xds/protos.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import type { RouteConfiguration } from '../src/generated/envoy/config/route/v3/RouteConfiguration.js';

const GOLDEN_DIR = path.join(projectRoot(), 'test', 'testdata', 'gateway');

/** Everything a translation hands on, with resource bodies as hex so that a difference shows where. */
function comparable(t: Translation): unknown {
  return {
    problems: t.problems,
    statuses: t.statuses,
    ir: t.ir,
    resources: t.resources.map((r) => ({ typeUrl: r.typeUrl, name: r.name, version: r.version, body: Buffer.from(r.body).toString('hex'), references: r.references })),
  };
}

function mediumManifests(): Manifest[] {
  return asManifests(inputDocs(INPUT_SIZES.find((s) => s.name === 'medium')!));
}

/** The fields the edits below touch, across the kinds they touch. */
interface EditableSpec {
  rules: Array<{ matches: Array<{ path: { type: string; value: string } }>; backendRefs: Array<{ weight?: number }> }>;
  hostnames?: string[];
  ports: Array<{ appProtocol?: string }>;
  listeners: Array<{ port: number }>;
}

/** A copy of `manifests` with the i-th replaced by `edit` of a deep copy of it (a file that changed). */
function edited(manifests: Manifest[], i: number, edit: (m: Manifest & { spec: EditableSpec }) => void): Manifest[] {
  const copy = manifests.slice();
  const m = structuredClone(manifests[i]) as Manifest & { spec: EditableSpec };
  edit(m);
  copy[i] = m;
  return copy;
}

test('a cached translation equals one from scratch after every kind of edit', (t) => {
  const cache = new TranslationCache();
  let manifests = mediumManifests();
  const check = (what: string): void => {
    const cached = translateManifests(manifests, [], { cache });
    const fresh = translateManifests(manifests);
    t.deepEqual(comparable(cached), comparable(fresh), what);
  };
  check('first translation');
  check('nothing changed');
  const route = manifests.findIndex((m) => m.kind === 'HTTPRoute');
  manifests = edited(manifests, route, (m) => (m.spec.rules[0].matches[0].path.value = '/changed'));
  check('an HTTPRoute path changed');
  manifests = edited(manifests, route, (m) => (m.spec.hostnames = ['only.example.com']));
  check('an HTTPRoute hostname changed');
  const grpc = manifests.findIndex((m) => m.kind === 'GRPCRoute');
  manifests = edited(manifests, grpc, (m) => (m.spec.rules[0].backendRefs[0].weight = 7));
  check('a GRPCRoute weight changed');
  const slice = manifests.findIndex((m) => m.kind === 'EndpointSlice');
  manifests = edited(manifests, slice, (m) => ((m as unknown as { endpoints: Array<{ addresses: string[] }> }).endpoints[0].addresses = ['10.9.9.9']));
  check('an EndpointSlice address changed');
  const service = manifests.findIndex((m) => m.kind === 'Service');
  manifests = edited(manifests, service, (m) => (m.spec.ports[0].appProtocol = 'kubernetes.io/h2c'));
  check('a Service port protocol changed');
  manifests = manifests.filter((_, i) => i !== route);
  check('an HTTPRoute removed');
  manifests = edited(manifests, manifests.findIndex((m) => m.kind === 'HTTPRoute'), (m) => (m.spec.rules[0].matches[0].path = { type: 'RegularExpression', value: '(?=x)' }));
  check('an HTTPRoute made invalid');
  manifests = [...manifests, ...mediumManifests().filter((m) => m.kind === 'HTTPRoute').slice(0, 3).map((m) => ({ ...structuredClone(m), metadata: { ...m.metadata, name: `${m.metadata.name}-copy` } }))];
  check('HTTPRoutes added');
  const gateway = manifests.findIndex((m) => m.kind === 'Gateway');
  manifests = edited(manifests, gateway, (m) => (m.spec.listeners[0].port = 8181));
  check('the Gateway listener port changed');
});

/** Every reason in the routes' parent conditions of `t`, so a test can check that an edit had its effect. */
function parentReasons(t: Translation): Set<string> {
  const parents = t.statuses.flatMap((s) => ((s.status as { parents?: Array<{ conditions: Array<{ reason: string }> }> }).parents ?? []));
  return new Set(parents.flatMap((p) => p.conditions.map((c) => c.reason)));
}

test('a cached translation equals one from scratch after edits to what routes attach through', (t) => {
  // Attachments and route statuses are reused per route object while the Gateways, ListenerSets, Namespaces
  // (and the rest) are the same objects; each edit below changes what some unchanged routes attach to.
  const cache = new TranslationCache();
  let manifests = mediumManifests();
  const check = (what: string): Translation => {
    const cached = translateManifests(manifests, [], { cache });
    t.deepEqual(comparable(cached), comparable(translateManifests(manifests)), what);
    return cached;
  };
  check('first translation');
  const gateway = manifests.findIndex((m) => m.kind === 'Gateway');
  const allowFrom = (from: Record<string, unknown>) => (m: Manifest & { spec: EditableSpec }) => ((m.spec.listeners[0] as unknown as { allowedRoutes: unknown }).allowedRoutes = { namespaces: from });
  const namespace = (tier: string): Manifest => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-1', labels: { tier } }, source: { file: 'ns.yaml', line: 1 } });
  manifests = [...edited(manifests, gateway, allowFrom({ from: 'Selector', selector: { matchLabels: { tier: 'gold' } } })), namespace('gold')];
  t.true(parentReasons(check('routes allowed by a Namespace selector')).has('NotAllowedByListeners'));
  manifests = [...manifests.slice(0, -1), namespace('silver')];
  t.false(parentReasons(check('the Namespace relabelled')).has('Accepted'));
  manifests = edited(manifests, gateway, allowFrom({ from: 'All' }));
  t.false(parentReasons(check('all namespaces allowed again')).has('NotAllowedByListeners'));
  // A newer GRPCRoute on an HTTPRoute's hostname loses it (HostnameConflict), also when nothing changed since.
  const grpc = manifests.find((m) => m.kind === 'GRPCRoute')!;
  const late = structuredClone(grpc) as Manifest & { spec: EditableSpec };
  late.metadata = { ...late.metadata, name: 'grpc-late', namespace: 'team-0', creationTimestamp: '2027-01-01T00:00:00Z' };
  late.spec.hostnames = ['app-0.example.com'];
  manifests = [...manifests, late];
  t.true(parentReasons(check('a conflicting GRPCRoute added')).has('HostnameConflict'));
  t.true(parentReasons(check('nothing changed, with a conflict')).has('HostnameConflict'));
  manifests = manifests.filter((m) => !(m.kind === 'HTTPRoute' && m.metadata.name === 'route-0'));
  t.false(parentReasons(check('the older HTTPRoute removed')).has('HostnameConflict'));
  manifests = edited(manifests, manifests.findIndex((m) => m.kind === 'Gateway'), (m) => ((m.spec.listeners[0] as unknown as { hostname: string }).hostname = 'app-1.example.com'));
  t.true(parentReasons(check('the listener given a hostname')).has('NoMatchingListenerHostname'));
});

test('every golden case (Gateway API and Ingress) translates the same with a warm cache', (t) => {
  const cache = new TranslationCache();
  for (const dir of [GOLDEN_DIR, path.join(projectRoot(), 'test', 'testdata', 'ingress')]) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.in.yaml')).sort()) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      // Ingress cases may set translation options on their first line (see ingress-golden.test.ts).
      const optionsLine = /^# weft-options: (.*)$/.exec(text.split('\n')[0] ?? '');
      const options = optionsLine ? (JSON.parse(optionsLine[1]) as TranslateOptions) : {};
      const { manifests, problems } = parseManifests(name, text);
      const fresh = comparable(translateManifests(manifests, problems, options));
      t.deepEqual(comparable(translateManifests(manifests, problems, { ...options, cache })), fresh, `${name}, first`);
      t.deepEqual(comparable(translateManifests(manifests, problems, { ...options, cache })), fresh, `${name}, again`);
    }
  }
});

test('RouteConfigurations assembled from encoded routes are byte-identical to encoding the whole message', (t) => {
  const translations = [translateManifests(mediumManifests())];
  for (const name of readdirSync(GOLDEN_DIR).filter((n) => n.endsWith('.in.yaml'))) {
    const { manifests } = parseManifests(name, readFileSync(path.join(GOLDEN_DIR, name), 'utf8'));
    translations.push(translateManifests(manifests));
  }
  let checked = 0;
  for (const tr of translations) {
    for (const r of tr.resources.filter((x) => x.typeUrl === TypeUrl.RouteConfiguration)) {
      const message = decodeMessage('envoy.config.route.v3.RouteConfiguration', r.body) as unknown as RouteConfiguration & { name: string };
      const whole = routeConfigurationResource(message);
      t.is(Buffer.from(r.body).toString('hex'), Buffer.from(whole.body).toString('hex'), r.name);
      t.is(r.version, whole.version);
      t.deepEqual(r.references, whole.references);
      checked++;
    }
  }
  t.true(checked > 20, `only ${checked} route configurations checked`);
});

/** The IR route objects of a translation, in order. */
function irRoutes(t: Translation): object[] {
  return t.ir.httpListeners.flatMap((l) => l.virtualHosts.flatMap((vh) => vh.routes));
}

test('a ConfigMap no BackendTLSPolicy names leaves every route translation cached; a named one does not', (t) => {
  const cache = new TranslationCache();
  const manifests = mediumManifests();
  const before = translateManifests(manifests, [], { cache });
  // In Kubernetes mode every ConfigMap of the cluster is an input (a controller's, a leader lock's).
  const unrelated: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'someone-elses', namespace: 'team-0' }, data: { a: 'b' }, source: { file: 'x.yaml', line: 1 } };
  const after = translateManifests([...manifests, unrelated], [], { cache });
  t.deepEqual(comparable(after), comparable(translateManifests([...manifests, unrelated])));
  const reused = irRoutes(after).filter((r, i) => r === irRoutes(before)[i]).length;
  t.true(irRoutes(before).length > 100);
  t.is(reused, irRoutes(before).length, 'route translations redone for an unrelated ConfigMap');

  // A policy names `no-such-ca`: the ConfigMap appearing must reach the policy's resolution (and its status).
  const text = readFileSync(path.join(GOLDEN_DIR, 'tls-backend-tls-policy.tmpl.yaml'), 'utf8');
  const policyCase = parseManifests('policy.yaml', text).manifests;
  const named: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'no-such-ca', namespace: 'default' }, data: { 'ca.crt': 'not a certificate' }, source: { file: 'x.yaml', line: 1 } };
  const policyCache = new TranslationCache();
  const withoutCa = translateManifests(policyCase, [], { cache: policyCache });
  const withCa = translateManifests([...policyCase, named], [], { cache: policyCache });
  t.deepEqual(comparable(withCa), comparable(translateManifests([...policyCase, named])));
  t.notDeepEqual(withCa.statuses, withoutCa.statuses, 'the named ConfigMap changed nothing: the case does not test the cache');
});

/** The ResolvedRefs message of listener `name` of the first Gateway in `t`'s statuses. */
function listenerRefs(t: Translation, name: string): string | undefined {
  const gateway = t.statuses.find((s) => s.kind === 'Gateway');
  const listeners = (gateway?.status as { listeners?: Array<{ name: string; conditions: Array<{ type: string; message: string }> }> }).listeners ?? [];
  return listeners.find((l) => l.name === name)?.conditions.find((c) => c.type === 'ResolvedRefs')?.message;
}

test('a Secret or ConfigMap no Gateway names keeps every route attachment cached; a named Secret attaches again and reaches the listener', (t) => {
  const routes = [0, 1, 2, 3, 4].map((i) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${i}, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /r${i} } }], backendRefs: [{ name: app, port: 80 }] }]
`);
  const base = parseManifests('gw.yaml', `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: weft }
spec: { controllerName: weft.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: 8080, protocol: HTTP }
    - { name: https, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: gw-cert }] } }
${routes.join('')}`).manifests;
  t.is(base.length, 7);
  const secret = (name: string): Manifest => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'bm90IGEgY2VydA==', 'tls.key': 'bm90IGEga2V5' }, source: { file: 'x.yaml', line: 1 } });
  const configMap: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'leader-lock', namespace: 'default' }, data: { a: 'b' }, source: { file: 'x.yaml', line: 1 } };
  const cache = new TranslationCache();
  const counts = cache.gateway.attachmentCounts;
  const translate = (manifests: Manifest[], what: string): Translation => {
    const cached = translateManifests(manifests, [], { cache });
    t.deepEqual(comparable(cached), comparable(translateManifests(manifests)), what);
    return cached;
  };

  const first = translate(base, 'first translation');
  t.deepEqual(counts, { reused: 0, attached: 5 });
  t.regex(listenerRefs(first, 'https') ?? '', /gw-cert: Secret not found/);

  // Another controller's Secret and ConfigMap (in Kubernetes mode every TLS Secret and ConfigMap is an input).
  const unrelated = translate([...base, secret('someone-elses'), configMap], 'unrelated Secret and ConfigMap added');
  t.deepEqual(counts, { reused: 5, attached: 5 }, 'routes attached again for a Secret no Gateway names');
  t.is(listenerRefs(unrelated, 'https'), listenerRefs(first, 'https'));

  // The listener's Secret appears (unusable): what the Gateway reads changed, so every route attaches again.
  const named = translate([...base, secret('someone-elses'), configMap, secret('gw-cert')], 'the named Secret added');
  t.deepEqual(counts, { reused: 5, attached: 10 }, 'the named Secret did not reach the attachments');
  t.regex(listenerRefs(named, 'https') ?? '', /gw-cert: Secret /);
  t.notRegex(listenerRefs(named, 'https') ?? '', /not found/);
});
