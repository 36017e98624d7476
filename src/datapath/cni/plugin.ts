// Weft's CNI plugin (CNI 1.1): ADD, DEL, CHECK, STATUS, GC, VERSION. A pod gets a veth pair (host side in
// the node's network namespace, the other end named CNI_IFNAME in the pod's), an address from the node's
// pod CIDR (host-local IPAM), a /32 route each way, and Weft's tc programs on the host side; its address is
// registered as an endpoint so policy and services apply. Pure over its inputs: env, stdin → stdout, code.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CniError, CNI_ERRORS } from './errors.js';
import { HostLocalIpam, type Allocation } from './ipam.js';
import { addresses, CommandError, ip, link, sysctl } from './netlink.js';
import { Datapath, DEFAULT_PIN_ROOT } from '../datapath.js';
import { EndpointMap } from '../endpoints.js';
import { datapathUnavailable } from '../native.js';

export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'];
/** Cilium's reserved "init" identity: an endpoint whose labels the agent has not resolved yet. */
export const INIT_IDENTITY = 5;

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** The node's pod CIDR (IPv4). */
  podCIDR: string;
  /** Dual stack: the node's IPv6 pod CIDR; each pod also gets an address from it. */
  podCIDRv6?: string;
  /** Where IPAM state is kept. */
  dataDir?: string;
  /** The node's network namespace (path) holding the host-side veths; default: the plugin's own. */
  nodeNetns?: string;
  bpfPinRoot?: string;
  /** Policy enforcement for new endpoints (the agent changes it once it knows the pod's policy). */
  enforce?: { ingress?: boolean; egress?: boolean };
  prevResult?: CniResult;
  'cni.dev/valid-attachments'?: Array<{ containerID: string; ifname: string }>;
}

export interface CniResult {
  cniVersion: string;
  interfaces: Array<{ name: string; mac: string; sandbox?: string }>;
  ips: Array<{ address: string; gateway: string; interface: number }>;
  routes: Array<{ dst: string; gw?: string }>;
  dns: Record<string, unknown>;
}

export interface Invocation { env: NodeJS.ProcessEnv; stdin: string }
export interface Outcome { stdout: string; exitCode: number }

export function invoke(inv: Invocation): Outcome {
  let version = '1.1.0';
  try {
    const command = inv.env.CNI_COMMAND;
    if (!command) throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_COMMAND is not set');
    if (command === 'VERSION') {
      const conf = inv.stdin.trim() ? (parseJson(inv.stdin) as { cniVersion?: string }) : {};
      version = conf.cniVersion ?? version;
      return ok({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS });
    }
    const conf = parseConf(inv.stdin);
    version = conf.cniVersion;
    const env = inv.env;
    switch (command) {
      case 'ADD': return ok(add(conf, containerEnv(env, true)));
      case 'DEL': del(conf, containerEnv(env, false)); return { stdout: '', exitCode: 0 };
      case 'CHECK': check(conf, containerEnv(env, true)); return { stdout: '', exitCode: 0 };
      case 'STATUS': status(conf); return { stdout: '', exitCode: 0 };
      case 'GC': gc(conf); return { stdout: '', exitCode: 0 };
      default: throw new CniError(CNI_ERRORS.invalidEnvironment, `unknown CNI_COMMAND ${JSON.stringify(command)}`);
    }
  } catch (err) {
    const e = err instanceof CniError ? err
      : err instanceof CommandError ? new CniError(CNI_ERRORS.ioFailure, 'a network configuration command failed', err.message)
      : new CniError(CNI_ERRORS.ioFailure, err instanceof Error ? err.message : String(err));
    return { stdout: `${JSON.stringify(e.toJSON(SUPPORTED_VERSIONS.includes(version) ? version : '1.1.0'))}\n`, exitCode: 1 };
  }
}

function ok(value: unknown): Outcome {
  return { stdout: `${JSON.stringify(value)}\n`, exitCode: 0 };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CniError(CNI_ERRORS.decodeFailure, 'the network configuration on stdin is not JSON', String(err));
  }
}

