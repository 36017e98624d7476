// cgroup v2 for the socket-level load balancer: where the unified hierarchy is mounted, and moving a
// process into a cgroup (pods' processes are what its programs apply to).
import { readFileSync, mkdirSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

/** The cgroup2 mount point (e.g. /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts), or undefined. */
export function cgroup2Root(mounts = readFileSync('/proc/mounts', 'utf8')): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** Creates a cgroup under the cgroup2 root (idempotent) and returns its path. */
export function ensureCgroup(root: string, relative: string): string {
  const dir = path.join(root, relative);
  if (!dir.startsWith(root + path.sep)) throw new Error(`cgroup ${relative}: not below ${root}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Moves a process into a cgroup. */
export function moveToCgroup(cgroupPath: string, pid: number): void {
  writeFileSync(path.join(cgroupPath, 'cgroup.procs'), `${pid}\n`);
}

/** Removes an empty cgroup; false when it was not there. */
export function removeCgroup(cgroupPath: string): boolean {
  if (!existsSync(cgroupPath)) return false;
  rmdirSync(cgroupPath);
  return true;
}
