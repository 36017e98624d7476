// The L7 policy helper's per-endpoint model (src/l7policy/model.ts: EndpointPolicy) → the datapath's map
// input: policy entries for one endpoint identity, the CIDR identities the entries refer to (for the
// identity cache) and the enforcement flags. Pure.
//
// CIDR peers: every prefix named by a policy (allowed CIDRs and their exceptions) gets an identity in the
// identity cache; the longest prefix wins there, so an entry allowing C except E lists the identities of
// the prefixes inside C and not inside any of its exceptions. Endpoints and the host have their own
// identities (looked up first), so CIDR peers only ever match addresses outside the cluster, as the model
// asks. L7 rules (http), and ingress rules requiring authentication, become a redirect to the node proxy's port.
import { parsePrefix, prefixWithin, type Prefix } from '../l7policy/cidr.js';
import { RESERVED_WORLD } from '../l7policy/identities.js';
import type { DirectionPolicy, EndpointPolicy } from '../l7policy/model.js';
import type { PolicyEntry } from './policy.js';
import type { Protocol } from './layout.js';

/** Identities the datapath gives policy CIDRs (Cilium's local CIDR identity range). */
export const FIRST_CIDR_IDENTITY = 16_777_216;
/** A port range wider than this is not expanded into per-port entries. */
export const MAX_PORT_RANGE = 1024;

export interface DatapathPolicy {
  identity: number;
  ingressEnforced: boolean;
  egressEnforced: boolean;
  entries: PolicyEntry[];
  /** Entries the datapath cannot express, with why (the rest is still applied). */
  unsupported: string[];
}

const ALL_V4 = parsePrefix('0.0.0.0/0')!;
const ALL_V6 = parsePrefix('::/0')!;

/** CIDR → identity, stable across calls (one allocator per node agent). */
export class CidrIdentities {
  private readonly ids = new Map<string, { id: number; prefix: Prefix }>();
  private next = FIRST_CIDR_IDENTITY;

  identity(cidr: string): number {
    let e = this.ids.get(cidr);
    if (!e) {
      const prefix = parsePrefix(cidr);
      if (!prefix) throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
      e = { id: this.next++, prefix };
      this.ids.set(cidr, e);
    }
    return e.id;
  }

  /** The identity cache's content: CIDR → identity. */
  entries(): Map<string, number> {
    return new Map([...this.ids].map(([cidr, e]) => [cidr, e.id]));
  }

  /** Identities of the known prefixes inside `within` and inside none of `except`. */
  inside(within: Prefix, except: Prefix[]): number[] {
    return [...this.ids.values()].filter((e) => prefixWithin(e.prefix, within) && !except.some((x) => prefixWithin(e.prefix, x))).map((e) => e.id);
  }
}

/**
 * Gives every prefix an endpoint's policy names an identity. An entry's peer list depends on all prefixes in the
 * cache, so a caller computing several endpoints' policies registers all of them first (datapathPolicy registers
 * its own endpoint's).
 */
export function registerCidrs(ep: EndpointPolicy, cidrs: CidrIdentities): void {
  for (const dp of [ep.ingress, ep.egress]) for (const e of dp.entries) for (const c of e.peers.cidrs) {
    cidrs.identity(c.text);
    for (const x of c.except) cidrs.identity(prefixText(x));
  }
}

/**
 * `declaredTcpPorts`: the endpoint's declared TCP container ports; an ingress rule requiring authentication on all
 * ports (an L3-only rule) sends these to the proxy (the L7 policy translator has listener chains for exactly them).
 */
export function datapathPolicy(ep: EndpointPolicy, cidrs: CidrIdentities, proxyPort: number, declaredTcpPorts: readonly number[] = []): DatapathPolicy {
  registerCidrs(ep, cidrs);
  const unsupported: string[] = [];
  const entries = [...direction(ep.ingress, cidrs, proxyPort, unsupported, declaredTcpPorts), ...direction(ep.egress, cidrs, proxyPort, unsupported, [])];
  return { identity: ep.identity, ingressEnforced: ep.ingress.enforced, egressEnforced: ep.egress.enforced, entries, unsupported };
}

