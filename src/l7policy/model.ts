/**
 * The policy model: for one endpoint and direction, which peers may reach which ports, and under which L7
 * rules. Pure; consumed by the node proxy's Envoy configuration (src/l7policy/envoy.ts) for L7 and by the
 * eBPF datapath for L3/L4.
 *
 * Interface for the datapath:
 *   const model = buildPolicyModel(table, policies);          // once per change of pods or policies
 *   const ep = model.endpointPolicy(endpoint);               // EndpointPolicy: { ingress, egress }
 *   ep.ingress.enforced                                       // default-deny in this direction?
 *   ep.ingress.entries                                        // PolicyEntry[]: (peers, protocol, port..endPort,
 *                                                             //   verdict allow|deny, http rules or none)
 *   decide(ep.ingress, { identity }, port, 'TCP')             // the verdict for one plaintext peer and port:
 *                                                             //   { verdict: 'allow', http: null }  any request
 *                                                             //   { verdict: 'allow', http: [...] } L7 rules apply
 *                                                             //   { verdict: 'deny', reason }       dropped
 *   decide(ep.ingress, peers, port, 'TCP', { authenticated: true })  // a mutually authenticated peer (the
 *                                                             //   identities of its SPIFFE ID: see below)
 *   model.allowedIdentities(ep.ingress, port, 'TCP')          // identities allowed at L3/L4 on that port
 *
 * Semantics (Cilium's, docs.cilium.io "Policy Enforcement Modes", "Layer 7 Policies", "Deny Policies"):
 * rules are allow-lists; deny rules win over allow rules; an endpoint is default-deny in a direction only
 * when some policy selecting it has rules in that direction (or sets enableDefaultDeny); an allow rule
 * without L7 rules for a peer and port makes every L7 rule for that peer and port moot; L7 rules of all
 * matching rules are or-ed. CIDR peers only ever select addresses outside the cluster (the world).
 *
 * Authentication (Cilium's `authentication.mode`, "Mutual Authentication"): the requirement belongs to the
 * peer and port, as in Cilium's policy map, where the entries of one identity and port merge and the
 * strongest explicit mode wins (test-always-fail > required > disabled; a rule that names no mode takes the
 * others'). So once an allow rule matching a peer on a port says `required`, that peer is allowed there only
 * when it authenticated (over the mesh's mutual TLS) — every matching rule's L7 rules then apply, those of
 * rules without authentication too; `test-always-fail` never authenticates. A plaintext peer is denied with
 * reason `authentication-required` (Cilium drops it: "Authentication required"). An authenticated peer is
 * known by its SPIFFE ID, which names a namespace and service account, not a label set: it counts as every
 * identity with that service account (`decide` takes their list; a rule matches when it selects one).
 */
import { parsePrefix, prefixWithin, type Prefix } from './cidr.js';
import { RESERVED_HOST, RESERVED_WORLD, type Endpoint, type IdentityTable } from './identities.js';
import { selects } from './labels.js';
import type { AuthenticationMode, Direction, HttpRule, Peer, Policy, Protocol, Rule } from './types.js';

export interface CidrPeer {
  cidr: Prefix;
  except: Prefix[];
  text: string;
}

/** Resolved peers: identities by number, CIDRs (which apply to world addresses only), or anyone. */
export interface PeerSet {
  any: boolean;
  identities: Set<number>;
  cidrs: CidrPeer[];
}

export interface PolicyEntry {
  policy: string;
  verdict: 'allow' | 'deny';
  peers: PeerSet;
  /** 'ANY' matches every protocol. */
  protocol: Protocol;
  /** 0: every port. */
  port: number;
  endPort: number;
  /** Absent: no L7 rule (the whole port). */
  http?: HttpRule[];
  /** The rule's `authentication.mode`; absent when it names none. */
  authentication?: AuthenticationMode;
}

export interface DirectionPolicy {
  direction: Direction;
  enforced: boolean;
  entries: PolicyEntry[];
  /** Policies selecting the endpoint in this direction, by id. */
  policies: string[];
}

export interface EndpointPolicy {
  endpoint: string;
  identity: number;
  ingress: DirectionPolicy;
  egress: DirectionPolicy;
}

/** A peer as seen by the datapath or the proxy: its identity and, for the world, the address prefix it is in. */
export interface PeerRef {
  identity: number;
  /** World peers only: the prefix the address belongs to (a host address, or the most specific policy CIDR). */
  prefix?: Prefix;
}

