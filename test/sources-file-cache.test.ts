// Reloading a directory re-parses only changed files, and a file that turns into invalid YAML keeps
// serving what it said before (reported), so a half-written file never drops routes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadManifestDir, ManifestFileCache } from '../src/sources/manifests.js';

const service = (name: string): string => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: default }\nspec:\n  ports: [{ port: 80 }]\n`;

test('a changed file is re-read; a good file turned into invalid YAML keeps its last good objects, with a problem', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cache = new ManifestFileCache();
  const file = path.join(dir, 'svc.yaml');

  writeFileSync(file, service('one'));
  let loaded = loadManifestDir(dir, cache);
  t.deepEqual(loaded.manifests.map((m) => m.metadata.name), ['one']);
  t.deepEqual(loaded.problems, []);

  writeFileSync(file, service('two'));
  loaded = loadManifestDir(dir, cache);
  t.deepEqual(loaded.manifests.map((m) => m.metadata.name), ['two'], 'the change is seen');

  writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: { name: three\n');
  loaded = loadManifestDir(dir, cache);
  t.deepEqual(loaded.manifests.map((m) => m.metadata.name), ['two'], 'the last good version still stands');
  t.is(loaded.problems.length, 1);
  t.regex(loaded.problems[0].message, /^invalid YAML .*; serving this file as it was before the error$/);
  t.is(loaded.problems[0].source.file, file);

  // Without a cache (as `weft translate` reads), the same file is simply reported and contributes nothing.
  const uncached = loadManifestDir(dir);
  t.deepEqual(uncached.manifests, []);
  t.regex(uncached.problems[0].message, /^invalid YAML/);

  // A new file that was never valid is reported and contributes nothing, cache or not.
  writeFileSync(path.join(dir, 'new.yaml'), 'kind: [\n');
  loaded = loadManifestDir(dir, cache);
  t.true(loaded.problems.some((p) => p.source.file.endsWith('new.yaml') && !p.message.includes('as it was before')));

  // Fixing the file replaces the kept version; removing it forgets it.
  writeFileSync(file, service('four'));
  t.deepEqual(loadManifestDir(dir, cache).manifests.map((m) => m.metadata.name), ['four']);
  rmSync(file);
  t.deepEqual(loadManifestDir(dir, cache).manifests, []);
});

test('holdLosses (a read taken at once after a change): what a half-written file would lose is kept until a read without it', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cache = new ManifestFileCache();
  const file = path.join(dir, 'svc.yaml');
  const names = (l: { manifests: Array<{ metadata: { name: string } }> }): string[] => l.manifests.map((m) => m.metadata.name);
  writeFileSync(file, `${service('one')}---\n${service('two')}`);
  t.deepEqual(names(loadManifestDir(dir, cache)), ['one', 'two']);
  t.true(cache.takeChanged());
  const hold = { holdLosses: true };

  // Emptied (truncated before being written again), fewer documents, cut mid-line, not YAML: held.
  for (const text of ['', service('one'), `${service('one')}---\napiVersion: v1\nkind: Serv`, `${service('one')}---\nkind: [\n`]) {
    writeFileSync(file, text);
    const held = loadManifestDir(dir, cache, hold);
    t.deepEqual(names(held), ['one', 'two'], JSON.stringify(text));
    t.is(held.held, 1);
    t.deepEqual(held.problems, []);
    t.false(cache.takeChanged(), 'a held read changes nothing');
  }
  // A complete edit that loses nothing is taken at once.
  writeFileSync(file, `${service('one')}---\n${service('three')}`);
  let loaded = loadManifestDir(dir, cache, hold);
  t.deepEqual(names(loaded), ['one', 'three']);
  t.is(loaded.held, 0);
  t.true(cache.takeChanged());
  // A new file still empty (its creation seen before its write) is held: nothing changed.
  writeFileSync(path.join(dir, 'new.yaml'), '');
  loaded = loadManifestDir(dir, cache, hold);
  t.is(loaded.held, 1);
  t.false(cache.takeChanged());
  // A new file cut mid-line contributes nothing yet; complete, it is taken.
  writeFileSync(path.join(dir, 'new.yaml'), 'apiVersion: v1\nkind: Serv');
  loaded = loadManifestDir(dir, cache, hold);
  t.deepEqual(names(loaded), ['one', 'three']);
  t.is(loaded.held, 1);
  writeFileSync(path.join(dir, 'new.yaml'), service('four'));
  t.deepEqual(names(loadManifestDir(dir, cache, hold)), ['four', 'one', 'three']);
  // A file gone is held, then removed by a read without holdLosses; so is an emptied file.
  rmSync(path.join(dir, 'new.yaml'));
  loaded = loadManifestDir(dir, cache, hold);
  t.deepEqual(names(loaded).sort(), ['four', 'one', 'three']);
  t.is(loaded.held, 1);
  cache.takeChanged();
  t.deepEqual(names(loadManifestDir(dir, cache)), ['one', 'three']);
  t.true(cache.takeChanged());
  writeFileSync(file, '');
  t.deepEqual(names(loadManifestDir(dir, cache, hold)), ['one', 'three']);
  t.deepEqual(names(loadManifestDir(dir, cache)), []);
  t.true(cache.takeChanged());
  // Nothing changed: takeChanged says so (the runner then skips translating).
  loadManifestDir(dir, cache);
  t.false(cache.takeChanged());
});
