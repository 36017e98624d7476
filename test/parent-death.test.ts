// A Weft process killed with SIGKILL takes its Envoy with it (the parent-death signal, envoy/parent-death.ts):
// no Envoy left holding the listener and admin ports, and a Weft started again on the same directory comes up.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { parentDeathSupported } from '../envoy/parent-death.js';
import { OWNER_FILE, processStart, removeStaleWorkDirs, WORK_DIR_PREFIX } from '../envoy/work-dir.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { gatewayYaml, routesYaml, serviceYaml } from './helpers/standalone.js';
import { get } from './helpers/traffic.js';
import { startedEnvoy, startWeftRun, weftBin, type StartedEnvoy } from './helpers/weft-process.js';

const supported = parentDeathSupported();
const linuxTest = supported ? test : test.skip;
if (!supported) console.log('parent-death tests skipped: needs Linux with util-linux setpriv (scripts/setup.sh installs it)');

/** Whether something on 127.0.0.1 still accepts connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Kills `child` with SIGKILL and asserts its Envoy is gone (generous bound) and no longer holds `ports`.
 * Returns Envoy's working directory, which the killed Weft leaves behind (until a Weft removes it).
 */
async function killAndExpectNoEnvoy(t: ExecutionContext, child: { kill(s: NodeJS.Signals): boolean }, envoy: StartedEnvoy, ports: number[]): Promise<string> {
  t.true(existsSync(`/proc/${envoy.pid}`), 'Envoy runs before the kill');
  const argv = readFileSync(`/proc/${envoy.pid}/cmdline`, 'utf8').split('\0');
  const workDir = path.dirname(argv[argv.indexOf('-c') + 1]);
  t.true(existsSync(path.join(workDir, OWNER_FILE)), `Envoy's working directory ${workDir} names its owner`);
  // Removed by the next Weft to start an Envoy; here too, should the test stop before that.
  t.teardown(() => rmSync(workDir, { recursive: true, force: true }));
  t.true(await listening(Number(new URL(envoy.admin).port)), "Envoy's admin port is open before the kill");
  child.kill('SIGKILL');
  await eventually(() => !existsSync(`/proc/${envoy.pid}`), 20_000, `Envoy (pid ${envoy.pid}) to exit after its parent was SIGKILLed`);
  for (const port of [Number(new URL(envoy.admin).port), ...ports]) t.false(await listening(port), `port ${port} is free`);
  // Not asserted that it is still there: any other Weft starting an Envoy on this machine (a concurrent test) may
  // already have removed it, its owner being dead.
  return workDir;
}

linuxTest('a SIGKILLed weft run takes its Envoy with it, and weft run starts again cleanly on the same ports', async (t) => {
  const backend = await startEchoBackend('alpha');
  t.teardown(() => backend.close());
  const port = await freePort();
  const files = { 'gateway.yaml': gatewayYaml(port), 'backends.yaml': serviceYaml([backend]), 'routes.yaml': routesYaml([{ name: 'r', prefix: '/', backend: 'alpha' }]) };

  const first = await startWeftRun(t, files);
  t.is((await get(port, '/x')).backend, 'alpha');
  const envoy = first.envoy();
  if (!envoy) return t.fail(`no "envoy started" line in the log:\n${first.stderr().slice(-2000)}`);
  const leftover = await killAndExpectNoEnvoy(t, first.child, envoy, [port, first.adminPort]);

  // The same configuration again: the listener port is free, so it is programmed and serves.
  const second = await startWeftRun(t, files);
  t.is((await get(port, '/x')).backend, 'alpha');
  t.not(second.envoy()?.pid, envoy.pid);
  t.false(existsSync(leftover), 'the next weft run removed the dead one\'s Envoy working directory');
});

test('stale Envoy working directories: removed when their owner is gone, kept when it lives or is not named', async (t) => {
  const parent = mkdtempSync(path.join(tmpdir(), 'weft-stale-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dir = (name: string, owner?: object): string => {
    const d = path.join(parent, WORK_DIR_PREFIX + name);
    mkdirSync(d);
    if (owner) writeFileSync(path.join(d, OWNER_FILE), JSON.stringify(owner));
    return d;
  };
  // A process that has exited: its PID names no process now (or, reused, one with another start time).
  const gone = spawn('true');
  await new Promise((resolve) => gone.once('exit', resolve));
  const selfStart = processStart(process.pid);
  t.not(selfStart, null, 'this process\'s start time (/proc/self/stat)');
  const dead = dir('dead', { pid: gone.pid, start: '1' });
  const reused = dir('reused', { pid: process.pid, start: `${selfStart}0` });
  const live = dir('live', { pid: process.pid, start: selfStart });
  const unnamed = dir('unnamed');
  const other = path.join(parent, 'not-weft');
  mkdirSync(other);
  writeFileSync(path.join(other, OWNER_FILE), JSON.stringify({ pid: gone.pid, start: '1' }));

  t.deepEqual(removeStaleWorkDirs(parent).sort(), [dead, reused].sort());
  t.deepEqual([dead, reused, live, unnamed, other].map(existsSync), [false, false, true, true, true]);
});

linuxTest("a SIGKILLed weft envoy (the node's Envoy in Kubernetes mode) takes its Envoy with it", async (t) => {
  // No agent: Envoy starts and opens its admin port without its xDS server (it keeps retrying the socket).
  const child = spawn(weftBin, ['envoy', '--node', 'parent-death', '--xds-socket', `/tmp/weft-parent-death-${process.pid}.sock`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const envoy = await eventually(() => startedEnvoy(err), 30_000, `weft envoy to start Envoy (stdout: ${out.slice(-500)})`);
  await killAndExpectNoEnvoy(t, child, envoy, []);
});
