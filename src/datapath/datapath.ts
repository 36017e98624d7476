// The loaded datapath: one BPF object (bpf/datapath.c) whose maps are pinned under a bpffs directory,
// attached to any number of pod veths. Map managers (endpoints.ts, policy.ts, services.ts, conntrack.ts)
// write through its maps; flows.ts reads its ring buffer.
import { createHash } from 'node:crypto';
import { readdirSync, rmdirSync, unlinkSync, existsSync } from 'node:fs';
import path from 'node:path';
import { BpfMap } from './bpf-map.js';
import { datapathObjectPath, nativeBpf, type TcDirection } from './native.js';
import { SIZES } from './layout.js';

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/weft';
/** tc filter priority and handle of Weft's programs: fixed, so a restarted agent replaces its own filters. */
export const TC_PRIORITY = 1;
export const TC_HANDLE = 0x5746;

export interface DatapathOptions {
  /** bpffs directory the maps are pinned in (and reused from, across restarts). */
  pinRoot?: string;
  objectPath?: string;
}

export interface DatapathMaps {
  endpoints: BpfMap;
  ipcache: BpfMap;
  policy: BpfMap;
  mesh: BpfMap;
  services: BpfMap;
  backends: BpfMap;
  conntrack: BpfMap;
  config: BpfMap;
}

/** Where the pod-side programs go on a pod's host-side veth. */
const ATTACHMENTS: ReadonlyArray<[TcDirection, string]> = [
  ['ingress', 'from_pod'], // packets the pod sends
  ['egress', 'to_pod'], // packets delivered to the pod
];

/** The socket-level load balancer's cgroup programs (bpf/datapath.c, "socket-level LB"). */
export const SOCKET_PROGRAMS = [
  'sock_connect4', 'sock_connect6', 'sock_sendmsg4', 'sock_sendmsg6',
  'sock_recvmsg4', 'sock_recvmsg6', 'sock_getpeername4', 'sock_getpeername6',
] as const;

export class Datapath {
  readonly maps: DatapathMaps;
  private readonly flowsFd: number;
  private closed = false;

  private constructor(private readonly handle: number, readonly pinRoot: string) {
    const native = nativeBpf();
    const map = (name: string, keySize: number, valueSize: number) => new BpfMap(name, native.mapFd(handle, name), keySize, valueSize);
    this.maps = {
      endpoints: map('weft_endpoints', SIZES.endpointKey, SIZES.endpointInfo),
      ipcache: map('weft_ipcache', SIZES.ipcacheKey, SIZES.identity),
      policy: map('weft_policy', SIZES.policyKey, SIZES.policyValue),
      mesh: map('weft_mesh', SIZES.meshKey, SIZES.policyValue),
      services: map('weft_services', SIZES.serviceKey, SIZES.serviceValue),
      backends: map('weft_backends', SIZES.backendKey, SIZES.backendValue),
      conntrack: map('weft_conntrack', SIZES.tuple, SIZES.ctValue),
      config: map('weft_config', 4, 4),
    };
    this.flowsFd = native.mapFd(handle, 'weft_flows');
  }

  /** Loads the programs; pinned maps already under pinRoot are reused, so state survives a restart. */
  static open(options: DatapathOptions = {}): Datapath {
    const native = nativeBpf();
    const pinRoot = options.pinRoot ?? DEFAULT_PIN_ROOT;
    native.ensureBpffs(path.dirname(pinRoot));
    return new Datapath(native.openObject(options.objectPath ?? datapathObjectPath, pinRoot), pinRoot);
  }

  /** Attaches both programs to a pod's host-side veth (in network namespace `netns`, '' for this one). */
  attach(netns: string, ifname: string): { ingress: number; egress: number } {
    const native = nativeBpf();
    const ids = { ingress: 0, egress: 0 };
    for (const [direction, program] of ATTACHMENTS)
      ids[direction] = native.tcAttach(netns, ifname, direction, native.programFd(this.handle, program), TC_PRIORITY, TC_HANDLE);
    return ids;
  }