function direction(dp: DirectionPolicy, cidrs: CidrIdentities, proxyPort: number, unsupported: string[], declaredTcpPorts: readonly number[]): PolicyEntry[] {
  const out: PolicyEntry[] = [];
  for (const e of dp.entries) {
    const where = `${dp.direction} entry of ${e.policy}`;
    if (e.protocol === 'SCTP') {
      unsupported.push(`${where}: SCTP is not handled by the datapath`);
      continue;
    }
    const protocol: Protocol = e.protocol === 'ANY' ? 'any' : e.protocol === 'TCP' ? 'tcp' : 'udp';
    // Ingress ports that require authentication go to the proxy too, HTTP rules or not: it tells plaintext peers
    // (refused, Cilium's "Authentication required") from mutually authenticated ones (the mesh's inbound listener,
    // whose connections to the pod come from the node).
    const authenticated = dp.direction === 'ingress' && e.authentication !== undefined && e.authentication !== 'disabled';
    const l7 = e.verdict === 'allow' && (e.http !== undefined || authenticated);
    // On all ports: the declared TCP ports go to the proxy (the most specific entries), the rest is allowed at L4.
    const declaredRedirects = l7 && e.port === 0 && protocol !== 'udp' ? declaredTcpPorts : [];
    if (l7 && protocol !== 'tcp' && declaredRedirects.length === 0) {
      unsupported.push(`${where}: L7 rules need TCP; applied as L4 allow`);
    }
    const verdict = e.verdict === 'deny' ? 'deny' : l7 && protocol === 'tcp' ? 'redirect' : 'allow';
    let ports: number[];
    if (e.port === 0) ports = [0];
    else if (e.endPort - e.port + 1 > MAX_PORT_RANGE) {
      unsupported.push(`${where}: port range ${e.port}-${e.endPort} wider than ${MAX_PORT_RANGE}; applied to all ports`);
      ports = [0];
    } else ports = Array.from({ length: Math.max(1, e.endPort - e.port + 1) }, (_, i) => e.port + i);
    // A port needs a protocol in the map key: ANY with a port becomes one entry per protocol.
    const protocols: Protocol[] = protocol === 'any' && ports[0] !== 0 ? ['tcp', 'udp'] : [protocol];
    // An address in a policy CIDR has that CIDR's identity, which is the world's too (Cilium's CIDR identities
    // carry `reserved:world`): the world entity selects every CIDR identity besides the world's own.
    const world = e.peers.identities.has(RESERVED_WORLD) ? [...cidrs.inside(ALL_V4, []), ...cidrs.inside(ALL_V6, [])] : [];
    const peers = e.peers.any ? [0] : [...e.peers.identities, ...world, ...e.peers.cidrs.flatMap((c) => cidrs.inside(c.cidr, c.except))];
    for (const peerIdentity of new Set(peers)) {
      for (const port of declaredRedirects) out.push({ direction: dp.direction, peerIdentity, port, protocol: 'tcp', verdict: 'redirect', proxyPort });
      for (const port of ports) for (const p of protocols) {
        const redirect = verdict === 'redirect' && p === 'tcp' && !(port === 0 && declaredRedirects.length > 0);
        out.push({ direction: dp.direction, peerIdentity, port, protocol: p, verdict: redirect ? 'redirect' : verdict === 'redirect' ? 'allow' : verdict, ...(redirect ? { proxyPort } : {}) });
      }
    }
  }
  return out;
}

function prefixText(p: Prefix): string {
  if (p.family === 4) return `${[24, 16, 8, 0].map((s) => Number((p.base >> BigInt(s)) & 255n)).join('.')}/${p.length}`;
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((p.base >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${groups.join(':')}/${p.length}`;
}
