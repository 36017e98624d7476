// IPv4/IPv6 prefixes as numbers, for containment between CIDRs (policy peers and their exceptions).
import net from 'node:net';

export interface Prefix {
  family: 4 | 6;
  /** The network address as a number (host bits cleared). */
  base: bigint;
  length: number;
}

function addressValue(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const family = net.isIP(ip);
  if (family === 4) return { family: 4, value: ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n) };
  if (family !== 6) return undefined;
  const groups = (s: string): number[] => (s ? s.split(':').flatMap((g) => (g.includes('.') ? ipv4Groups(g) : [parseInt(g, 16)])) : []);
  const gap = ip.indexOf('::');
  let all: number[];
  if (gap < 0) {
    all = groups(ip);
  } else {
    const head = groups(ip.slice(0, gap));
    const tail = groups(ip.slice(gap + 2));
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return { family: 6, value: all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

function ipv4Groups(s: string): number[] {
  const p = s.split('.').map(Number);
  return [(p[0] << 8) | p[1], (p[2] << 8) | p[3]];
}

/** "10.0.0.0/8", "10.1.2.3" (a host) → Prefix; undefined when malformed. */
export function parsePrefix(text: string): Prefix | undefined {
  const [ip, len, ...rest] = text.split('/');
  if (rest.length > 0 || ip === undefined) return undefined;
  const addr = addressValue(ip);
  if (!addr) return undefined;
  const bits = addr.family === 4 ? 32 : 128;
  const length = len === undefined ? bits : /^\d+$/.test(len) ? Number(len) : NaN;
  if (!Number.isInteger(length) || length < 0 || length > bits) return undefined;
  const mask = length === 0 ? 0n : ((1n << BigInt(length)) - 1n) << BigInt(bits - length);
  return { family: addr.family, base: addr.value & mask, length };
}

/** Whether `inner` lies within `outer`. */
export function prefixWithin(inner: Prefix, outer: Prefix): boolean {
  if (inner.family !== outer.family || inner.length < outer.length) return false;
  const bits = inner.family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.length);
  return inner.base >> shift === outer.base >> shift;
}

export function formatPrefix(p: Prefix): string {
  if (p.family === 4) {
    const v = Number(p.base);
    return `${[24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.')}/${p.length}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((p.base >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${groups.join(':')}/${p.length}`;
}

export function prefixKey(p: Prefix): string {
  return `${p.family}/${p.base.toString(16)}/${p.length}`;
}
