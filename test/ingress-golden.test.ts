// Golden files for the Ingress translator: every test/testdata/ingress/<case>.in.yaml is translated
// (problems, statuses, xDS) and compared with <case>.out.yaml. A first line `# weft-options: {json}`
// passes translation options (e.g. {"ingress":{"defaultMode":"dedicated"}}). No key is committed: in
// an input, GENERATED-CERT(a.com,*.b.com) and GENERATED-KEY(...) stand for the base64 PEM of a
// certificate for those names and its key, made by openssl when the test runs; in the output they are
// written back as these placeholders (the certificate PEM and the redacted key's digest).
// WEFT_UPDATE_GOLDEN=1 rewrites the .out.yaml files instead; read every diff against the Ingress spec
// before committing it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml, type TranslateOptions } from '../src/standalone/pipeline.js';
import { redactedKey } from '../src/xds/translator/readable.js';
import { CertFactory, type CertKey } from './helpers/tls.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'ingress');

const cases = readdirSync(DIR)
  .filter((n) => n.endsWith('.in.yaml'))
  .map((n) => n.slice(0, -'.in.yaml'.length))
  .sort();

function optionsOf(text: string): TranslateOptions {
  const m = /^# weft-options: (.*)$/m.exec(text.split('\n')[0] ?? '');
  return m ? (JSON.parse(m[1]) as TranslateOptions) : {};
}

const certs = new CertFactory();
const generated = new Map<string, CertKey>();
test.after.always(() => certs.close());

/** The certificate (and key) for a comma-separated list of DNS names, made once per run. */
function certFor(names: string): CertKey {
  let c = generated.get(names);
  if (!c) generated.set(names, (c = certs.leaf(names.split(',')[0], names.split(','))));
  return c;
}

const PLACEHOLDER = /GENERATED-(CERT|KEY)\(([^)]*)\)/g;

function expandPlaceholders(text: string): string {
  return text.replace(PLACEHOLDER, (_, what: string, names: string) => Buffer.from(what === 'CERT' ? certFor(names).cert : certFor(names).key).toString('base64'));
}

/** Generated material in the output → the placeholders, so that the golden file is stable. */
function restorePlaceholders(report: string): string {
  let out = report;
  for (const [names, c] of generated) {
    out = out.split(JSON.stringify(c.cert).slice(1, -1)).join(`GENERATED-CERT(${names})`);
    out = out.split(redactedKey(c.key)).join(`[redacted GENERATED-KEY(${names})]`);
  }
  return out;
}

test('there are golden cases', (t) => {
  t.true(cases.length > 0, `no *.in.yaml in ${DIR}`);
});

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const inFile = `${name}.in.yaml`;
    const text = readFileSync(path.join(DIR, inFile), 'utf8');
    const report = translationReport(translateYaml(inFile, expandPlaceholders(text), optionsOf(text)), 'all');
    const actual = stringify(JSON.parse(restorePlaceholders(JSON.stringify(report))), { lineWidth: 0 });
    t.false(/PRIVATE KEY/.test(actual), 'a private key is printed');
    const outPath = path.join(DIR, `${name}.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}

test('examples/ingress translates without problems once its Secret exists', (t) => {
  const dir = path.join(projectRoot(), 'examples', 'ingress');
  const text = readdirSync(dir)
    .filter((n) => n.endsWith('.yaml') && n !== 'tls-secret.yaml')
    .map((n) => readFileSync(path.join(dir, n), 'utf8'))
    .join('\n---\n');
  const secret = `apiVersion: v1
kind: Secret
metadata: { name: demo-tls, namespace: default }
type: kubernetes.io/tls
data: { tls.crt: ${expandPlaceholders('GENERATED-CERT(demo.example.com)')}, tls.key: ${expandPlaceholders('GENERATED-KEY(demo.example.com)')} }
`;
  const result = translateYaml('examples/ingress', `${text}\n---\n${secret}`);
  t.deepEqual(result.problems, []);
  const served = result.statuses.filter((s) => s.kind === 'Ingress').map((s) => [s.name, (s.status as { loadBalancer: { ingress?: unknown[] } }).loadBalancer.ingress?.length ?? 0]);
  t.deepEqual(served, [['dedicated-demo', 1], ['demo', 1]]);
  t.true(result.ir.httpListeners.some((l) => l.tls?.chains.some((c) => c.serverNames.includes('demo.example.com'))));
});
