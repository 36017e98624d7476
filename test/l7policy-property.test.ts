// Property: for random policies and requests, what the real Envoy does (verdict, and the headers the
// application receives after headerMatches mismatch actions) equals what a reference evaluator written
// from Cilium's documentation (test/helpers/l7policy-reference.ts) says, with the server's ingress policies and
// the clients' egress policies (both must allow: the server's listener applies both). authentication.mode included
// (requests here are plaintext). Runs are few on purpose
// (each one reconfigures Envoy); fast-check prints the smallest failing policy and requests.
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { l7Fixture, pod } from './helpers/l7policy.js';
import type { EchoReply } from './helpers/echo-backend.js';
import { referenceEgressAllows, referenceOutcome, type RefEgressPolicy, type RefEgressRule, type RefHeaderMatch, type RefHttpRule, type RefPolicy, type RefRule } from './helpers/l7policy-reference.js';

const APPS = ['a', 'b', 'c'] as const;
const METHODS = ['GET', 'POST', 'DELETE'];
const METHOD_RULES = ['GET', 'POST|DELETE', 'G.T', '[A-Z]+'];
const PATH_RULES = ['/a', '/a/.*', '/b[0-9]+', '/(a|c)', '/a.*', '.*'];
const PATHS = ['/a', '/a/b', '/b1', '/b12', '/c', '/a?x=1', '/ab', '/bx'];
const HEADER_RULES = ['X-K', 'X-K: v', 'x-k: w'];

const headerMatch: fc.Arbitrary<RefHeaderMatch> = fc.record(
  { name: fc.constantFrom('X-K', 'x-m'), value: fc.constantFrom('v', 'w'), mismatch: fc.constantFrom('LOG' as const, 'ADD' as const, 'DELETE' as const, 'REPLACE' as const) },
  { requiredKeys: ['name'] },
);

