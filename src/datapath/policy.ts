// The policy map: per endpoint identity, rules (direction, peer identity, port, protocol → allow, deny or
// redirect to a proxy port). Input is the map-level model below; apply() writes only the differences from
// what the endpoint had, so a policy change costs map operations proportional to what changed.
import type { BpfMap } from './bpf-map.js';
import { AF_INET, policyKey, policyValue, protocolNumber, type Direction, type Protocol, type Verdict } from './layout.js';

export interface PolicyEntry {
  direction: Direction;
  /** The peer's identity; 0 for any peer. */
  peerIdentity: number;
  /** Destination port, 0 for all ports. For ICMP use 0. */
  port: number;
  protocol: Protocol;
  verdict: Verdict;
  /** For 'redirect': the proxy's listening port. */
  proxyPort?: number;
}

export class PolicyMap {
  /** endpoint identity → (key hex → value hex) as written to the kernel. */
  private readonly written = new Map<number, Map<string, string>>();

  constructor(private readonly map: BpfMap) {}

  /** Replaces the rules of one endpoint identity; returns the number of map writes and deletes. */
  apply(endpointIdentity: number, entries: readonly PolicyEntry[]): { written: number; deleted: number } {
    const desired = new Map<string, string>();
    const denied = new Set<string>();
    for (const e of entries) {
      validate(endpointIdentity, e);
      // The key carries the IP protocol number; ICMP here means ICMP for IPv4 (ICMPv6 rules: protocol 'any').
      const key = policyKey({ endpointIdentity, peerIdentity: e.peerIdentity, port: e.port, proto: protocolNumber(e.protocol, AF_INET), direction: e.direction });
      const value = policyValue({ verdict: e.verdict, proxyPort: e.proxyPort ?? 0 });
      const k = key.toString('hex');
      // Two entries for one key: deny wins, as it does in the datapath across keys.
      if (denied.has(k)) continue;
      if (e.verdict === 'deny') denied.add(k);
      desired.set(k, value.toString('hex'));
    }
    const current = this.written.get(endpointIdentity) ?? new Map<string, string>();
    let written = 0, deleted = 0;
    for (const [k, v] of desired) {
      if (current.get(k) === v) continue;
      this.map.update(Buffer.from(k, 'hex'), Buffer.from(v, 'hex'));
      written++;
    }
    for (const k of current.keys()) {
      if (desired.has(k)) continue;
      this.map.delete(Buffer.from(k, 'hex'));
      deleted++;
    }
    if (desired.size) this.written.set(endpointIdentity, desired);
    else this.written.delete(endpointIdentity);
    return { written, deleted };
  }

  /** Removes every rule of an endpoint identity. */
  clear(endpointIdentity: number): number {
    return this.apply(endpointIdentity, []).deleted;
  }
}

function validate(endpointIdentity: number, e: PolicyEntry): void {
  const where = `policy entry for identity ${endpointIdentity} (${e.direction}, peer ${e.peerIdentity}, ${e.protocol}/${e.port})`;
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) throw new Error(`${where}: port must be 0..65535`);
  if (e.port !== 0 && (e.protocol === 'any' || e.protocol === 'icmp')) throw new Error(`${where}: a port needs protocol tcp or udp`);
  if (e.verdict === 'redirect' && !(e.proxyPort && e.proxyPort > 0 && e.proxyPort < 65536)) throw new Error(`${where}: redirect needs proxyPort`);
  if (e.verdict === 'redirect' && e.protocol !== 'tcp') throw new Error(`${where}: only TCP can be redirected to the proxy`);
}
