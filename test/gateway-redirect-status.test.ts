// RequestRedirect status codes outside Envoy's RedirectAction: the schema's enum (301, 302, 303, 307, 308)
// refuses them today, but the spec says the enum may grow and an unknown code must make the route
// UnsupportedValue rather than reach Envoy. The schema check runs on parsing, so the code is set afterwards.
import test from 'ava';
import { translateGatewayApi } from '../src/gateway/translate.js';
import { classifyManifests } from '../src/sources/kinds.js';
import { parseManifests } from '../src/sources/manifests.js';
import { backendYaml, gatewayYaml, routeConditions, routeYaml } from './helpers/gateway.js';

const redirectRule = (path: string, statusCode: number): string => `  - matches:
    - path: { type: PathPrefix, value: ${path} }
    filters:
    - type: RequestRedirect
      requestRedirect:
        statusCode: ${statusCode}
`;

test('a RequestRedirect status code Envoy has no RedirectAction for drops its rule (UnsupportedValue); the other rules are served', (t) => {
  const yaml = gatewayYaml(8080) + backendYaml({ name: 'echo', port: 9 }) + routeYaml('redirects', redirectRule('/see-other', 303) + redirectRule('/not-modified', 302));
  const { inputs, problems } = classifyManifests(parseManifests('redirects.yaml', yaml).manifests);
  t.deepEqual(problems, []);
  const rule = inputs.httpRoutes[0].spec.rules![1] as { filters: Array<{ requestRedirect: { statusCode: number } }> };
  rule.filters[0].requestRedirect.statusCode = 304;

  const translation = translateGatewayApi(inputs);
  const conditions = routeConditions({ ...translation, problems: [], resources: [] }, 'redirects');
  t.deepEqual(conditions.Accepted, { status: 'True', reason: 'Accepted' });
  t.deepEqual(conditions.PartiallyInvalid, { status: 'True', reason: 'UnsupportedValue' });

  const ir = JSON.stringify(translation.ir);
  t.true(ir.includes('"statusCode":303'), 'the 303 rule is served');
  t.false(ir.includes('/not-modified'), 'the 304 rule reaches no route');
});
