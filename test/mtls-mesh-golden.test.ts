// meshResources (a node's mesh view → Envoy listeners and clusters) is a pure function: golden files
// test/testdata/mtls/<case>.in.yaml → <case>.out.yaml (readable xDS, or the error naming every bad
// field). WEFT_UPDATE_GOLDEN=1 rewrites the .out.yaml files.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { meshResources, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import { readableResources } from '../src/xds/translator/readable.js';
import { matchGolden } from './helpers/golden.js';

const dir = path.join(projectRoot(), 'test', 'testdata', 'mtls');

for (const file of readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).sort()) {
  const name = file.slice(0, -'.in.yaml'.length);
  test(name, (t) => {
    const view = parse(readFileSync(path.join(dir, file), 'utf8')) as MeshNodeView;
    let actual: string;
    try {
      actual = stringify(readableResources(meshResources(view)), { lineWidth: 0 });
    } catch (err) {
      actual = stringify({ error: (err as Error).message }, { lineWidth: 0 });
    }
    const outPath = path.join(dir, `${name}.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}