export type Decision =
  | {
      verdict: 'allow';
      http: null;
      policies: string[];
      /** L7 rules with headerMatches mismatch actions that still select this peer: Cilium's proxy evaluates
       *  every rule of the port once one has such actions (no short-circuit), so their actions run although
       *  an L4-only rule allows the request. Absent when there are none. */
      headerActions?: Array<{ rule: HttpRule; policy: string }>;
    }
  | { verdict: 'allow'; http: Array<{ rule: HttpRule; policy: string }>; policies: string[] }
  | { verdict: 'deny'; reason: 'deny-rule' | 'default-deny' | 'authentication-required' | 'authentication-failed'; policies: string[] };

/** How the peer reached the endpoint: over the mesh's mutual TLS (authenticated) or in plaintext (default). */
export interface PeerAuthentication {
  authenticated?: boolean;
}

const AUTH_STRENGTH: Record<AuthenticationMode, number> = { disabled: 0, required: 1, 'test-always-fail': 2 };

/** The authentication the allow entries of one peer and port need: the strongest explicit mode (Cilium's merge). */
export function requiredAuthentication(entries: readonly PolicyEntry[]): AuthenticationMode | undefined {
  let mode: AuthenticationMode | undefined;
  for (const e of entries) if (e.authentication && (!mode || AUTH_STRENGTH[e.authentication] > AUTH_STRENGTH[mode])) mode = e.authentication;
  return mode;
}

export function portMatches(e: PolicyEntry, port: number, protocol: Protocol): boolean {
  if (e.protocol !== 'ANY' && protocol !== 'ANY' && e.protocol !== protocol) return false;
  return e.port === 0 || (port >= e.port && port <= e.endPort);
}

export function peerMatches(peers: PeerSet, peer: PeerRef): boolean {
  if (peers.any || peers.identities.has(peer.identity)) return true;
  if (peer.identity !== RESERVED_WORLD) return false;
  const p = peer.prefix;
  if (!p) return false;
  return peers.cidrs.some((c) => prefixWithin(p, c.cidr) && !c.except.some((e) => prefixWithin(p, e)));
}

/**
 * The verdict for one peer on one port (and, when allowed with L7 rules, the rules a request must match).
 * `peer` may be several identities (an authenticated SPIFFE ID's): an entry matches when it matches one.
 */
export function decide(dp: DirectionPolicy, peer: PeerRef | readonly PeerRef[], port: number, protocol: Protocol, how: PeerAuthentication = {}): Decision {
  const peers = Array.isArray(peer) ? (peer as readonly PeerRef[]) : [peer as PeerRef];
  const matching = dp.entries.filter((e) => portMatches(e, port, protocol) && peers.some((p) => peerMatches(e.peers, p)));
  const denies = matching.filter((e) => e.verdict === 'deny');
  if (denies.length > 0) return { verdict: 'deny', reason: 'deny-rule', policies: unique(denies.map((e) => e.policy)) };
  const allows = matching.filter((e) => e.verdict === 'allow');
  if (allows.length === 0) {
    if (dp.enforced) return { verdict: 'deny', reason: 'default-deny', policies: [] };
    return { verdict: 'allow', http: null, policies: [] };
  }
  const policies = unique(allows.map((e) => e.policy));
  const authentication = requiredAuthentication(allows);
  if (authentication === 'test-always-fail') return { verdict: 'deny', reason: 'authentication-failed', policies };
  if (authentication === 'required' && !how.authenticated) return { verdict: 'deny', reason: 'authentication-required', policies };
  if (allows.some((e) => !e.http)) {
    const headerActions = allows.flatMap((e) => (e.http ?? []).filter(hasHeaderActions).map((rule) => ({ rule, policy: e.policy })));
    return headerActions.length ? { verdict: 'allow', http: null, policies, headerActions } : { verdict: 'allow', http: null, policies };
  }
  // `http: []` has no constraint: it allows every request, like an empty rule.
  const http = allows.flatMap((e) => (e.http!.length ? e.http!.map((rule) => ({ rule, policy: e.policy })) : [{ rule: { headers: [], headerMatches: [] }, policy: e.policy }]));
  return { verdict: 'allow', http, policies };
}

