// Golden files for the Ingress translator: every test/testdata/ingress/<case>.in.yaml is translated
// (problems, statuses, xDS) and compared with <case>.out.yaml. A first line `# weft-options: {json}`
// passes translation options (e.g. {"ingress":{"defaultMode":"dedicated"}}). WEFT_UPDATE_GOLDEN=1
// rewrites the .out.yaml files instead; read every diff against the Ingress spec before committing it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml, type TranslateOptions } from '../src/standalone/pipeline.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'ingress');
const UPDATE = process.env.WEFT_UPDATE_GOLDEN === '1';

const cases = readdirSync(DIR)
  .filter((n) => n.endsWith('.in.yaml'))
  .map((n) => n.slice(0, -'.in.yaml'.length))
  .sort();

function optionsOf(text: string): TranslateOptions {
  const m = /^# weft-options: (.*)$/m.exec(text.split('\n')[0] ?? '');
  return m ? (JSON.parse(m[1]) as TranslateOptions) : {};
}

test('there are golden cases', (t) => {
  t.true(cases.length > 0, `no *.in.yaml in ${DIR}`);
});

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const inFile = `${name}.in.yaml`;
    const text = readFileSync(path.join(DIR, inFile), 'utf8');
    const actual = stringify(translationReport(translateYaml(inFile, text, optionsOf(text)), 'all'), { lineWidth: 0 });
    const outPath = path.join(DIR, `${name}.out.yaml`);
    if (UPDATE) {
      writeFileSync(outPath, actual);
      t.pass();
      return;
    }
    let expected: string;
    try {
      expected = readFileSync(outPath, 'utf8');
    } catch {
      t.fail(`${outPath} is missing; run with WEFT_UPDATE_GOLDEN=1 to create it`);
      return;
    }
    t.is(actual, expected, `${name}: output differs from ${name}.out.yaml (WEFT_UPDATE_GOLDEN=1 regenerates it)`);
  });
}
