// Dev kubelet volumes: the bind mounts a container's volumeMounts ask for are made in the process's own mount
// namespace (as `ip netns exec` gives it one), visible to the program at mountPath and not on the host.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { containerMounts, hostPathSource, mountsForHostProcess, withMounts } from '../src/devcluster/kubelet/volumes.js';

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

test('mountsForHostProcess binds back the paths a mount would hide (an emptyDir on /tmp over a checkout in /tmp) and skips mounts under /sys', (t) => {
  const mounts = [
    { source: '/s/tmp', target: '/tmp' },
    { source: '/s/cfg', target: '/etc/weft/' },
    { source: '/s/bpf', target: '/sys/fs/bpf' },
  ];
  const safe = mountsForHostProcess(mounts, ['/tmp/clean', '/var/lib/kubelet/state']);
  t.deepEqual(safe.mounts, [mounts[0], mounts[1], { source: '/tmp/clean', target: '/tmp/clean' }]);
  t.deepEqual(safe.skipped, [mounts[2]]);
  t.deepEqual(mountsForHostProcess([{ source: '/s', target: '/' }], ['/opt/x']).mounts.at(-1), { source: '/opt/x', target: '/opt/x' });
});

test('hostPath volumes resolve inside the node\'s own host root, never the machine\'s; types are checked', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'weft-hostpath-'));
  const node = { hostRoot: join(base, 'host') };
  const vol = (path: string, type?: string) => ({ name: 'v', hostPath: { path, ...(type ? { type } : {}) } });
  t.is(hostPathSource(vol('/opt/cni/bin', 'DirectoryOrCreate'), node), join(base, 'host/opt/cni/bin'));
  t.true(existsSync(join(base, 'host/opt/cni/bin')));
  t.is(hostPathSource(vol('/run/x.sock', 'FileOrCreate'), node), join(base, 'host/run/x.sock'));
  t.throws(() => hostPathSource(vol('/etc/missing', 'Directory'), node), { message: /volume v: hostPath \/etc\/missing of type Directory does not exist on the node/ });
  t.throws(() => hostPathSource(vol('/run/x.sock', 'Directory'), node), { message: /of type Directory does not exist/ });
  t.throws(() => hostPathSource(vol('/dev/kvm', 'CharDevice'), node), { message: /hostPath type CharDevice is not supported/ });
  t.throws(() => hostPathSource(vol('relative'), node), { message: /is not absolute/ });
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
  // A path the process needs under a mount (this checkout under an emptyDir on /tmp) is bound back.
  await run('mkdir', ['-p', join(dir, 'kept'), join(dir, 'empty2')]);
  writeFileSync(join(dir, 'kept', 'state'), 'kept bytes');
  const safe = mountsForHostProcess([{ source: join(dir, 'empty2'), target: dir }], [join(dir, 'kept')]);
  const boundBack = withMounts([join(dir, 'cat'), join(dir, 'kept', 'state')], safe.mounts);
  t.is((await run('unshare', ['--mount', '--propagation', 'slave', ...boundBack])).stdout, 'kept bytes');
});
