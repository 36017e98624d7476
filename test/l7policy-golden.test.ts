// Golden files for L7 policy: every test/testdata/l7policy/<case>.in.yaml is translated (problems, xDS)
// and compared with <case>.out.yaml. WEFT_UPDATE_GOLDEN=1 rewrites them; read every diff before committing.
// Cases named mesh-* are translated with the mesh's trust domain cluster.local (the mesh inbound routes).
// Cases named transparent-* are translated in Kubernetes mode's shape (the transparent listener).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'l7policy');
const cases = readdirSync(DIR).filter((n) => n.endsWith('.in.yaml')).map((n) => n.slice(0, -'.in.yaml'.length)).sort();

test('there are golden cases', (t) => {
  t.true(cases.length >= 3);
});

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const inFile = `${name}.in.yaml`;
    const options = name.startsWith('mesh-') ? { l7: { mesh: { trustDomain: 'cluster.local' } } } : name.startsWith('transparent-') ? { l7: { transparent: { proxyPort: 15001, upstreamMark: 0x400 } } } : {};
    const actual = stringify(translationReport(translateYaml(inFile, readFileSync(path.join(DIR, inFile), 'utf8'), options), 'all'), { lineWidth: 0 });
    const outPath = path.join(DIR, `${name}.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}
