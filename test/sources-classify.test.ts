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
