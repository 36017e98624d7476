// Classification: namespaces defaulted or dropped on the object, never on the manifest it came from (a reload
// classifies the same manifest objects again); the manifest itself is the object when nothing changes.
import test from 'ava';
import { classifyManifests } from '../src/sources/kinds.js';
import { parseManifests } from '../src/sources/manifests.js';

const YAML = `apiVersion: v1
kind: Service
metadata: { name: no-namespace }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: with-namespace, namespace: team }
spec: { ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: cluster-scoped, namespace: ignored }
spec: { controllerName: weft.dev/gateway-controller }
`;

test('namespaces are defaulted and dropped on copies; manifests are left as read', (t) => {
  const { manifests, problems } = parseManifests('in.yaml', YAML);
  t.deepEqual(problems, []);
  const before = structuredClone(manifests);
  const { inputs, problems: classified } = classifyManifests(manifests);
  t.deepEqual(classified, []);
  t.deepEqual(manifests, before);
  const [noNamespace, withNamespace] = inputs.services;
  t.is(noNamespace.metadata.namespace, 'default');
  t.not(noNamespace, manifests[0]);
  t.true(Object.is(withNamespace, manifests[1]));
  t.deepEqual(withNamespace.source, { file: 'in.yaml', line: 5 });
  t.false('namespace' in inputs.gatewayClasses[0].metadata);
  t.deepEqual(inputs.gatewayClasses[0].source, { file: 'in.yaml', line: 10 });
});

test('a document field named source is not taken for an unknown field (Weft sets where the object was read)', (t) => {
  const { manifests } = parseManifests('in.yaml', 'apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: { name: c }\nsource: x\nspec: { controllerName: weft.dev/gateway-controller, weigth: 1 }\n');
  const { inputs, problems } = classifyManifests(manifests);
  t.deepEqual(inputs.gatewayClasses, []);
  t.deepEqual(problems.map((p) => p.field), ['spec.weigth']);
});

const gatewayYaml = (addresses: string): string =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: g, namespace: default }\nspec:\n  gatewayClassName: weft\n  listeners: [{ name: http, protocol: HTTP, port: 80 }]\n  addresses: ${addresses}\n`;

test('Gateway API kinds are checked against their CRD schema, with the apiserver defaulting first', (t) => {
  const problems = (addresses: string): string[] => classifyManifests(parseManifests('in.yaml', gatewayYaml(addresses)).manifests).problems.map((p) => `${p.field}: ${p.message}`);
  // type defaults to IPAddress, whose value must be an IP (the CRD's oneOf); another type's value need not be.
  t.deepEqual(problems('[{ value: my-ip-address }]'), ['spec.addresses[0].value: must match format "ipv4" or must match format "ipv6"']);
  t.deepEqual(problems('[{ value: 10.0.0.1 }, { type: IPAddress, value: "::1" }, { type: Hostname, value: gw.example.com }]'), []);
  // A null optional list is left out (as the apiserver prunes it); a null scalar is refused.
  t.deepEqual(problems('null'), []);
  t.deepEqual(problems('[{ type: IPAddress, value: null }]'), ['spec.addresses[0].value: must be string']);
});

test('a schema error is reported before unknown fields, all unknown fields are named, metadata is ObjectMeta', (t) => {
  const route = (spec: string, metadata = '{ name: r }'): string[] =>
    classifyManifests(parseManifests('in.yaml', `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: ${metadata}\nspec: ${spec}\n`).manifests).problems.map((p) => `${p.field}: ${p.message}`);
  t.deepEqual(route('{ weigth: 1, rules: [{ backendRefs: [{ name: svc, port: x }] }] }'), ['spec.rules[0].backendRefs[0].port: must be integer']);
  t.deepEqual(route('{ weigth: 1, rules: [{ backendRefs: [{ name: svc, port: 80, wieght: 2 }] }] }'), ['spec.weigth: unknown field (and spec.rules[0].backendRefs[0].wieght); the object is ignored']);
  t.deepEqual(route('{ rules: [{ backendRefs: [{ name: svc, port: 80, kind: "" }] }] }'), ['spec.rules[0].backendRefs[0].kind: must NOT be shorter than 1 character']);
  t.deepEqual(route('{}', '{ name: r, labels: { a: 1 } }'), ['metadata.labels.a: must be string']);
});
