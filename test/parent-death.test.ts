// A Weft process killed with SIGKILL takes its Envoy with it (the parent-death signal, envoy/parent-death.ts):
// no Envoy left holding the listener and admin ports, and a Weft started again on the same directory comes up.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parentDeathSupported } from '../envoy/parent-death.js';
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

/** Kills `child` with SIGKILL and asserts its Envoy is gone (generous bound) and no longer holds `ports`. */
async function killAndExpectNoEnvoy(t: ExecutionContext, child: { kill(s: NodeJS.Signals): boolean }, envoy: StartedEnvoy, ports: number[]): Promise<void> {
  t.true(existsSync(`/proc/${envoy.pid}`), 'Envoy runs before the kill');
  // Its working directory (bootstrap) is left behind by a killed Weft: removed here.
  const argv = readFileSync(`/proc/${envoy.pid}/cmdline`, 'utf8').split('\0');
  const bootstrap = argv[argv.indexOf('-c') + 1];
  if (bootstrap) t.teardown(() => rmSync(path.dirname(bootstrap), { recursive: true, force: true }));
  t.true(await listening(Number(new URL(envoy.admin).port)), "Envoy's admin port is open before the kill");
  child.kill('SIGKILL');
  await eventually(() => !existsSync(`/proc/${envoy.pid}`), 20_000, `Envoy (pid ${envoy.pid}) to exit after its parent was SIGKILLed`);
  for (const port of [Number(new URL(envoy.admin).port), ...ports]) t.false(await listening(port), `port ${port} is free`);
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
  await killAndExpectNoEnvoy(t, first.child, envoy, [port, first.adminPort]);

  // The same configuration again: the listener port is free, so it is programmed and serves.
  const second = await startWeftRun(t, files);
  t.is((await get(port, '/x')).backend, 'alpha');
  t.not(second.envoy()?.pid, envoy.pid);
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
