// Where Weft's Ingress listeners bind: the shared address and ports, the pool dedicated Ingresses take
// their own address from, and the defaults that annotations override per Ingress.
import { isIPv4 } from 'node:net';

export type LoadBalancerMode = 'shared' | 'dedicated';

export interface IngressOptions {
  /** The address every shared-mode Ingress is served on (standalone: a loopback address). */
  sharedAddress: string;
  /** Plain HTTP port, on the shared address and on every dedicated one. */
  httpPort: number;
  /** HTTPS port (Ingresses with `tls` entries), on the shared address and on every dedicated one. */
  httpsPort: number;
  /** IPv4 CIDR that dedicated-mode Ingresses take their address from (standalone: inside 127.0.0.0/8). */
  dedicatedPool: string;
  /** The mode of an Ingress without the loadbalancer-mode annotation. */
  defaultMode: LoadBalancerMode;
  /** Whether TLS hosts redirect plain HTTP to HTTPS when the Ingress has no force-https annotation. */
  enforceHttps: boolean;
}

export const DEFAULT_INGRESS_OPTIONS: IngressOptions = {
  sharedAddress: '127.0.0.1',
  httpPort: 80,
  httpsPort: 443,
  dedicatedPool: '127.0.1.0/24',
  defaultMode: 'shared',
  enforceHttps: true,
};

/** Fills in defaults and checks the values; throws an Error naming the option on a bad one (a usage error). */
export function ingressOptions(partial: Partial<IngressOptions> = {}): IngressOptions {
  const o = { ...DEFAULT_INGRESS_OPTIONS, ...partial };
  if (!isIPv4(o.sharedAddress)) throw new Error(`ingress shared address must be an IPv4 address, not "${o.sharedAddress}"`);
  for (const [name, port] of [['HTTP', o.httpPort], ['HTTPS', o.httpsPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`ingress ${name} port must be 1-65535, not ${port}`);
  }
  if (o.httpPort === o.httpsPort) throw new Error(`ingress HTTP and HTTPS ports must differ (both ${o.httpPort})`);
  parseCidr(o.dedicatedPool);
  if (o.defaultMode !== 'shared' && o.defaultMode !== 'dedicated') throw new Error(`ingress default mode must be shared or dedicated, not "${String(o.defaultMode)}"`);
  return o;
}

export interface Cidr {
  /** First address as a 32-bit unsigned number. */
  base: number;
  size: number;
}

/** "127.0.1.0/24" → its first address and size; throws on anything that is not an IPv4 CIDR of /8 to /30. */
export function parseCidr(cidr: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m || !isIPv4(m[1])) throw new Error(`ingress dedicated pool must be an IPv4 CIDR such as 127.0.1.0/24, not "${cidr}"`);
  const bits = Number(m[2]);
  if (bits < 8 || bits > 30) throw new Error(`ingress dedicated pool ${cidr}: the prefix length must be 8 to 30`);
  const size = 2 ** (32 - bits);
  const addr = ipv4ToNumber(m[1]);
  const base = addr - (addr % size);
  if (base !== addr) throw new Error(`ingress dedicated pool ${cidr}: host bits are set (did you mean ${numberToIpv4(base)}/${bits}?)`);
  return { base, size };
}

export function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
