// Gateway addresses in Kubernetes mode: each of Weft's Gateways that asks for an address gets one from a
// configured IPv4 range, like a LoadBalancer IPAM. Assignments are stable: a Gateway keeps the address its
// status already shows (after an operator restart too) as long as it is in the pool and not taken.
import { isIPv4 } from 'node:net';

export interface AddressRange { first: number; last: number }

function toInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** "10.77.0.200-10.77.0.250" or a CIDR "10.77.0.192/26" (network and broadcast addresses left out). */
export function parseAddressRange(text: string): AddressRange {
  const range = /^([\d.]+)-([\d.]+)$/.exec(text);
  if (range && isIPv4(range[1]) && isIPv4(range[2])) {
    const r = { first: toInt(range[1]), last: toInt(range[2]) };
    if (r.first > r.last) throw new Error(`address pool "${text}": the first address is after the last`);
    return r;
  }
  const cidr = /^([\d.]+)\/(\d+)$/.exec(text);
  if (cidr && isIPv4(cidr[1]) && Number(cidr[2]) >= 8 && Number(cidr[2]) <= 30) {
    const size = 2 ** (32 - Number(cidr[2]));
    const base = toInt(cidr[1]) - (toInt(cidr[1]) % size);
    return { first: base + 1, last: base + size - 2 };
  }
  throw new Error(`address pool "${text}" must be a range A.B.C.D-A.B.C.E or a CIDR A.B.C.D/N (8 <= N <= 30)`);
}

export interface GatewayRef { namespace?: string; name: string }

function key(g: GatewayRef): string {
  return `${g.namespace ?? ''}/${g.name}`;
}

/**
 * Assigns addresses to `wanting` (Gateways that ask for one, oldest first so that a full pool keeps serving the
 * older ones), preferring `current` (what each status shows now). Pure: same inputs, same assignment.
 */
export function assignAddresses(range: AddressRange, wanting: GatewayRef[], current: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  const taken = new Set<number>();
  for (const g of wanting) {
    const ip = current.get(key(g));
    if (!ip || !isIPv4(ip)) continue;
    const n = toInt(ip);
    if (n < range.first || n > range.last || taken.has(n)) continue;
    taken.add(n);
    out.set(key(g), ip);
  }
  let next = range.first;
  for (const g of wanting) {
    if (out.has(key(g))) continue;
    while (next <= range.last && taken.has(next)) next++;
    if (next > range.last) break;
    taken.add(next);
    out.set(key(g), toIp(next));
  }
  return out;
}

export function gatewayKey(g: GatewayRef): string {
  return key(g);
}
