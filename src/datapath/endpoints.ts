// Endpoints (a pod's address → its identity, interface and which directions are policy-enforced) and the
// identity cache (CIDR → identity, longest prefix wins; for peers that are no local endpoint).
import type { BpfMap } from './bpf-map.js';
import { decodeEndpointInfo, endpointInfo, endpointKey, EP_FLAGS, ipcacheKey, parseAddress, parseCidr, u32 } from './layout.js';

export interface Endpoint {
  /** The pod's addresses (IPv4 and/or IPv6). */
  ips: string[];
  identity: number;
  /** The host-side veth's ifindex in the node namespace. */
  ifindex: number;
  /** Enforced: traffic in that direction needs a rule that allows it. Not enforced: allowed unless denied. */
  ingressEnforced: boolean;
  egressEnforced: boolean;
}

export class EndpointMap {
  private readonly known = new Map<string, Endpoint>();

  constructor(private readonly map: BpfMap) {}

  /** Adds or updates one endpoint; only its own entries are written. */
  upsert(endpoint: Endpoint): void {
    const flags = (endpoint.ingressEnforced ? EP_FLAGS.ingressEnforced : 0) | (endpoint.egressEnforced ? EP_FLAGS.egressEnforced : 0);
    const value = endpointInfo({ identity: endpoint.identity, ifindex: endpoint.ifindex, flags });
    const previous = this.known.get(endpoint.ips[0]);
    for (const ip of endpoint.ips) this.map.update(endpointKey(parseAddress(ip)), value);
    for (const ip of previous?.ips ?? []) if (!endpoint.ips.includes(ip)) this.remove(ip);
    for (const ip of endpoint.ips) this.known.set(ip, endpoint);
  }

  /** Removes the endpoint owning ip (all its addresses). */
  remove(ip: string): boolean {
    const endpoint = this.known.get(ip);
    const ips = endpoint?.ips ?? [ip];
    let removed = false;
    for (const a of ips) {
      removed = this.map.delete(endpointKey(parseAddress(a))) || removed;
      this.known.delete(a);
    }
    return removed;
  }

  /** What the kernel map holds for ip, read back (not from the mirror). */
  lookup(ip: string): { identity: number; ifindex: number; flags: number } | undefined {
    const value = this.map.lookup(endpointKey(parseAddress(ip)));
    return value ? decodeEndpointInfo(value) : undefined;
  }

  size(): number {
    return this.map.keys().length;
  }
}

export class IdentityCache {
  /** canonical prefix → what was written */
  private readonly entries = new Map<string, { cidr: string; identity: number }>();

  constructor(private readonly map: BpfMap) {}

  set(cidr: string, identity: number): void {
    this.map.update(ipcacheKey(parseCidr(cidr)), u32(identity));
    this.entries.set(canonical(cidr), { cidr, identity });
  }

  delete(cidr: string): boolean {
    this.entries.delete(canonical(cidr));
    return this.map.delete(ipcacheKey(parseCidr(cidr)));
  }

  /** Makes the cache hold exactly `desired`, writing only the differences. */
  sync(desired: ReadonlyMap<string, number>): { written: number; deleted: number } {
    const want = new Map([...desired].map(([cidr, identity]) => [canonical(cidr), { cidr, identity }]));
    let written = 0, deleted = 0;
    for (const [key, e] of want) if (this.entries.get(key)?.identity !== e.identity) { this.set(e.cidr, e.identity); written++; }
    for (const [key, e] of [...this.entries]) if (!want.has(key)) { this.delete(e.cidr); deleted++; }
    return { written, deleted };
  }
}

function canonical(cidr: string): string {
  const c = parseCidr(cidr);
  return `${c.address.bytes.toString('hex')}/${c.address.family}/${c.prefixLen}`;
}
