// The manifest parse takes a fast parser for files without problems and `yaml`'s positional parse for the
// rest: problems still name file, line (and column, for YAML), and both parses give the same manifests and
// lines on every YAML file of the repository.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../envoy/binary.js';
import { classifyManifests } from '../src/sources/kinds.js';
import { formatProblem, loadManifestDir, parseManifests } from '../src/sources/manifests.js';
import { parseDocumentsFast } from '../src/sources/yaml-fast.js';

const ROUTE = (name: string, extra = ''): string =>
  `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: default
spec:
  parentRefs: [{ name: gw }]
  rules:
    - backendRefs:
        - name: svc
          port: 80${extra}
`;

function tempDir(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-parse-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a YAML error names file, line and column; the file\'s other documents still load', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'routes.yaml');
  // The second document (lines 13-24) never closes its flow sequence of line 20: `yaml` sees it at line 21.
  writeFileSync(file, `# routes\n${ROUTE('good')}---\n${ROUTE('bad').replace('[{ name: gw }]', '[{ name: gw }')}---\n${ROUTE('after')}`);
  t.is(parseDocumentsFast(readFileSync(file, 'utf8')), undefined, 'the fast parse leaves a file with a YAML error');
  const loaded = loadManifestDir(dir);
  t.deepEqual(
    loaded.manifests.map((m) => [m.metadata.name, m.source.line]),
    [
      ['good', 2],
      ['after', 25],
    ],
  );
  t.deepEqual(loaded.problems.map(formatProblem), [`${file}:21: invalid YAML at column 3: Flow sequence in block collection must be sufficiently indented and end with a ]`]);
});

test('a schema error found after the fast parse names file, document line and field', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'routes.yaml');
  const text = `${ROUTE('first')}---\n# a misspelt field\n\n${ROUTE('second', '\n          weigth: 1')}---\nkind: HTTPRoute\nmetadata: { name: no-api-version }\n`;
  writeFileSync(file, text);
  t.truthy(parseDocumentsFast(text), 'the fast parse takes this file');
  const loaded = loadManifestDir(dir);
  t.deepEqual(loaded.problems.map(formatProblem), [`${file}:27 HTTPRoute no-api-version: field apiVersion: missing or not a string`]);
  const { problems } = classifyManifests(loaded.manifests);
  t.deepEqual(problems.map(formatProblem), [`${file}:12 HTTPRoute default/second: field spec.rules[0].backendRefs[0].weigth: unknown field; the object is ignored`]);
});

test('an alias of no anchor is a problem with file and line, not an exception', (t) => {
  const { manifests, problems } = parseManifests('f.yaml', `${ROUTE('good')}---\napiVersion: v1\nkind: Service\nmetadata: { name: *nothing }\n`);
  t.deepEqual(
    manifests.map((m) => m.metadata.name),
    ['good'],
  );
  t.deepEqual(problems.map(formatProblem), ['f.yaml:12: invalid YAML: Unresolved alias (the anchor must be set before the alias): nothing']);
});

/** Every manifest file under `dir`, recursively (not the golden outputs, *.out.yaml). */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && /\.ya?ml$/.test(d.name) && !d.name.endsWith('.out.yaml'))
    .map((d) => path.join(d.parentPath, d.name));
}

// Document layouts whose start line the fast parse works out itself: comments, markers, CRLF, a BOM.
const LAYOUTS = [
  '# c\n---\na: 1\n',
  'a: 1\n---\n# c\n\nb: 2\n',
  '\n\n  a: 1\n',
  '--- # c\n\n  a: 1\n',
  '---\n---\na: 1\n',
  'a: 1\n...\n---\nb: 1\n',
  'a: 1\n...\n# c\nb: 1\n',
  'a: 1\n---\n',
  '--- !!map\n&x\nb: 1\n',
  'a: 1\r\n# c\r\n---\r\n\r\nb: 2\r\n',
  '\uFEFF---\na: 1\n',
  '--- { a: 1 }\n--- [a]\n--- |\n  text\n',
  '%YAML 1.1\n---\na: yes\n',
  'a: 0x1F\nb: 0o17\nc: 1e3\nd: .inf\ne: ~\nf: 2024-01-01\ng: 1_000\nh: !!str 1\n',
];

test('the fast and the positional parse give the same manifests, lines and problems', (t) => {
  const root = projectRoot();
  const files = [...yamlFiles(path.join(root, 'examples')), ...yamlFiles(path.join(root, 'test', 'testdata'))];
  t.true(files.length > 50, `${files.length} files`);
  let fast = 0;
  for (const [name, text] of [...files.map((f) => [f, readFileSync(f, 'utf8')]), ...LAYOUTS.map((l, i) => [`layout ${i}`, l])]) {
    if (parseDocumentsFast(text)) fast++;
    t.deepEqual(parseManifests(name, text), parseManifests(name, text, { withPositions: true }), name);
  }
  t.true(fast > files.length / 2, `${fast} of ${files.length + LAYOUTS.length} took the fast parse`);
});
