// GatewayHTTPListenerIsolation (gateway-api v1.6.1, extended) against a real Envoy: four listeners share
// one port with overlapping hostnames (none, *.example.com, *.foo.example.com, abc.foo.example.com), one
// route attached to each by sectionName. A request is bound to the most specific listener matching its
// host and only that listener's routes may serve it: every path of another listener answers 404, even
// when a less specific listener has a route for it. As the upstream conformance test, once with routes
// without hostnames and once with routes that all name every one of those hostnames.
import test, { type ExecutionContext } from 'ava';
import { assertHealthy, backendYaml, gatewayFixture, gatewayYaml, request, routeConditions, routeYaml } from './helpers/gateway.js';

const LISTENERS = [
  { name: 'empty-hostname', backend: 'empty' },
  { name: 'wildcard-example-com', hostname: '*.example.com', backend: 'wildcard' },
  { name: 'wildcard-foo-example-com', hostname: '*.foo.example.com', backend: 'wildcard-foo' },
  { name: 'abc-foo-example-com', hostname: 'abc.foo.example.com', backend: 'abc-foo' },
];

/** Host → the listener it belongs to (its most specific match). */
const OWNER: Record<string, string> = {
  'bar.com': 'empty-hostname',
  'foo.example.com': 'wildcard-example-com',
  'bar.foo.example.com': 'wildcard-foo-example-com',
  'abc.foo.example.com': 'abc-foo-example-com',
};

async function checkIsolation(t: ExecutionContext, hostnames: string[] | undefined): Promise<void> {
  const { mesh, port, translation } = await gatewayFixture(t, LISTENERS.map((l) => l.backend), (bs, p) =>
    gatewayYaml(p, LISTENERS) +
    bs.map((b) => backendYaml(b)).join('') +
    LISTENERS.map((l) =>
      routeYaml(l.name, `  - matches:\n    - path: { type: PathPrefix, value: /${l.name} }\n    backendRefs:\n    - name: ${l.backend}\n      port: 8080`, hostnames ? { hostnames } : {}).replace(
        '    namespace: default\n',
        `    namespace: default\n    sectionName: ${l.name}\n`,
      ),
    ).join(''),
  );
  for (const l of LISTENERS) t.like(routeConditions(translation, l.name), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } }, l.name);
  const expected: Array<[string, string, string | 404]> = [];
  const actual: typeof expected = [];
  for (const host of Object.keys(OWNER)) {
    for (const l of LISTENERS) {
      expected.push([host, `/${l.name}`, OWNER[host] === l.name ? l.backend : 404]);
      const r = await request(port, { host, path: `/${l.name}` });
      actual.push([host, `/${l.name}`, r.status === 404 ? 404 : r.status === 200 ? r.backend : `status ${r.status}`]);
    }
  }
  t.deepEqual(actual, expected);
  await assertHealthy(t, mesh);
}

test.serial('GatewayHTTPListenerIsolation: routes without hostnames, each attached to one listener, serve only the hosts their listener is the most specific for', async (t) => {
  await checkIsolation(t, undefined);
});

test.serial('GatewayHTTPListenerIsolation: routes naming every hostname still serve only where their listener is the most specific', async (t) => {
  await checkIsolation(t, ['bar.com', '*.example.com', '*.foo.example.com', 'abc.foo.example.com']);
});
