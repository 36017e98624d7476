// isRunning (src/devcluster/processes.ts): the liveness check that tells a control-plane process has exited and
// guards against signalling a recycled PID.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { isRunning } from '../src/devcluster/processes.js';
import { eventually } from './helpers/net.js';

test('a live process runs its binary and no other; a zombie and an ended process do not run', async (t) => {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => void sleeper.kill('SIGKILL'));
  const proc = { name: 'sleeper', pid: sleeper.pid!, binary: 'sleep', log: '/dev/null' };
  t.true(await isRunning(proc));
  t.false(await isRunning({ ...proc, binary: 'kube-apiserver' }), 'another binary under that PID is not it');

  // `sleep 0`'s parent becomes `sleep 5`, which never reaps it: a zombie (empty cmdline, state Z) for five seconds.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const zombie = { name: 'zombie', pid: Number(line.toString().trim()), binary: 'sleep', log: '/dev/null' };
  await eventually(async () => {
    const stat = await readFile(`/proc/${zombie.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  }, 5_000, 'the zombie');
  t.false(await isRunning(zombie), 'a zombie has exited');

  sleeper.kill('SIGKILL');
  await once(sleeper, 'exit');
  t.false(await isRunning(proc), 'an ended process');
});
