// Byte layouts of the datapath's map keys, values and flow events: mirrors of the structs in
// bpf/datapath.c (x86-64, little-endian host order; addresses and the tuple's ports in network order).
import net from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;
export type Protocol = 'tcp' | 'udp' | 'icmp' | 'any';

/** Reserved identities, numbered as Cilium numbers them. 0 is the policy wildcard "any peer". */
export const IDENTITY = { any: 0, host: 1, world: 2 } as const;
/** Identities below this are reserved; endpoint and CIDR identities start here. */
export const FIRST_USER_IDENTITY = 256;

export const DIR = { ingress: 0, egress: 1 } as const;
export type Direction = keyof typeof DIR;
export const VERDICT = { allow: 1, deny: 2, redirect: 3 } as const;
export type Verdict = keyof typeof VERDICT;
export const DROP_REASONS: Record<number, string> = {
  0: 'none',
  1: 'policy-denied',
  2: 'policy-deny-rule',
  3: 'no-service-backend',
  4: 'unknown-source',
  5: 'redirect-no-proxy',
  6: 'icmp-unrelated',
};
export const EP_FLAGS = { ingressEnforced: 1, egressEnforced: 2 } as const;
export const CT_FLAGS = { natReply: 1, closing: 2, redirect: 4 } as const;

export const SIZES = {
  endpointKey: 20, endpointInfo: 16, ipcacheKey: 24, identity: 4, policyKey: 12, policyValue: 4,
  meshKey: 24, serviceKey: 20, serviceValue: 8, backendKey: 8, backendValue: 24, tuple: 40, ctValue: 56, flowEvent: 72,
} as const;

export interface Address { family: typeof AF_INET | typeof AF_INET6; bytes: Buffer }

/** Parses an IPv4 or IPv6 literal into 16 bytes (IPv4 in the first 4), network order. */
export function parseAddress(ip: string): Address {
  const v = net.isIP(ip);
  if (v === 4) {
    const bytes = Buffer.alloc(16);
    ip.split('.').forEach((o, i) => { bytes[i] = Number(o); });
    return { family: AF_INET, bytes };
  }
  if (v === 6) return { family: AF_INET6, bytes: ipv6Bytes(ip) };
  throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
}

function ipv6Bytes(ip: string): Buffer {
  // The input passed net.isIP, so only "::" expansion and an embedded IPv4 tail need handling.
  let text = ip;
  let tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[2].split('.').map(Number);
    tail = [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    text = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
  }
  const parts = text.split('::');
  const hex = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const head = hex(parts[0]);
  const rest = parts.length > 1 ? hex(parts[1]) : [];
  const fill = parts.length > 1 ? 8 - head.length - rest.length - tail.length : 0;
  const words = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  const bytes = Buffer.alloc(16);
  words.forEach((w, i) => bytes.writeUInt16BE(w, i * 2));
  return bytes;
}

