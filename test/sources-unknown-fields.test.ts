// Unknown fields against the Gateway API CRD schemas: the path is spelt out exactly, and a field that only
// an object's prototype knows (`constructor`, `toString`) is unknown like any other.
import test from 'ava';
import { unknownFields } from '../src/sources/unknown-fields.js';

const route = (rule: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'r', anything: 'metadata is ObjectMeta, left open' },
  spec: { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }, rule] },
});

test('a misspelt field is reported with its path', (t) => {
  const r = route({ backendRefs: [{ name: 'svc', port: 80, weigth: 3 }] });
  t.deepEqual(unknownFields('gateway.networking.k8s.io/v1', 'HTTPRoute', r), ['spec.rules[1].backendRefs[0].weigth']);
});

test('fields named like Object.prototype members are unknown', (t) => {
  const r = route({ constructor: 'x', toString: 'y', backendRefs: [{ name: 'svc', port: 80 }] });
  t.deepEqual(unknownFields('gateway.networking.k8s.io/v1', 'HTTPRoute', r), ['spec.rules[1].constructor', 'spec.rules[1].toString']);
});

test('a valid route has no unknown fields', (t) => {
  t.deepEqual(unknownFields('gateway.networking.k8s.io/v1', 'HTTPRoute', route({ backendRefs: [{ name: 'svc', port: 80, weight: 3 }] })), []);
});
