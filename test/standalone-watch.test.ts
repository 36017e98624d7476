// `weft run`'s directory watcher against the real Envoy and real files: a lone change is read at once (not held
// for the quiet time), changes right after a reload are coalesced, and what a read taken at once would lose
// (a file emptied or gone: an editor mid-write) is kept until the directory is quiet.
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from './helpers/net.js';
import { readyAfter, routesYaml, runnerFixture, startedAndReady, waitFor } from './helpers/standalone.js';
import { get, Load } from './helpers/traffic.js';

test('a lone change is served without waiting for the quiet time; a change right after it waits for it', async (t) => {
  // A quiet time far longer than the test: only a read taken at once can serve the new route.
  const { dir, port, runner } = await runnerFixture(t, ['alpha'], [{ name: 'first', prefix: '/a', backend: 'alpha' }], 'delta', 600_000);
  await runner.start();
  await startedAndReady(runner);
  t.is((await get(port, '/a/x')).status, 200);

  // A lone change: served although the quiet time is ten minutes.
  let gen = runner.generation;
  writeFileSync(path.join(dir, 'second.yaml'), routesYaml([{ name: 'second', prefix: '/b', backend: 'alpha' }]));
  await readyAfter(runner, gen);
  t.is((await get(port, '/b/x')).status, 200);

  // A change right after that reload is part of a burst: it waits for the quiet time.
  gen = runner.generation;
  writeFileSync(path.join(dir, 'third.yaml'), routesYaml([{ name: 'third', prefix: '/c', backend: 'alpha' }]));
  await sleep(300);
  t.is(runner.generation, gen, 'a change within the quiet time after a reload was applied before the directory was quiet');
  t.is((await get(port, '/c/x')).status, 404);
  t.deepEqual(runner.nacks, []);
});

test('after a quiet time, a new file is read at once; a file emptied or removed keeps its routes until the directory is quiet', async (t) => {
  const quietMs = 1_500;
  const { dir, port, runner } = await runnerFixture(t, ['alpha'], [{ name: 'first', prefix: '/a', backend: 'alpha' }], 'delta', quietMs);
  await runner.start();
  await startedAndReady(runner);
  await sleep(2 * quietMs);

  // 1. A lone new file (read at once: the test above shows it) is served.
  let gen = runner.generation;
  writeFileSync(path.join(dir, 'second.yaml'), routesYaml([{ name: 'second', prefix: '/b', backend: 'alpha' }]));
  await readyAfter(runner, gen);
  t.is((await get(port, '/b/x')).status, 200);
  await sleep(2 * quietMs);

  // 2. An editor truncating a file, then writing it again: the read taken at the truncation keeps the file's
  //    route, so /a never stops answering; the rewritten file (one more route) is applied.
  const load = new Load({ port, concurrency: 2, path: () => '/a/load', maxRequests: 40_000, pauseMs: 1 });
  t.teardown(() => load.stop());
  await load.atLeast(20);
  gen = runner.generation;
  const held = waitFor(runner, 'lossesHeld', () => true);
  writeFileSync(path.join(dir, 'routes.yaml'), '');
  const [files] = await held;
  t.is(files, 1);
  t.is(runner.generation, gen, 'the emptied file was applied by the read taken at once');
  writeFileSync(path.join(dir, 'routes.yaml'), routesYaml([{ name: 'first', prefix: '/a', backend: 'alpha' }, { name: 'third', prefix: '/c', backend: 'alpha' }]));
  await readyAfter(runner, gen);
  t.is((await get(port, '/c/x')).status, 200);
  await load.atLeast(load.requests + 20);
  await load.stop();
  t.deepEqual(load.failures, [], '/a failed while its file was rewritten');
  await sleep(2 * quietMs);

  // 3. A file removed for good: kept by the read taken at once, removed once the directory is quiet.
  gen = runner.generation;
  const heldAgain = waitFor(runner, 'lossesHeld', () => true);
  rmSync(path.join(dir, 'routes.yaml'));
  await heldAgain;
  t.is(runner.generation, gen, 'the removal was applied by the read taken at once');
  await eventually(async () => (await get(port, '/a/x')).status === 404, 20_000, '/a to answer 404 once its file is gone');
  t.true(runner.generation > gen);
  t.is((await get(port, '/b/x')).status, 200);
  t.deepEqual(runner.nacks, []);
});
