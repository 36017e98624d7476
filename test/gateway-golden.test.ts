// Golden files for the Gateway API translator: every test/testdata/gateway/<case>.in.yaml is translated
// (problems, statuses, xDS) and compared with <case>.out.yaml. WEFT_UPDATE_GOLDEN=1 rewrites the .out.yaml
// files instead; read every diff against the spec before committing it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'gateway');

const cases = readdirSync(DIR)
  .filter((n) => n.endsWith('.in.yaml'))
  .map((n) => n.slice(0, -'.in.yaml'.length))
  .sort();

test('there are golden cases', (t) => {
  t.true(cases.length > 0, `no *.in.yaml in ${DIR}`);
});

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const inFile = `${name}.in.yaml`;
    const text = readFileSync(path.join(DIR, inFile), 'utf8');
    const actual = stringify(translationReport(translateYaml(inFile, text), 'all'), { lineWidth: 0 });
    const outPath = path.join(DIR, `${name}.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}
