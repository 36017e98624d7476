// Test topologies for the eBPF datapath: a "node" network namespace (no route out of it) holding the
// host side of each pod's veth, and one namespace per pod. Names are unique per run; destroy() removes
// every namespace (and with them the veths, qdiscs and filters) this topology created.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const probe = path.join(path.dirname(fileURLToPath(import.meta.url)), 'datapath-probe.js');

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(ns: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Pod {
  name: string;
  ns: string;
  /** The host-side veth, in the node namespace. */
  hostIf: string;
  ip4: string;
  ip6: string;
}

export interface ProbeResult { ok: boolean; reply?: string; error?: string; local?: string; from?: string }

export class Topology {
  readonly id = randomBytes(3).toString('hex');
  readonly node = `wn${this.id}`;
  /** The node's own address, on its loopback: pods' gateway and the "host" entity. */
  readonly nodeIp4 = '10.99.0.1';
  readonly pods = new Map<string, Pod>();
  private readonly namespaces: string[] = [];
  private readonly servers: ChildProcess[] = [];
  /** Processes this topology starts in a namespace listed here run in that cgroup (a pod's cgroup). */
  readonly cgroups = new Map<string, string>();
  /** Nodes added by addNode → their uplink address, which the first node routes their pods to. */
  private readonly remoteNodes = new Map<string, string>();
  /** Namespaces added by addExternal (machines outside the cluster). */
  private readonly externals: string[] = [];

  constructor() {
    this.addNs(this.node);
    inNs(this.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    ip('-n', this.node, 'addr', 'add', `${this.nodeIp4}/32`, 'dev', 'lo');
  }

  get nodeNsPath(): string {
    return `/var/run/netns/${this.node}`;
  }

  /**
   * A second node: a namespace linked to the first by a veth pair (both nodes' uplink, 10.98.0.1 here and
   * 10.98.0.2 there), its default route via the first node. Pods added on it are routed there by the first node
   * (IPv4 only).
   */
  addNode(name: string): string {
    const ns = `wn${this.id}${name}`;
    const uplink = `u${this.id}${name}`.slice(0, 15);
    this.addNs(ns);
    inNs(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    ip('-n', this.node, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', ns);
    ip('-n', this.node, 'addr', 'add', '10.98.0.1/30', 'dev', uplink);
    ip('-n', this.node, 'link', 'set', uplink, 'up');
    ip('-n', ns, 'addr', 'add', '10.98.0.2/30', 'dev', 'uplink');
    ip('-n', ns, 'link', 'set', 'uplink', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', '10.98.0.1');
    this.remoteNodes.set(ns, '10.98.0.2');
    return ns;
  }

  /** A pod with 10.99.0.<n>/32 and fd00:99::<n>/128, routed through its veth (on `node`, by default the first). */
  addPod(name: string, n: number, node = this.node): Pod {
    const ns = `wp${this.id}${name}`;
    const hostIf = `h${this.id}${name}`.slice(0, 15);
    const pod: Pod = { name, ns, hostIf, ip4: `10.99.0.${n}`, ip6: `fd00:99::${n.toString(16)}` };
    this.addBehindVeth(node, ns, hostIf, pod.ip4);
    ip('-n', node, '-6', 'addr', 'add', 'fe80::1/64', 'dev', hostIf, 'nodad');
    ip('-n', node, '-6', 'route', 'add', `${pod.ip6}/128`, 'dev', hostIf);
    const remote = this.remoteNodes.get(node);
    if (remote) ip('-n', this.node, 'route', 'add', `${pod.ip4}/32`, 'via', remote);
    ip('-n', ns, '-6', 'addr', 'add', `${pod.ip6}/128`, 'dev', 'eth0', 'nodad');
    ip('-n', ns, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0');
    this.pods.set(name, pod);
    return pod;
  }

  /**
   * A machine outside the cluster (the world): a namespace with `ip4`/32 behind a veth of the first node, which
   * routes it there; its default route goes back through that node. No datapath runs on its veth.
   */
  addExternal(name: string, ip4: string): { ns: string; ip4: string } {
    const ns = `wx${this.id}${name}`;
    const hostIf = `x${this.id}${name}`.slice(0, 15);
    this.addBehindVeth(this.node, ns, hostIf, ip4);
    this.externals.push(ns);
    return { ns, ip4 };
  }

  /** A new namespace `ns` whose eth0 holds `ip4`/32, linked to `node` by the veth `hostIf`, routed both ways (IPv4). */
  private addBehindVeth(node: string, ns: string, hostIf: string, ip4: string): void {
    this.addNs(ns);
    ip('-n', node, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', node, 'link', 'set', hostIf, 'up');
    inNs(node, 'sysctl', '-qw', `net.ipv4.conf.${hostIf}.proxy_arp=1`);
    ip('-n', node, 'route', 'add', `${ip4}/32`, 'dev', hostIf);
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'addr', 'add', `${ip4}/32`, 'dev', 'eth0');
    ip('-n', ns, 'route', 'add', 'default', 'via', this.nodeIp4, 'dev', 'eth0', 'onlink');
  }

  pod(name: string): Pod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  /** Starts a probe server in a namespace; resolves once it listens. */
  async serve(ns: string, name: string, proto: 'tcp' | 'udp' | 'tcpecho', ports: number[]): Promise<void> {
    const child = spawn(...this.execArgs(ns, [process.execPath, probe, 'serve', name, proto, ...ports.map(String)]), { stdio: ['ignore', 'pipe', 'inherit'] });
    this.servers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`probe server in ${ns} exited with ${code}`)));
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    });
  }

  /** Starts an HTTP probe server in a namespace; resolves once it listens. */
  async serveHttp(ns: string, name: string, port: number): Promise<void> {
    const child = spawn(...this.execArgs(ns, [process.execPath, probe, 'http', name, String(port)]), { stdio: ['ignore', 'pipe', 'inherit'] });
    this.servers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`HTTP probe in ${ns} exited with ${code}`)));
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    });
  }

  /** Runs a long-lived process in a namespace, stopped by destroy(). */
  spawnIn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn(...this.execArgs(ns, [cmd, ...args]), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.servers.push(child);
    return child;
  }

  /** One connection (TCP) or datagram exchange (UDP) from a namespace. */
  async connect(ns: string, proto: 'tcp' | 'udp', host: string, port: number, timeoutMs = 1500, localPort?: number): Promise<ProbeResult> {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(...this.execArgs(ns, [process.execPath, probe, 'connect', proto, host, String(port), String(timeoutMs), ...(localPort ? [String(localPort)] : [])]), { stdio: ['ignore', 'pipe', 'inherit'] });
      let data = '';
      child.stdout.on('data', (d: Buffer) => { data += d.toString(); });
      child.on('close', () => resolve(data)); // not 'exit': the output may still be in the pipe then
      child.on('error', reject);
    });
    return JSON.parse(out) as ProbeResult;
  }

  /** A connected UDP socket's exchange: ICMP errors about it surface as error codes (ECONNREFUSED). */
  async udpConnected(ns: string, host: string, port: number, timeoutMs = 1500): Promise<ProbeResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(...this.execArgs(ns, [process.execPath, probe, 'udperr', host, String(port), String(timeoutMs)]), { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('close', () => resolve(JSON.parse(out) as ProbeResult)); // not 'exit': the output may still be in the pipe then
      child.on('error', reject);
    });
  }

  /** A long-lived TCP connection from a namespace: send(line) resolves with the reply line. */
  async hold(ns: string, host: string, port: number): Promise<{ send(line: string): Promise<string>; close(): void }> {
    const child = spawn(...this.execArgs(ns, [process.execPath, probe, 'hold', host, String(port)]), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.servers.push(child);
    const lines: string[] = [];
    const waiters: Array<(l: string) => void> = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = waiters.shift();
        if (w) w(line);
        else lines.push(line);
      }
    });
    const next = () => new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      const timer = setTimeout(() => reject(new Error(`no reply on the held connection to ${host}:${port}`)), 3000);
      waiters.push((line) => { clearTimeout(timer); resolve(line); });
    });
    const first = await next();
    if (first !== 'connected') throw new Error(`held connection to ${host}:${port}: ${first}`);
    return {
      send: (line: string) => { child.stdin.write(`${line}\n`); return next(); },
      close: () => { child.stdin.end(); },
    };
  }

  /** One ping; true when answered. */
  ping(ns: string, host: string): boolean {
    try {
      inNs(ns, 'ping', '-c', '1', '-W', '1', host);
      return true;
    } catch {
      return false;
    }
  }

  /** Command and arguments running cmd in namespace ns (and in its cgroup, if it has one). */
  private execArgs(ns: string, cmd: string[]): [string, string[]] {
    const cgroup = this.cgroups.get(ns);
    if (!cgroup) return ['ip', ['netns', 'exec', ns, ...cmd]];
    // Joined before `ip netns exec`, which mounts a sysfs of the namespace where the cgroup is not visible.
    return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"', cgroup, ns, ...cmd]];
  }

  destroy(): void {
    for (const s of this.servers) s.kill();
    for (const ns of this.namespaces.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    this.namespaces.length = 0;
  }

  /** The namespaces of this topology that still exist. */
  leftovers(): string[] {
    const list = ip('netns', 'list');
    return [this.node, ...this.remoteNodes.keys(), ...this.externals, ...[...this.pods.values()].map((p) => p.ns)].filter((ns) => list.split('\n').some((l) => l.split(' ')[0] === ns));
  }

  addNs(ns: string): void {
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
}