  /** Attaches the NodePort programs to the node's uplink (from_netdev on ingress, to_netdev on egress). */
  attachUplink(netns: string, ifname: string): { ingress: number; egress: number } {
    const native = nativeBpf();
    return {
      ingress: native.tcAttach(netns, ifname, 'ingress', native.programFd(this.handle, 'from_netdev'), TC_PRIORITY, TC_HANDLE),
      egress: native.tcAttach(netns, ifname, 'egress', native.programFd(this.handle, 'to_netdev'), TC_PRIORITY, TC_HANDLE),
    };
  }

  /**
   * Socket-level load balancing for the processes of a cgroup v2 (a pod's, or a parent of all pods'):
   * connections to a service address get their backend at connect time (UDP: per send, sticky per socket),
   * and getpeername/recvmsg report the service address. Attached through BPF links pinned under pinRoot, so
   * they outlive the agent and a restart replaces the programs in place; traffic from other processes keeps
   * the tc path.
   */
  attachSockets(cgroupPath: string): void {
    const native = nativeBpf();
    for (const program of SOCKET_PROGRAMS) native.cgroupAttach(this.handle, program, cgroupPath, this.linkPin(cgroupPath, program));
  }

  /** Detaches the socket-level programs from a cgroup; false when none was attached. */
  detachSockets(cgroupPath: string): boolean {
    let removed = false;
    for (const program of SOCKET_PROGRAMS) removed = nativeBpf().cgroupDetach(this.linkPin(cgroupPath, program)) || removed;
    return removed;
  }

  private linkPin(cgroupPath: string, program: string): string {
    const cgroup = createHash('sha256').update(path.resolve(cgroupPath)).digest('hex').slice(0, 12);
    return path.join(this.pinRoot, `weft_link_${cgroup}_${program}`);
  }

  /** Removes both filters; false when none was there (or the interface is gone). */
  detach(netns: string, ifname: string): boolean {
    let removed = false;
    for (const [direction] of ATTACHMENTS)
      removed = nativeBpf().tcDetach(netns, ifname, direction, TC_PRIORITY, TC_HANDLE) || removed;
    return removed;
  }

  /** The ids of the programs attached to a veth (0 where none). */
  attached(netns: string, ifname: string): { ingress: number; egress: number } {
    const native = nativeBpf();
    return {
      ingress: native.tcQuery(netns, ifname, 'ingress', TC_PRIORITY, TC_HANDLE),
      egress: native.tcQuery(netns, ifname, 'egress', TC_PRIORITY, TC_HANDLE),
    };
  }

  /**
   * Marks for redirection into the node proxy: `deliver` is set on packets for the proxy (a policy route must
   * deliver it locally: `ip rule add fwmark <deliver> lookup 100; ip route add local 0.0.0.0/0 dev lo table
   * 100`); `upstream` is the mark the proxy puts on upstream connections opened with the client's address
   * (Envoy's original_src `mark`), whose replies the datapath then marks `deliver`. Distinct, non-zero.
   */
  setProxyMarks(deliver: number, upstream = 0): void {
    if (deliver === upstream) throw new Error('proxy marks: the delivery and upstream marks must differ');
    for (const [index, mark] of [deliver, upstream].entries()) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(index, 0);
      const value = Buffer.alloc(4);
      value.writeUInt32LE(mark, 0);
      this.maps.config.update(key, value);
    }
  }

  /** The flow ring buffer's fd, for FlowReader. */
  get flowsMapFd(): number {
    return this.flowsFd;
  }

  /** Closes the object (attached filters keep the programs alive until detached). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeBpf().closeObject(this.handle);
  }

  /** Closes and removes the pinned maps (and the pin directory when it is empty). */
  destroy(): void {
    this.close();
    unpinAll(this.pinRoot);
  }
}

export function unpinAll(pinRoot: string): void {
  if (!existsSync(pinRoot)) return;
  for (const name of readdirSync(pinRoot)) if (name.startsWith('weft_')) unlinkSync(path.join(pinRoot, name));
  try {
    rmdirSync(pinRoot);
  } catch {
    // not empty: something else is pinned there, leave it
  }
}
