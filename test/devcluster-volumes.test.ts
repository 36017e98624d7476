// Dev kubelet volumes: the bind mounts a container's volumeMounts ask for are made in the process's own mount
// namespace (as `ip netns exec` gives it one), visible to the program at mountPath and not on the host.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { containerMounts, withMounts } from '../src/devcluster/kubelet/volumes.js';

const run = promisify(execFile);
const rootTest = process.getuid?.() === 0 ? test : test.skip;
if (process.getuid?.() !== 0) console.log('volume mount test skipped: needs root for a mount namespace (CI runs as root)');

test('containerMounts maps each volumeMount to its volume directory, with subPath, and names an unknown volume', (t) => {
  const volumes = new Map([['certs', '/state/volumes/u1/certs'], ['conf', '/state/volumes/u1/conf']]);
  t.deepEqual(containerMounts({ name: 'c', volumeMounts: [{ name: 'certs', mountPath: '/etc/certs' }, { name: 'conf', mountPath: '/etc/x', subPath: 'a/b' }] }, volumes), [
    { source: '/state/volumes/u1/certs', target: '/etc/certs' },
    { source: '/state/volumes/u1/conf/a/b', target: '/etc/x' },
  ]);
  t.throws(() => containerMounts({ name: 'c', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, volumes), { message: /container c: volumeMount nope names no volume/ });
  t.deepEqual(withMounts(['/bin/true'], []), ['/bin/true']);
});

rootTest('withMounts: the program reads the volume at its mountPath; the host does not see the file there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-vol-'));
  const source = join(dir, 'source');
  const target = join(dir, 'mnt', 'deep');
  await run('mkdir', ['-p', source]);
  writeFileSync(join(source, 'crt'), 'certificate bytes');
  // unshare --mount --propagation slave: the namespace `ip netns exec` makes, without needing a network namespace.
  const argv = withMounts(['cat', join(target, 'crt')], [{ source, target }]);
  const { stdout } = await run('unshare', ['--mount', '--propagation', 'slave', ...argv]);
  t.is(stdout, 'certificate bytes');
  t.true(existsSync(target), 'the mount point is created');
  // A mount over a parent of another volume's source (CoreDNS mounts its ConfigMap on /root, where the
  // state and the binaries are): the program itself is hidden too.
  const other = join(source, 'inner');
  await run('mkdir', ['-p', other]);
  writeFileSync(join(other, 'Corefile'), 'config bytes');
  await run('cp', ['/usr/bin/cat', join(dir, 'cat')]);
  const shadowing = withMounts([join(dir, 'cat'), join(dir, 'b', 'Corefile')], [{ source: other, target: join(dir, 'b') }, { source: join(dir, 'empty'), target: dir }]);
  await run('mkdir', ['-p', join(dir, 'empty')]);
  t.is((await run('unshare', ['--mount', '--propagation', 'slave', ...shadowing])).stdout, 'config bytes');
  t.false(existsSync(join(target, 'crt')), 'the bind mount stays inside the process\'s mount namespace');
});
