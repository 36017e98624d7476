// Golden files for the TLS part of IR → xDS: every test/testdata/gateway/tls-ir-<case>.ir.yaml (an IR, as
// YAML) is translated and its readable xDS compared with tls-ir-<case>.ir.out.yaml. WEFT_UPDATE_GOLDEN=1
// rewrites the .out files. These pin the shapes the Gateway API and Ingress translators build on.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import type { ProxyIR } from '../src/ir/model.js';
import { readableResources } from '../src/xds/translator/readable.js';
import { translateIrToXds } from '../src/xds/translator/translate-ir.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'gateway');
const cases = readdirSync(DIR).filter((n) => n.startsWith('tls-ir-') && n.endsWith('.ir.yaml')).map((n) => n.slice(0, -'.ir.yaml'.length)).sort();

test('there are TLS IR golden cases', (t) => {
  t.true(cases.length >= 2);
});

for (const name of cases) {
  test(`golden IR: ${name}`, (t) => {
    const ir = parse(readFileSync(path.join(DIR, `${name}.ir.yaml`), 'utf8')) as ProxyIR;
    const actual = stringify({ xds: readableResources(translateIrToXds(ir)) }, { lineWidth: 0 });
    t.false(/KEY-[A-Z]/.test(actual), 'a private key is printed');
    const outPath = path.join(DIR, `${name}.ir.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}
