// One bpffs per node of the local cluster, mounted outside /sys: the node's kubelet (weft-cni) pins the datapath maps
// there and the node's agent (`weft agent --datapath`) opens them. The agent runs under `ip netns exec`, which mounts a
// fresh sysfs on /sys in its own mount namespace and so hides /sys/fs/bpf; a mount elsewhere, made before the agent
// starts, is the same bpffs instance in both mount namespaces (as the hostPath mounts of weft-cni and the agent's
// pod share one on a real node).
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where node `nodeName`'s bpffs is mounted: under the cluster's state directory, so down finds it. */
export const nodeBpffs = (stateDir: string, nodeName: string) => join(stateDir, 'bpf', nodeName);

/** The pin root weft-cni and the agent share (a directory inside the node's bpffs). */
export const nodeBpfPinRoot = (stateDir: string, nodeName: string) => join(nodeBpffs(stateDir, nodeName), 'weft');

export async function mountNodeBpffs(stateDir: string, nodeName: string): Promise<string> {
  const dir = nodeBpffs(stateDir, nodeName);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!(await bpffsMountsUnder(stateDir)).includes(dir)) await run('mount', ['-t', 'bpf', 'bpf', dir]);
  return dir;
}

/** Mount points of bpffs instances under the cluster's state directory (also those a crashed `up` left). */
async function bpffsMountsUnder(stateDir: string): Promise<string[]> {
  const prefix = `${join(stateDir, 'bpf')}/`;
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'bpf')
    // /proc/mounts escapes spaces and other specials as octal (\040).
    .map((f) => f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith(prefix));
}

/** Unmounts every node bpffs of the cluster (its pinned objects go with it) and removes the mount points. */
export async function unmountNodeBpffs(stateDir: string): Promise<void> {
  for (const dir of await bpffsMountsUnder(stateDir)) {
    // Lazily if something still holds it: the mount leaves the namespace at once either way.
    await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
  }
  await rm(join(stateDir, 'bpf'), { recursive: true, force: true });
}
