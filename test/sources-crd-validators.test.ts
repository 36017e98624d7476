// The generated one-pass validators (schema and unknown fields: `strict`) never accept what the CRD schema
// (`plain`) or the unknown-field walk refuses: classification trusts `strict` alone for objects it accepts.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { crdValidators } from '../src/generated/gateway-validators.js';
import { parseManifests } from '../src/sources/manifests.js';
import { unknownFields } from '../src/sources/unknown-fields.js';
import { projectRoot } from '../envoy/binary.js';

const dir = path.join(projectRoot(), 'test', 'testdata', 'gateway');
const objects = readdirSync(dir)
  .filter((f) => f.endsWith('.in.yaml'))
  .flatMap((f) => parseManifests(f, readFileSync(path.join(dir, f), 'utf8')).manifests)
  .filter((m) => crdValidators[`${m.apiVersion} ${m.kind}`])
  .map(({ source: _source, ...m }) => m);

/** Every place in `value` (as a path of keys) that holds an object or a list. */
function containers(value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== 'object') return [];
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return [at, ...entries.flatMap(([k, v]) => containers(v, [...at, k]))];
}

const VALUES = [null, 0, -1, 70000, '', 'x', 'Bad Name', '/p', true, [], {}, [{}], { name: 'n' }];

test('strict accepts only what plain and the unknown-field walk both accept', (t) => {
  t.true(objects.length > 50, `${objects.length} Gateway API objects in the golden inputs`);
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.constantFrom('set', 'add'), fc.nat({ max: VALUES.length - 1 }), fc.constantFrom('weigth', 'name', 'type', 'constructor'), (oi, ci, op, vi, key) => {
      const object = structuredClone(objects[oi % objects.length]) as Record<string, unknown>;
      const [apiVersion, kind] = [object.apiVersion as string, object.kind as string];
      const places = containers(object);
      const place = places[ci % places.length];
      let node = object as Record<string | number, unknown>;
      for (const k of place) node = node[k] as Record<string | number, unknown>;
      if (op === 'add' && !Array.isArray(node)) node[key as string] = VALUES[vi];
      else {
        const keys = Object.keys(node);
        if (keys.length > 0) node[keys[vi % keys.length]] = VALUES[vi];
      }
      const { plain, strict } = crdValidators[`${apiVersion} ${kind}`];
      if (strict(object)) return plain(object) && unknownFields(apiVersion, kind, object).length === 0;
      return true;
    }),
    { numRuns: 3000 },
  );
});
