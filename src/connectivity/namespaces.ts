// The standalone connectivity test's network: a "node" namespace (no route out of it) holding the host side
// of each pod's veth, and one namespace per pod, all named after the run. Pods get 10.98.0.<n>/32 routed
// through their veth, with the node's address 10.98.0.1 (on the node's loopback) as their gateway. These
// addresses exist only inside the namespaces created here.
import { spawn, type ChildProcess } from 'node:child_process';
import { diesWithParent } from '../../envoy/parent-death.js';
import { createNamespace, deleteNamespace, ip, ipIn } from '../devcluster/netns.js';
import type { Cleanup } from './cleanup.js';

export const NAMESPACE_PREFIX = 'wconn-';
export const NODE_IP = '10.98.0.1';
/** Every long-lived process of a run carries its run id in this environment variable (to find leftovers by). */
export const RUN_ENV = 'WEFT_CONNECTIVITY_RUN';

/** Where a process runs: a namespace, and optionally a cgroup v2 it joins before it starts. */
export interface Place {
  netns: string;
  cgroup?: string;
}

export interface Pod {
  name: string;
  netns: string;
  /** The host-side veth, in the node namespace. */
  hostIf: string;
  ip: string;
}

/** Command and arguments that run `cmd` in the place's namespace (and cgroup). */
export function netnsCommand(place: Place, cmd: string[]): [string, string[]] {
  if (!place.cgroup) return ['ip', ['netns', 'exec', place.netns, ...cmd]];
  // The cgroup is joined before `ip netns exec` (which remounts /sys for the namespace); exec keeps the PID.
  return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"', place.cgroup, place.netns, ...cmd]];
}

export class PodNetwork {
  readonly node: string;
  readonly pods = new Map<string, Pod>();

  constructor(readonly runId: string, private readonly cleanup: Cleanup) {
    this.node = `${NAMESPACE_PREFIX}${runId}-node`;
  }

  get nodeNsPath(): string {
    return `/var/run/netns/${this.node}`;
  }

  async createNode(): Promise<void> {
    await this.namespace(this.node);
    await ipIn(this.node, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo');
    await run(this.node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  }

  async addPod(name: string, n: number): Promise<Pod> {
    const pod: Pod = { name, netns: `${NAMESPACE_PREFIX}${this.runId}-${name}`, hostIf: `wc${this.runId}${name}`.slice(0, 15), ip: `10.98.0.${n}` };
    await this.namespace(pod.netns);
    await ipIn(this.node, 'link', 'add', pod.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.netns);
    await ipIn(this.node, 'link', 'set', pod.hostIf, 'up');
    await ipIn(this.node, 'route', 'add', `${pod.ip}/32`, 'dev', pod.hostIf);
    await ipIn(pod.netns, 'link', 'set', 'eth0', 'up');
    await ipIn(pod.netns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await ipIn(pod.netns, 'route', 'add', 'default', 'via', NODE_IP, 'dev', 'eth0', 'onlink');
    this.pods.set(name, pod);
    return pod;
  }

  /** Another node: a namespace joined to the node by a veth, 10.98.1.1/30 on the node's side, 10.98.1.2/30 on its own. */
  async addPeerNode(name: string): Promise<{ netns: string; ip: string }> {
    const netns = `${NAMESPACE_PREFIX}${this.runId}-${name}`;
    const hostIf = `wc${this.runId}${name}`.slice(0, 15);
    await this.namespace(netns);
    await ipIn(this.node, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ipIn(this.node, 'addr', 'add', '10.98.1.1/30', 'dev', hostIf);
    await ipIn(this.node, 'link', 'set', hostIf, 'up');
    await ipIn(netns, 'addr', 'add', '10.98.1.2/30', 'dev', 'eth0');
    await ipIn(netns, 'link', 'set', 'eth0', 'up');
    return { netns, ip: '10.98.1.2' };
  }

  pod(name: string): Pod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    return pod;
  }

  /** Starts a long-lived process; resolves once it printed `ready` on stdout; stopped by the cleanup. */
  async spawnReady(place: Place, cmd: string[], ready: string, timeoutMs = 30_000): Promise<ChildProcess> {
    // Killed with this process (even by SIGKILL), so an interrupted run leaves no process running.
    const child = spawn(...diesWithParent(...netnsCommand(place, cmd)), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [RUN_ENV]: this.runId } });
    this.cleanup.add(`process ${child.pid ?? '?'} (${cmd.join(' ')})`, () => stopProcess(child));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd.join(' ')} in ${place.netns} did not print "${ready}" within ${timeoutMs} ms: ${output.trim()}`)), timeoutMs);
      const onData = (d: Buffer): void => {
        output += d.toString();
        if (output.includes(ready)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${cmd.join(' ')} in ${place.netns} exited with ${code}: ${output.trim()}`));
      });
    });
    return child;
  }

  private async namespace(name: string): Promise<void> {
    // Registered first: a half-made namespace is removed too.
    this.cleanup.add(`network namespace ${name}`, () => deleteNamespace(name));
    await createNamespace(name);
  }
}

/** SIGTERM, then SIGKILL after a second; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(timer);
}

async function run(netns: string, cmd: string[]): Promise<void> {
  await ip('netns', 'exec', netns, ...cmd);
}