function parseConf(text: string): NetConf {
  const conf = parseJson(text) as Partial<NetConf>;
  if (typeof conf !== 'object' || conf === null) throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'the network configuration is not an object');
  if (typeof conf.cniVersion !== 'string') throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'network configuration: cniVersion is missing');
  if (!SUPPORTED_VERSIONS.includes(conf.cniVersion)) throw new CniError(CNI_ERRORS.incompatibleVersion, `cniVersion ${conf.cniVersion} is not supported`, `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  if (typeof conf.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(conf.name)) throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'network configuration: name is missing or invalid');
  if (typeof conf.podCIDR !== 'string') throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'network configuration: podCIDR is missing');
  if (conf.podCIDRv6 !== undefined && (typeof conf.podCIDRv6 !== 'string' || !conf.podCIDRv6.includes(':'))) throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'network configuration: podCIDRv6 must be an IPv6 CIDR');
  return conf as NetConf;
}

interface ContainerEnv { containerId: string; netns: string; ifname: string; args: Map<string, string> }

function containerEnv(env: NodeJS.ProcessEnv, needNetns: boolean): ContainerEnv {
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const netns = env.CNI_NETNS ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_CONTAINERID is missing or invalid');
  if (!/^[^\s/:]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_IFNAME is missing or not a valid interface name');
  if (needNetns && !netns) throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_NETNS is not set');
  if (!env.CNI_PATH) throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_PATH is not set');
  const args = new Map<string, string>();
  for (const pair of (env.CNI_ARGS ?? '').split(';').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return { containerId, netns, ifname, args };
}

/** The host-side veth's name: stable per (container, interface), at most 15 characters. */
export function hostIfname(containerId: string, ifname: string): string {
  return `wc${createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 11)}`;
}

function ipamOf(conf: NetConf, field: 'podCIDR' | 'podCIDRv6' = 'podCIDR'): HostLocalIpam {
  try {
    return new HostLocalIpam(conf.dataDir ?? '/var/lib/weft/cni', conf.name, conf[field]!);
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw new CniError(CNI_ERRORS.invalidNetworkConfig, `network configuration: ${field} ${conf[field]} is invalid`, String(err));
  }
}

/** The IPv6 address manager when the network is dual-stack. */
const ipam6Of = (conf: NetConf): HostLocalIpam | undefined => (conf.podCIDRv6 ? ipamOf(conf, 'podCIDRv6') : undefined);

/** Pods' IPv6 next hop: the host-side veth's link-local address (no neighbour proxying needed). */
export const GATEWAY6 = 'fe80::1';

function requireDatapath(): void {
  const why = datapathUnavailable();
  if (why) throw new CniError(CNI_ERRORS.notAvailable, 'the Weft datapath is not available', why);
}

function withDatapath<T>(conf: NetConf, fn: (dp: Datapath) => T): T {
  const dp = Datapath.open({ pinRoot: conf.bpfPinRoot ?? DEFAULT_PIN_ROOT });
  try {
    return fn(dp);
  } finally {
    dp.close(); // the tc filters keep the programs, the pins keep the maps
  }
}

function add(conf: NetConf, c: ContainerEnv): CniResult {
  requireDatapath();
  if (!existsSync(c.netns)) throw new CniError(CNI_ERRORS.unknownContainer, `network namespace ${c.netns} does not exist`);
  const identity = Number(c.args.get('WEFT_IDENTITY') ?? INIT_IDENTITY);
  if (!Number.isInteger(identity) || identity <= 0 || identity > 0xffffffff) throw new CniError(CNI_ERRORS.invalidEnvironment, `CNI_ARGS WEFT_IDENTITY ${c.args.get('WEFT_IDENTITY')} is not an identity`);
  const ipam = ipamOf(conf);
  const owner: Allocation = { containerId: c.containerId, ifname: c.ifname };
  const address = ipam.allocate(owner);
  const ipam6 = ipam6Of(conf);
  const node = conf.nodeNetns ?? '';
  const host = hostIfname(c.containerId, c.ifname);
  let address6: string | undefined;
  try {
    address6 = ipam6?.allocate(owner);
    // A repeated ADD starts over: the old pair goes (its peer with it) and is made again, same address.
    if (link(node, host)) ip(node, 'link', 'del', host);
    if (link(c.netns, c.ifname)) throw new CniError(CNI_ERRORS.invalidEnvironment, `interface ${c.ifname} already exists in ${c.netns}`);
    ip(node, 'link', 'add', host, 'type', 'veth', 'peer', 'name', c.ifname, 'netns', c.netns);
    ip(node, 'addr', 'replace', `${ipam.gateway}/32`, 'dev', 'lo');
    sysctl(node, `net.ipv4.conf.${host}.forwarding`, '1');
    sysctl(node, `net.ipv4.conf.${host}.proxy_arp`, '1');
    ip(node, 'link', 'set', host, 'up');
    ip(node, 'route', 'replace', `${address}/32`, 'dev', host);
    ip(c.netns, 'link', 'set', 'lo', 'up');
    ip(c.netns, 'addr', 'replace', `${address}/32`, 'dev', c.ifname);
    ip(c.netns, 'link', 'set', c.ifname, 'up');
    ip(c.netns, 'route', 'replace', 'default', 'via', ipam.gateway, 'dev', c.ifname, 'onlink');
    if (address6) {
      // IPv6 forwards only with the node's global switch on (per-interface forwarding is not enough).
      sysctl(node, 'net.ipv6.conf.all.forwarding', '1');
      ip(node, '-6', 'addr', 'replace', `${GATEWAY6}/64`, 'dev', host, 'nodad');
      ip(node, '-6', 'route', 'replace', `${address6}/128`, 'dev', host);
      ip(c.netns, '-6', 'addr', 'replace', `${address6}/128`, 'dev', c.ifname, 'nodad');
      ip(c.netns, '-6', 'route', 'replace', 'default', 'via', GATEWAY6, 'dev', c.ifname);
    }
    const hostLink = link(node, host)!;
    withDatapath(conf, (dp) => {
      dp.attach(node, host);
      new EndpointMap(dp.maps.endpoints).upsert({
        ips: address6 ? [address, address6] : [address], identity, ifindex: hostLink.ifindex,
        ingressEnforced: conf.enforce?.ingress ?? false, egressEnforced: conf.enforce?.egress ?? false,
      });
    });
    const podLink = link(c.netns, c.ifname)!;
    return {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: host, mac: hostLink.address }, { name: c.ifname, mac: podLink.address, sandbox: c.netns }],
      ips: [{ address: `${address}/32`, gateway: ipam.gateway, interface: 1 }, ...(address6 ? [{ address: `${address6}/128`, gateway: GATEWAY6, interface: 1 }] : [])],
      routes: [{ dst: '0.0.0.0/0', gw: ipam.gateway }, ...(address6 ? [{ dst: '::/0', gw: GATEWAY6 }] : [])],
      dns: {},
    };
  } catch (err) {
    // Leave nothing half-made: no veth, no address held.
    try { if (link(node, host)) ip(node, 'link', 'del', host); } catch { /* reported below */ }
    ipam.release(owner);
    ipam6?.release(owner);
    throw err;
  }
}

function del(conf: NetConf, c: ContainerEnv): void {
  const ipam = ipamOf(conf);
  const owner: Allocation = { containerId: c.containerId, ifname: c.ifname };
  const node = conf.nodeNetns ?? '';
  const host = hostIfname(c.containerId, c.ifname);
  // The host side may outlive a deleted pod namespace; removing it removes its tc filters too.
  if (link(node, host)) ip(node, 'link', 'del', host);
  const address = ipam.lookup(owner);
  if (address && !datapathUnavailable()) withDatapath(conf, (dp) => new EndpointMap(dp.maps.endpoints).remove(address));
  if (address) ipam.release(owner);
  const ipam6 = ipam6Of(conf);
  const address6 = ipam6?.lookup(owner);
  if (address6 && !datapathUnavailable()) withDatapath(conf, (dp) => new EndpointMap(dp.maps.endpoints).remove(address6));
  if (address6) ipam6!.release(owner);
}

function check(conf: NetConf, c: ContainerEnv): void {
  requireDatapath();
  const prev = conf.prevResult;
  if (!prev || !Array.isArray(prev.ips) || prev.ips.length === 0) throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'CHECK needs prevResult with ips');
  if (!existsSync(c.netns)) throw new CniError(CNI_ERRORS.unknownContainer, `network namespace ${c.netns} does not exist`);
  const fail = (msg: string, details = '') => new CniError(CNI_ERRORS.checkFailed, msg, details);
  const ipam = ipamOf(conf);
  const address = ipam.lookup({ containerId: c.containerId, ifname: c.ifname });
  const expected = prev.ips[0].address;
  if (!address || `${address}/32` !== expected) throw fail(`the container's address is not ${expected}`, `IPAM holds ${address ?? 'nothing'} for it`);
  const node = conf.nodeNetns ?? '';
  const host = hostIfname(c.containerId, c.ifname);
  if (!link(node, host)) throw fail(`the host-side interface ${host} is missing`);
  if (!link(c.netns, c.ifname)) throw fail(`interface ${c.ifname} is missing in ${c.netns}`);
  if (!addresses(c.netns, c.ifname).includes(expected)) throw fail(`interface ${c.ifname} does not have ${expected}`);
  const ipam6 = ipam6Of(conf);
  const address6 = ipam6?.lookup({ containerId: c.containerId, ifname: c.ifname });
  const expected6 = prev.ips.find((x) => x.address.includes(':'))?.address;
  if (ipam6 && (!address6 || `${address6}/128` !== expected6)) throw fail(`the container's IPv6 address is not ${expected6 ?? '(none in prevResult)'}`, `IPAM holds ${address6 ?? 'nothing'} for it`);
  if (expected6 && !addresses(c.netns, c.ifname).includes(expected6)) throw fail(`interface ${c.ifname} does not have ${expected6}`);
  withDatapath(conf, (dp) => {
    const ids = dp.attached(node, host);
    if (!ids.ingress || !ids.egress) throw fail(`the datapath programs are not attached to ${host}`);
    for (const a of address6 ? [address, address6] : [address]) if (!new EndpointMap(dp.maps.endpoints).lookup(a)) throw fail(`${a} is not registered as an endpoint`);
  });
}

function status(conf: NetConf): void {
  requireDatapath();
  ipamOf(conf).allocations(); // readable and well-formed
  ipam6Of(conf)?.allocations();
}

function gc(conf: NetConf): void {
  const valid = conf['cni.dev/valid-attachments'];
  if (!Array.isArray(valid)) throw new CniError(CNI_ERRORS.invalidNetworkConfig, 'GC needs cni.dev/valid-attachments');
  const ipam = ipamOf(conf);
  const owners = Object.values(ipam.allocations());
  const keep = valid.map((v) => ({ containerId: v.containerID, ifname: v.ifname }));
  const node = conf.nodeNetns ?? '';
  for (const o of owners) {
    if (keep.some((k) => k.containerId === o.containerId && k.ifname === o.ifname)) continue;
    const host = hostIfname(o.containerId, o.ifname);
    if (link(node, host)) ip(node, 'link', 'del', host);
  }
  const released = [...ipam.retain(keep), ...(ipam6Of(conf)?.retain(keep) ?? [])];
  if (released.length && !datapathUnavailable()) withDatapath(conf, (dp) => { const eps = new EndpointMap(dp.maps.endpoints); for (const a of released) eps.remove(a); });
}