const httpRule: fc.Arbitrary<RefHttpRule> = fc.record(
  {
    method: fc.constantFrom(...METHOD_RULES),
    path: fc.constantFrom(...PATH_RULES),
    headers: fc.array(fc.constantFrom(...HEADER_RULES), { maxLength: 1 }),
    headerMatches: fc.array(headerMatch, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const peer = fc.oneof(
  fc.record({ fromEndpoints: fc.array(fc.constantFrom(...APPS).map((app) => ({ matchLabels: { app } })), { minLength: 1, maxLength: 2 }) }),
  fc.record({ fromEntities: fc.constantFrom('world', 'all', 'cluster').map((e) => [e]) }),
  fc.constant({}),
);

// Requests here are plaintext: a rule requiring authentication refuses its peers (and their other rules on the port).
const authentication = fc.constantFrom(undefined, undefined, undefined, { mode: 'disabled' as const }, { mode: 'required' as const });

const rule = (port: number): fc.Arbitrary<RefRule> =>
  fc.tuple(peer, fc.option(fc.array(httpRule, { minLength: 1, maxLength: 3 }), { nil: undefined }), authentication).map(([p, http, auth]) => ({
    ...p,
    ...(auth ? { authentication: auth } : {}),
    toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' as const }], ...(http ? { rules: { http } } : {}) }],
  }));

const policy = (port: number): fc.Arbitrary<RefPolicy> =>
  fc.record({
    ingress: fc.array(rule(port), { minLength: 1, maxLength: 3 }),
    ingressDeny: fc.option(fc.array(peer.filter((p) => Object.keys(p).length > 0).map((p) => ({ ...p, toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' as const }] }] })), { maxLength: 1 }), { nil: undefined }),
  }, { requiredKeys: ['ingress'] });

// Egress: the clients' policies, towards the server (or another pod, or an entity) on the server's port.
const egressPeer = fc.oneof(
  fc.record({ toEndpoints: fc.array(fc.constantFrom('server', 'a').map((app) => ({ matchLabels: { app } })), { minLength: 1, maxLength: 2 }) }),
  fc.record({ toEntities: fc.constantFrom('world', 'all', 'cluster').map((e) => [e]) }),
  fc.constant({}),
);

const egressHttpRule: fc.Arbitrary<RefHttpRule> = fc.record(
  { method: fc.constantFrom(...METHOD_RULES), path: fc.constantFrom(...PATH_RULES), headers: fc.array(fc.constantFrom(...HEADER_RULES), { maxLength: 1 }) },
  { requiredKeys: [] },
);

const egressRule = (port: number): fc.Arbitrary<RefEgressRule> =>
  fc.tuple(egressPeer, fc.option(fc.array(egressHttpRule, { minLength: 1, maxLength: 2 }), { nil: undefined })).map(([p, http]) => ({
    ...p,
    toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' as const }], ...(http ? { rules: { http } } : {}) }],
  }));

const egressPolicy = (port: number): fc.Arbitrary<RefEgressPolicy> =>
  fc.record({
    endpointSelector: fc.constantFrom(...APPS).map((app) => ({ matchLabels: { app } })),
    egress: fc.array(egressRule(port), { minLength: 1, maxLength: 2 }),
    egressDeny: fc.option(fc.array(egressPeer.filter((p) => Object.keys(p).length > 0).map((p) => ({ ...p, toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' as const }] }] })), { maxLength: 1 }), { nil: undefined }),
  }, { requiredKeys: ['endpointSelector', 'egress'] });

const request = fc.record({
  source: fc.constantFrom('a', 'b', 'c', 'world'),
  method: fc.constantFrom(...METHODS),
  path: fc.constantFrom(...PATHS),
  header: fc.constantFrom(undefined, 'v', 'w'),
  other: fc.constantFrom(undefined, 'v', 'w'),
});

test('Envoy enforces exactly what the reference evaluator derives from Cilium\'s documentation', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => yamlFor(net, port, serverPod(), [], []));
  const sources: Record<string, string> = { a: `${f.net}.10`, b: `${f.net}.11`, c: `${f.net}.12`, world: `${f.net}.200` };
  const serverPod = f.translation.l7!.table.endpoints.find((e) => e.name === 'default/server')!;
  const serverYaml = `apiVersion: v1
kind: Pod
metadata:
  name: server
  namespace: default
  labels: { app: server }
  annotations: { weft.dev/standalone-backends: "${f.port}=127.0.0.1:${f.backend.port}" }
status: { podIP: ${serverPod.ips[0]} }
`;
  let runs = 0;
  const seen = { forward: 0, deny: 0, edited: 0, egressDenied: 0, authenticationRequired: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(policy(f.port), { minLength: 1, maxLength: 3 }), fc.array(egressPolicy(f.port), { maxLength: 2 }), fc.array(request, { minLength: 6, maxLength: 6 }), async (policies, egressPolicies, requests) => {
      runs++;
      if (policies.some((p) => p.ingress?.some((r) => r.authentication?.mode === 'required'))) seen.authenticationRequired++;
      const translation = await f.apply(yamlFor(f.net, f.port, serverYaml, policies, egressPolicies));
      if (translation.problems.length) throw new Error(`unexpected problems: ${JSON.stringify(translation.problems)}`);
      for (const r of requests) {
        const headers: Record<string, string> = { ...(r.header ? { 'x-k': r.header } : {}), ...(r.other ? { 'x-m': r.other } : {}) };
        const client = r.source === 'world' ? {} : { labels: { app: r.source } };
        const req = { method: r.method, path: r.path, headers };
        const ingress = referenceOutcome(policies, f.port, client, req);
        const egressAllows = referenceEgressAllows(egressPolicies, f.port, client, { app: 'server' }, req);
        if (!egressAllows && ingress.verdict === 'forward') seen.egressDenied++;
        const expected = egressAllows ? ingress : { ...ingress, verdict: 'deny' as const };
        const reply = await f.request({ from: sources[r.source], method: r.method, path: r.path, headers });
        const actual = reply.status === 200 ? 'forward' : reply.status === 403 ? 'deny' : `status ${reply.status}`;
        seen[expected.verdict]++;
        const what = `${r.method} ${r.path} from ${r.source} (${JSON.stringify(headers)})`;
        if (actual !== expected.verdict) throw new Error(`${what}: Envoy ${actual}, reference ${expected.verdict}`);
        if (actual !== 'forward') continue;
        // headerMatches mismatch actions: the application receives the headers the reference computed
        // (Node joins repeated headers with ", ").
        const received = (JSON.parse(reply.body) as EchoReply).headers;
        for (const name of ['x-k', 'x-m']) {
          const want = expected.headers.get(name)?.join(', ');
          if (want !== headers[name]) seen.edited++;
          if (received[name] !== want) throw new Error(`${what}: the application received ${name}: ${JSON.stringify(received[name])}, reference ${JSON.stringify(want)}`);
        }
      }
    }),
    { numRuns: 25, seed: Number(process.env.WEFT_FC_SEED ?? Date.now() % 2 ** 31), endOnFailure: true, examples: [coveringExample(f.port)] },
  );
  t.true(runs >= 25);
  // The generated cases exercise both outcomes, or the property would prove little.
  t.true(seen.forward > 0 && seen.deny > 0 && seen.edited > 0 && seen.egressDenied > 0 && seen.authenticationRequired > 0, JSON.stringify(seen));
});

/**
 * One fixed case that reaches every outcome the coverage check below asks for, so that the check cannot fail on an
 * unlucky seed (random runs alone missed "allowed by ingress, refused by egress" once in 25): a forward, a forward with
 * an edited header, denials by path, by peer, by a required authentication and by the client's egress rule.
 */
function coveringExample(port: number): [RefPolicy[], RefEgressPolicy[], Array<typeof request extends fc.Arbitrary<infer R> ? R : never>] {
  const ports = [{ port: String(port), protocol: 'TCP' as const }];
  const policies: RefPolicy[] = [{
    ingress: [
      { fromEndpoints: [{ matchLabels: { app: 'a' } }, { matchLabels: { app: 'b' } }], toPorts: [{ ports, rules: { http: [{ path: '/a.*', headerMatches: [{ name: 'x-m', value: 'v', mismatch: 'REPLACE' }] }] } }] },
      { fromEndpoints: [{ matchLabels: { app: 'c' } }], authentication: { mode: 'required' }, toPorts: [{ ports }] },
    ],
  }];
  const egressPolicies: RefEgressPolicy[] = [{ endpointSelector: { matchLabels: { app: 'b' } }, egress: [{ toEndpoints: [{ matchLabels: { app: 'server' } }], toPorts: [{ ports, rules: { http: [{ path: '/b.*' }] } }] }] }];
  const requests = [
    { source: 'a', method: 'GET', path: '/a', header: undefined, other: 'w' },
    { source: 'a', method: 'GET', path: '/c', header: undefined, other: undefined },
    { source: 'b', method: 'GET', path: '/a', header: undefined, other: undefined },
    { source: 'world', method: 'GET', path: '/a', header: undefined, other: undefined },
    { source: 'c', method: 'GET', path: '/a', header: undefined, other: undefined },
    { source: 'a', method: 'POST', path: '/a/b', header: 'v', other: 'v' },
  ] as const;
  return [policies, egressPolicies, [...requests]];
}

function yamlFor(net: string, port: number, server: string, policies: RefPolicy[], egressPolicies: RefEgressPolicy[]): string {
  const clients = APPS.map((app, i) => pod(`client-${app}`, `${net}.${10 + i}`, { app }));
  // A rule for a peer that does not exist keeps the port under L7 policy even when no generated rule is.
  const anchor = { endpointSelector: { matchLabels: { app: 'server' } }, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'nobody' } }], toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' }], rules: { http: [{ path: '/never' }] } }] }] };
  const docs = [anchor, ...policies.map((p) => ({ endpointSelector: { matchLabels: { app: 'server' } }, ...p })), ...egressPolicies].map((spec, i) =>
    stringify({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: `p${i}`, namespace: 'default' }, spec }),
  );
  return [server, ...clients, ...docs].join('---\n');
}
