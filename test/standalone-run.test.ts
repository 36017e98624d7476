// `weft run -c DIR` against the real Envoy: serving a directory, hot reload under load, bad input,
// a vanished directory, Envoy dying, and the command as a child process.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { warmingResources } from '../envoy/process.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { gatewayYaml, readyAfter, startedAndReady, replaceFile, routesYaml, runnerFixture, serviceYaml, waitFor } from './helpers/standalone.js';
import { get, Load } from './helpers/traffic.js';
import { startedEnvoy } from './helpers/weft-process.js';

const serveAndReload = test.macro(async (t, protocol: 'delta' | 'sotw') => {
  const { dir, port, backends, runner, logs } = await runnerFixture(t, ['alpha', 'beta'], [{ name: 'first', prefix: '/a', backend: 'alpha' }], protocol);
  await runner.start();
  await startedAndReady(runner);

  const first = await get(port, '/a/x');
  t.is(first.status, 200);
  t.is(first.backend, 'alpha');
  const pid = runner.envoy?.pid;
  t.truthy(pid);

  // Steady load while the route file is edited twice.
  const paths = ['/a/load'];
  const load = new Load({ port, concurrency: 4, path: (loop, seq) => paths[(loop + seq) % paths.length], maxRequests: 40_000, pauseMs: 1 });
  t.teardown(() => load.stop());
  await load.atLeast(50);

  // 1. A second route to a second backend.
  let gen = runner.generation;
  replaceFile(path.join(dir, 'routes.yaml'), routesYaml([{ name: 'first', prefix: '/a', backend: 'alpha' }, { name: 'second', prefix: '/b', backend: 'beta' }]));
  await readyAfter(runner, gen);
  const second = await get(port, '/b/x');
  t.is(second.status, 200);
  t.is(second.backend, 'beta');
  paths.push('/b/load');
  await load.atLeast(100);

  // 2. The first route now goes to beta too.
  gen = runner.generation;
  replaceFile(path.join(dir, 'routes.yaml'), routesYaml([{ name: 'first', prefix: '/a', backend: 'beta' }, { name: 'second', prefix: '/b', backend: 'beta' }]));
  await readyAfter(runner, gen);
  const betaBefore = load.count('/a/load', 'beta');
  await load.atLeast(100);
  await load.stop();

  t.is((await get(port, '/a/x')).backend, 'beta');
  t.true(load.count('/a/load', 'alpha') > 0, 'load saw /a served by alpha before the edit');
  t.true(load.count('/a/load', 'beta') > betaBefore, 'load saw /a served by beta after the edit');
  t.true(load.count('/b/load', 'beta') > 0, 'load saw the new /b route');
  t.deepEqual(load.failures, [], 'no request failed during the reloads');
  t.is(runner.envoy?.pid, pid, 'Envoy was not restarted');
  t.is(runner.envoyRestarts, 0);
  t.deepEqual(runner.nacks, []);
  t.deepEqual(warmingResources(await runner.envoy!.configDump()), []);

  // 3. Bad input: a malformed YAML file and an HTTPRoute with an invalid regular expression.
  gen = runner.generation;
  const broken = path.join(dir, 'broken.yaml');
  const badRoute = path.join(dir, 'bad-route.yaml');
  writeFileSync(broken, 'kind: [unclosed\n  : : :\n');
  writeFileSync(
    badRoute,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad-regex, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules:
  - matches: [{ path: { type: RegularExpression, value: "/(unclosed" } }]
    backendRefs: [{ name: alpha, port: 80 }]
`,
  );
  await eventually(
    () => runner.generation > gen && runner.last?.problems.some((p) => p.source.file === broken) && runner.last.statuses.some((s) => s.name === 'bad-regex') && runner.isReady(),
    20_000,
    'a reload that sees both bad files',
  );
  // The malformed file is reported as a problem naming the file, and logged as a warning.
  t.true(runner.last!.problems.some((p) => p.source.file === broken));
  t.true(logs.some((l) => l.level === 40 && l.msg?.startsWith(`${broken}:`)), 'the malformed file is logged with its name');
  // The invalid route is not accepted, and its status change is logged with its file.
  const badStatus = runner.last!.statuses.find((s) => s.name === 'bad-regex')!;
  t.regex(JSON.stringify(badStatus.status), /"type":"Accepted","status":"False"/);
  t.true(logs.some((l) => l.msg?.includes(badRoute) && l.msg.includes('HTTPRoute default/bad-regex') && l.msg.includes('Accepted=False')), 'the rejected route is logged with its file');
  // Fixed in place: the same route's change of status is logged against what it was; an unchanged status is not.
  const logged = logs.length;
  gen = runner.generation;
  writeFileSync(badRoute, readFileSync(badRoute, 'utf8').replace('/(unclosed', '/fixed/.*'));
  await eventually(() => runner.generation > gen && runner.last?.statuses.some((s) => s.name === 'bad-regex' && JSON.stringify(s.status).includes('"type":"Accepted","status":"True"')), 20_000, 'the fixed route accepted');
  const since = logs.slice(logged).map((l) => l.msg ?? '');
  t.true(since.some((m) => m.includes('HTTPRoute default/bad-regex') && m.includes('Accepted=True') && m.includes('was False')), 'the fixed route\'s change is logged');
  t.false(since.some((m) => m.includes('HTTPRoute default/first') || m.includes('HTTPRoute default/second') || m.includes('Gateway ')), 'nothing is logged for objects whose status did not change');
  writeFileSync(badRoute, readFileSync(badRoute, 'utf8').replace('/fixed/.*', '/(unclosed'));
  await eventually(() => runner.last?.statuses.some((s) => s.name === 'bad-regex' && JSON.stringify(s.status).includes('"type":"Accepted","status":"False"')), 20_000, 'the route broken again');
  // Everything else keeps serving.
  t.is((await get(port, '/a/x')).backend, 'beta');
  t.is((await get(port, '/b/x')).backend, 'beta');
  t.deepEqual(runner.nacks, [], 'Envoy rejected nothing');
  t.is(runner.envoy?.pid, pid);

  // 4. The directory vanishes: the last good state keeps being served; it comes back: reloaded.
  const reloadFailed = waitFor(runner, 'reloadFailed', () => true);
  rmSync(dir, { recursive: true, force: true });
  const [error] = await reloadFailed;
  t.regex(error.message, /cannot read manifest directory/);
  t.is((await get(port, '/a/x')).backend, 'beta', 'still serving the last good configuration');
  gen = runner.generation;
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'gateway.yaml'), gatewayYaml(port));
  writeFileSync(path.join(dir, 'backends.yaml'), serviceYaml(backends));
  writeFileSync(path.join(dir, 'routes.yaml'), routesYaml([{ name: 'first', prefix: '/a', backend: 'alpha' }]));
  await eventually(() => runner.generation > gen && runner.last?.statuses.some((s) => s.name === 'first') && runner.last.statuses.length === 3 && runner.isReady(), 20_000, 'a reload of the recreated directory');
  t.is((await get(port, '/a/x')).backend, 'alpha');
  t.is((await get(port, '/b/x')).status, 404, 'the route that is gone no longer serves');
  t.true(logs.some((l) => l.msg?.includes('HTTPRoute default/second') && l.msg.includes('Accepted gone (was True/Accepted)')), 'a route that is gone is logged as gone');
  t.deepEqual(runner.nacks, []);
  t.is(runner.envoy?.pid, pid);
});

for (const protocol of ['delta', 'sotw'] as const) {
  test(`weft run (${protocol}) serves a directory, hot-reloads it under load without a failed request, and keeps serving around bad input`, serveAndReload, protocol);
}

test('weft run restarts Envoy when it dies, and traffic works again', async (t) => {
  const { port, runner } = await runnerFixture(t, ['alpha'], [{ name: 'first', prefix: '/', backend: 'alpha' }]);
  await runner.start();
  await startedAndReady(runner);
  t.is((await get(port, '/')).backend, 'alpha');
  const pid = runner.envoy!.pid!;
  process.kill(pid, 'SIGKILL');
  await eventually(() => runner.envoy?.pid !== pid && runner.envoyRestarts === 1, 30_000, 'the supervisor to restart Envoy');
  await eventually(async () => (await get(port, '/')).backend === 'alpha', 30_000, 'traffic through the restarted Envoy');
  t.not(runner.envoy?.pid, pid);
  t.is(runner.envoyRestarts, 1);
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the killed Envoy is gone');
  await eventually(() => runner.divergence() === undefined, 20_000, `the restarted Envoy to ACK everything (${runner.divergence()})`);
  t.deepEqual(runner.nacks, []);
  t.deepEqual(warmingResources(await runner.envoy!.configDump()), []);
});

const weftBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/weft');

const cli = test.macro(async (t, signal: 'SIGTERM' | 'SIGINT') => {
  const backend = await startEchoBackend('alpha');
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-run-cli-'));
  writeFileSync(path.join(dir, 'gateway.yaml'), gatewayYaml(port));
  writeFileSync(path.join(dir, 'backends.yaml'), serviceYaml([backend]));
  writeFileSync(path.join(dir, 'routes.yaml'), routesYaml([{ name: 'first', prefix: '/', backend: 'alpha' }]));
  const child = spawn(weftBin, ['run', '-c', dir, '--admin-port', String(adminPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await eventually(() => stdout.includes('ready') || child.exitCode !== null, 30_000, 'a ready line').catch((err: Error) => {
    throw new Error(`${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`);
  });
  const readyLines = stdout.split('\n').filter((l) => l.includes('ready'));
  t.is(readyLines.length, 1, stdout);
  t.regex(readyLines[0], /^weft: ready: 1 Gateway programmed, Envoy ACKed version [0-9a-f]+$/);
  t.is((await get(port, '/x')).backend, 'alpha');
  const debug = await fetch(`http://127.0.0.1:${adminPort}/debug/xds`);
  t.is(debug.status, 200);

  const envoyPid = startedEnvoy(stderr)?.pid;
  t.truthy(envoyPid, 'the log names the Envoy pid');
  t.notThrows(() => process.kill(envoyPid!, 0), 'Envoy is running');

  child.kill(signal);
  const exit = await exited;
  t.is(exit.signal, null);
  t.is(exit.code, 0, stderr.slice(-4000));
  t.throws(() => process.kill(envoyPid!, 0), { code: 'ESRCH' }, 'no Envoy left behind');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`bin/weft run prints a ready line, serves, and exits 0 on ${signal} leaving no Envoy behind`, cli, signal);
}