export function formatAddress(family: number, bytes: Buffer): string {
  if (family === AF_INET) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  // Shorten the longest run of zero words, as RFC 5952 asks.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

export interface Cidr { address: Address; prefixLen: number }

export function parseCidr(cidr: string): Cidr {
  const [ip, len] = cidr.split('/');
  const address = parseAddress(ip);
  const max = address.family === AF_INET ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) throw new Error(`bad prefix length in CIDR ${JSON.stringify(cidr)}`);
  // Zero the host bits: the LPM trie compares only prefixLen bits, but a canonical key makes deletes match.
  const bytes = Buffer.from(address.bytes);
  for (let bit = prefixLen; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { address: { family: address.family, bytes }, prefixLen };
}

export function protocolNumber(p: Protocol, family: number): number {
  if (p === 'any') return 0;
  if (p === 'icmp') return family === AF_INET6 ? IPPROTO.icmpv6 : IPPROTO.icmp;
  return IPPROTO[p];
}

export function endpointKey(a: Address): Buffer {
  const b = Buffer.alloc(SIZES.endpointKey);
  a.bytes.copy(b, 0);
  b[16] = a.family;
  return b;
}

export interface EndpointInfo { identity: number; ifindex: number; flags: number }

export function endpointInfo(e: EndpointInfo): Buffer {
  const b = Buffer.alloc(SIZES.endpointInfo);
  b.writeUInt32LE(e.identity, 0);
  b.writeUInt32LE(e.ifindex, 4);
  b.writeUInt32LE(e.flags, 8);
  return b;
}

export function decodeEndpointInfo(b: Buffer): EndpointInfo {
  return { identity: b.readUInt32LE(0), ifindex: b.readUInt32LE(4), flags: b.readUInt32LE(8) };
}

export function ipcacheKey(c: Cidr): Buffer {
  const b = Buffer.alloc(SIZES.ipcacheKey);
  b.writeUInt32LE(32 + c.prefixLen, 0);
  b[4] = c.address.family;
  c.address.bytes.copy(b, 8);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

export interface PolicyKey { endpointIdentity: number; peerIdentity: number; port: number; proto: number; direction: Direction }

export function policyKey(k: PolicyKey): Buffer {
  const b = Buffer.alloc(SIZES.policyKey);
  b.writeUInt32LE(k.endpointIdentity, 0);
  b.writeUInt32LE(k.peerIdentity, 4);
  b.writeUInt16LE(k.port, 8);
  b[10] = k.proto;
  b[11] = DIR[k.direction];
  return b;
}

export interface PolicyValue { verdict: Verdict; proxyPort: number }

export function policyValue(v: PolicyValue): Buffer {
  const b = Buffer.alloc(SIZES.policyValue);
  b[0] = VERDICT[v.verdict];
  b.writeUInt16LE(v.proxyPort, 2);
  return b;
}

/** The mesh map's key (struct mesh_key): a destination address and port, for one source endpoint identity. Its value is a policyValue. */
export function meshKey(sourceIdentity: number, destination: Address, port: number): Buffer {
  const b = Buffer.alloc(SIZES.meshKey);
  destination.bytes.copy(b, 0);
  b.writeUInt32LE(sourceIdentity, 16);
  b.writeUInt16LE(port, 20);
  b[22] = destination.family;
  return b;
}

export function serviceKey(vip: Address, port: number, proto: number): Buffer {
  const b = Buffer.alloc(SIZES.serviceKey);
  vip.bytes.copy(b, 0);
  b.writeUInt16BE(port, 16);
  b[18] = proto;
  b[19] = vip.family;
  return b;
}

export function serviceValue(serviceId: number, backendCount: number): Buffer {
  const b = Buffer.alloc(SIZES.serviceValue);
  b.writeUInt32LE(serviceId, 0);
  b.writeUInt32LE(backendCount, 4);
  return b;
}

export function backendKey(serviceId: number, slot: number): Buffer {
  const b = Buffer.alloc(SIZES.backendKey);
  b.writeUInt32LE(serviceId, 0);
  b.writeUInt32LE(slot, 4);
  return b;
}

export function backendValue(ip: Address, port: number, backendId: number): Buffer {
  const b = Buffer.alloc(SIZES.backendValue);
  ip.bytes.copy(b, 0);
  b.writeUInt16BE(port, 16);
  b[18] = ip.family;
  b.writeUInt32LE(backendId, 20);
  return b;
}

export interface ConntrackEntry {
  family: number; proto: number; saddr: string; daddr: string; sport: number; dport: number; dir: number;
  lastSeenNs: bigint; packets: bigint; bytes: bigint; flags: number; natAddr: string; natPort: number; backendId: number;
}

export function decodeConntrack(key: Buffer, value: Buffer): ConntrackEntry {
  const family = key[37];
  return {
    family,
    proto: key[36],
    saddr: formatAddress(family, key.subarray(0, 16)),
    daddr: formatAddress(family, key.subarray(16, 32)),
    sport: key.readUInt16BE(32),
    dport: key.readUInt16BE(34),
    dir: key[38],
    lastSeenNs: value.readBigUInt64LE(0),
    packets: value.readBigUInt64LE(8),
    bytes: value.readBigUInt64LE(16),
    natAddr: formatAddress(family, value.subarray(24, 40)),
    natPort: value.readUInt16BE(40),
    flags: value.readUInt16LE(42),
    backendId: value.readUInt32LE(44),
  };
}

export interface FlowEvent {
  timeNs: bigint;
  kind: 'new' | 'drop';
  family: 4 | 6;
  protocol: number;
  source: { ip: string; port: number; identity: number };
  destination: { ip: string; port: number; identity: number };
  ifindex: number;
  direction: Direction;
  verdict: Verdict;
  /** Why a packet was dropped ('none' for forwarded flows). */
  reason: string;
  proxyPort: number;
}

export function decodeFlowEvent(b: Buffer): FlowEvent {
  const family = b[56];
  const verdicts = ['unknown', 'allow', 'deny', 'redirect'] as const;
  return {
    timeNs: b.readBigUInt64LE(0),
    kind: b[61] === 2 ? 'drop' : 'new',
    family: family === AF_INET ? 4 : 6,
    protocol: b[57],
    source: { ip: formatAddress(family, b.subarray(8, 24)), port: b.readUInt16LE(52), identity: b.readUInt32LE(40) },
    destination: { ip: formatAddress(family, b.subarray(24, 40)), port: b.readUInt16LE(54), identity: b.readUInt32LE(44) },
    ifindex: b.readUInt32LE(48),
    direction: b[60] === DIR.egress ? 'egress' : 'ingress',
    verdict: (verdicts[b[58]] ?? 'deny') as Verdict,
    reason: DROP_REASONS[b[59]] ?? `reason-${b[59]}`,
    proxyPort: b.readUInt16LE(62),
  };
}