/** Whether a rule modifies or logs requests (a headerMatch with a mismatch action), besides allowing them. */
export function hasHeaderActions(rule: HttpRule): boolean {
  return rule.headerMatches.some((m) => m.mismatch !== undefined);
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

const ALL_V4 = parsePrefix('0.0.0.0/0')!;
const ALL_V6 = parsePrefix('::/0')!;

export class PolicyModel {
  private readonly peerCache = new Map<Peer[], PeerSet>();
  private readonly selected = new Map<number, Policy[]>();

  constructor(
    readonly table: IdentityTable,
    readonly policies: Policy[],
  ) {}

  /** Policies whose endpointSelector selects an identity (computed once per identity). */
  selecting(identity: number): Policy[] {
    let hit = this.selected.get(identity);
    if (hit) return hit;
    const labels = this.table.identities.get(identity)?.labels;
    hit = labels ? this.policies.filter((p) => p.endpointSelector && selects(p.endpointSelector, labels)) : [];
    this.selected.set(identity, hit);
    return hit;
  }

  resolvePeers(peers: Peer[] | null): PeerSet {
    if (peers === null) return { any: true, identities: new Set(), cidrs: [] };
    const cached = this.peerCache.get(peers);
    if (cached) return cached;
    const out: PeerSet = { any: false, identities: new Set(), cidrs: [] };
    for (const peer of peers) {
      if (peer.kind === 'endpoints') {
        for (const identity of this.table.identities.values()) if (selects(peer.selector, identity.labels)) out.identities.add(identity.id);
      } else if (peer.kind === 'cidr') {
        out.cidrs.push({ cidr: parsePrefix(peer.cidr)!, except: peer.except.map((e) => parsePrefix(e)!), text: peer.cidr });
      } else {
        switch (peer.entity) {
          case 'all':
            out.any = true;
            break;
          case 'world':
            out.identities.add(RESERVED_WORLD);
            break;
          case 'world-ipv4':
            out.cidrs.push({ cidr: ALL_V4, except: [], text: '0.0.0.0/0' });
            break;
          case 'world-ipv6':
            out.cidrs.push({ cidr: ALL_V6, except: [], text: '::/0' });
            break;
          case 'host':
            out.identities.add(RESERVED_HOST);
            break;
          case 'cluster':
            // Every endpoint of this cluster and the node itself (remote nodes: none in standalone mode).
            for (const id of this.table.identities.keys()) if (id !== RESERVED_WORLD) out.identities.add(id);
            break;
          default:
            // remote-node, init, health, unmanaged, kube-apiserver, ingress, none: no such peers here.
            break;
        }
      }
    }
    this.peerCache.set(peers, out);
    return out;
  }

  private namedPorts(name: string, direction: Direction, endpoint: Endpoint): number[] {
    const candidates = direction === 'ingress' ? [endpoint] : this.table.endpoints;
    return [...new Set(candidates.flatMap((e) => e.ports.filter((p) => p.name === name).map((p) => p.containerPort)))].sort((a, b) => a - b);
  }

  private entries(policy: Policy, rule: Rule, endpoint: Endpoint): PolicyEntry[] {
    const peers = this.resolvePeers(rule.peers);
    const base = { policy: policy.id, verdict: rule.deny ? ('deny' as const) : ('allow' as const), peers, ...(rule.http ? { http: rule.http } : {}), ...(rule.authentication ? { authentication: rule.authentication } : {}) };
    if (rule.ports === null) return [{ ...base, protocol: 'ANY', port: 0, endPort: 65535 }];
    return rule.ports.flatMap((p) => {
      const numbers = typeof p.port === 'number' ? [p.port] : this.namedPorts(p.port, rule.direction, endpoint);
      return numbers.map((port) => ({ ...base, protocol: p.protocol, port, endPort: port === 0 ? 65535 : (p.endPort ?? port) }));
    });
  }

  endpointPolicy(endpoint: Endpoint): EndpointPolicy {
    const selecting = this.selecting(endpoint.identity);
    const direction = (d: Direction): DirectionPolicy => {
      const policies = selecting.filter((p) => p.rules.some((r) => r.direction === d) || p.defaultDeny[d]);
      return {
        direction: d,
        enforced: selecting.some((p) => p.defaultDeny[d]),
        entries: policies.flatMap((p) => p.rules.filter((r) => r.direction === d).flatMap((r) => this.entries(p, r, endpoint))),
        policies: policies.map((p) => p.id),
      };
    };
    return { endpoint: endpoint.name, identity: endpoint.identity, ingress: direction('ingress'), egress: direction('egress') };
  }

  /** Identities allowed at L3/L4 on a port in plaintext (the world counts as one identity when any CIDR or world rule allows it). */
  allowedIdentities(dp: DirectionPolicy, port: number, protocol: Protocol): number[] {
    return [...this.table.identities.keys()].filter((identity) => decide(dp, { identity }, port, protocol).verdict === 'allow').sort((a, b) => a - b);
  }
}

export function buildPolicyModel(table: IdentityTable, policies: Policy[]): PolicyModel {
  return new PolicyModel(table, policies);
}

export function computeEndpointPolicy(table: IdentityTable, policies: Policy[], endpoint: Endpoint): EndpointPolicy {
  return buildPolicyModel(table, policies).endpointPolicy(endpoint);
}
