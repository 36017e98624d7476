// A reference evaluator for CiliumNetworkPolicy HTTP rules, written from Cilium's documentation and
// independent of src/l7policy: it reads the policy objects as written and answers whether one request
// from one peer to the server's port is forwarded, and with which headers. Only the subset the property
// test generates.
//
// headerMatches: "Mismatch identifies what to do in case there is no match. The default is to drop the
// request. Otherwise the overall rule is still considered as matching, but the mismatches are logged"
// (Cilium's api.HeaderMatch); LOG, ADD, DELETE, REPLACE as cilium/proxy applies them: once a port has
// such actions, every rule selecting the peer is evaluated in turn, and a rule whose other conditions hold
// on the headers as the previous rules left them runs its actions (in the order the policies list them).
//
// Egress (Cilium, "Layer 7 Examples" and "Policy Enforcement Modes"): a client selected by a policy with
// egress rules may send only what those rules allow-list for the destination and port; a client no policy
// selects in that direction sends anything. A request is forwarded when the client's egress rules and the
// server's ingress rules both allow it (the egress check sees the request as the client sent it).
// authentication.mode: Cilium's "Mutual Authentication" page and its policy map's merge (see below).
import { RE2 } from 're2-wasm';

export interface RefPeer {
  /** Pod labels; undefined for an address outside the cluster (the world). */
  labels?: Record<string, string>;
  /** Whether the peer mutually authenticated (over the mesh); plaintext when absent. */
  authenticated?: boolean;
}

export interface RefRequest {
  method: string;
  /** The :path as sent (already normalised), query included. */
  path: string;
  headers: Record<string, string>;
}

export interface RefHeaderMatch {
  name: string;
  value?: string;
  mismatch?: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE';
}

export interface RefHttpRule {
  method?: string;
  path?: string;
  headers?: string[];
  headerMatches?: RefHeaderMatch[];
}

/** Request headers by lower-case name, each with its values in order (a header may repeat). */
export type RefHeaders = Map<string, string[]>;

export interface RefRule {
  fromEndpoints?: Array<{ matchLabels: Record<string, string> }>;
  fromEntities?: string[];
  authentication?: { mode: 'disabled' | 'required' };
  toPorts: Array<{ ports: Array<{ port: string; protocol: 'TCP' }>; rules?: { http: RefHttpRule[] } }>;
}

/** An egress rule of a client's policy (peers: the server or other pods, or entities). */
export interface RefEgressRule {
  toEndpoints?: Array<{ matchLabels: Record<string, string> }>;
  toEntities?: string[];
  toPorts: RefRule['toPorts'];
}

/** A policy selecting clients by label, with egress rules (header mismatch actions are not generated on egress). */
export interface RefEgressPolicy {
  endpointSelector: { matchLabels: Record<string, string> };
  egress: RefEgressRule[];
  egressDeny?: Array<Omit<RefEgressRule, 'toPorts'> & { toPorts: Array<{ ports: Array<{ port: string; protocol: 'TCP' }> }> }>;
}

export interface RefPolicy {
  ingress?: RefRule[];
  ingressDeny?: Array<Omit<RefRule, 'toPorts'> & { toPorts: Array<{ ports: Array<{ port: string; protocol: 'TCP' }> }> }>;
}

/** "Extended regular expressions matched against the whole value" (RE2, as Cilium's proxy uses). */
const compiled = new Map<string, RE2>();
const whole = (pattern: string, value: string): boolean => {
  let re = compiled.get(pattern);
  if (!re) compiled.set(pattern, (re = new RE2(`^(?:${pattern})$`, 'u')));
  return re.test(value);
};

function peerMatches(rule: { fromEndpoints?: RefRule['fromEndpoints']; fromEntities?: string[] }, peer: RefPeer): boolean {
  if (rule.fromEndpoints) {
    // Same-namespace endpoints whose labels include every matchLabels pair.
    return peer.labels !== undefined && rule.fromEndpoints.some((s) => Object.entries(s.matchLabels).every(([k, v]) => peer.labels![k] === v));
  }
  if (rule.fromEntities) {
    return rule.fromEntities.some((e) => e === 'all' || (e === 'world' && peer.labels === undefined) || (e === 'cluster' && peer.labels !== undefined));
  }
  return true; // only toPorts: every peer
}

/** A header's value as proxies compare it: every value, joined by commas; undefined when absent. */
const joined = (headers: RefHeaders, name: string): string | undefined => headers.get(name.toLowerCase())?.join(',');

/** Whether the rule's conditions hold: method, path, headers, and headerMatches without a mismatch action. */
function httpMatches(r: RefHttpRule, req: RefRequest, headers: RefHeaders): boolean {
  if (r.method && !whole(r.method, req.method)) return false;
  if (r.path && !whole(r.path, req.path)) return false;
  for (const h of r.headers ?? []) {
    const space = h.indexOf(' ');
    const value = joined(headers, space < 0 ? h : h.slice(0, space).replace(/:$/, ''));
    if (value === undefined) return false;
    if (space >= 0 && value !== h.slice(space + 1)) return false;
  }
  for (const m of r.headerMatches ?? []) {
    if (m.mismatch) continue;
    const value = joined(headers, m.name);
    if (value === undefined || (m.value && value !== m.value)) return false;
  }
  return true;
}

/** Runs a matching rule's mismatch actions on the headers. */
function runActions(r: RefHttpRule, headers: RefHeaders): void {
  for (const m of r.headerMatches ?? []) {
    if (!m.mismatch) continue;
    const name = m.name.toLowerCase();
    const value = joined(headers, name);
    const matches = m.value ? value === m.value : value !== undefined;
    if (matches) continue;
    if (m.mismatch === 'ADD') headers.set(name, [...(headers.get(name) ?? []), m.value ?? '']);
    else if (m.mismatch === 'REPLACE') headers.set(name, [m.value ?? '']);
    else if (m.mismatch === 'DELETE' && m.value && value !== undefined) headers.delete(name);
  }
}

/** Whether the client's egress rules let it send the request to the server's port (the server's labels given). */
export function referenceEgressAllows(policies: RefEgressPolicy[], port: number, client: RefPeer, server: Record<string, string>, req: RefRequest): boolean {
  if (!client.labels) return true; // the world: no policy selects it
  const selecting = policies.filter((p) => Object.entries(p.endpointSelector.matchLabels).every(([k, v]) => client.labels![k] === v));
  // A client no policy selects in this direction is not restricted.
  if (selecting.length === 0) return true;
  const onPort = (ports: Array<{ ports: Array<{ port: string }> }>) => ports.some((p) => p.ports.some((pp) => Number(pp.port) === port));
  const to = (r: { toEndpoints?: RefEgressRule['toEndpoints']; toEntities?: string[] }) => peerMatches({ fromEndpoints: r.toEndpoints, fromEntities: r.toEntities }, { labels: server });
  for (const p of selecting) for (const d of p.egressDeny ?? []) if (to(d) && onPort(d.toPorts)) return false;
  const portRules = selecting.flatMap((p) => p.egress).filter(to).flatMap((r) => r.toPorts.filter((tp) => onPort([tp])));
  if (portRules.length === 0) return false;
  if (portRules.some((tp) => !tp.rules)) return true;
  const headers: RefHeaders = new Map(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), [v]]));
  return portRules.flatMap((tp) => tp.rules?.http ?? []).some((r) => httpMatches(r, req, headers));
}

/** 'forward' or 'deny' (the node proxy answers 403 to every request it does not forward). */
export function referenceVerdict(policies: RefPolicy[], port: number, peer: RefPeer, req: RefRequest): 'forward' | 'deny' {
  return referenceOutcome(policies, port, peer, req).verdict;
}

/** The verdict, and the headers the application receives when the request is forwarded. */
export function referenceOutcome(policies: RefPolicy[], port: number, peer: RefPeer, req: RefRequest): { verdict: 'forward' | 'deny'; headers: RefHeaders } {
  const headers: RefHeaders = new Map(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), [v]]));
  const onPort = (ports: Array<{ ports: Array<{ port: string }> }>) => ports.some((p) => p.ports.some((pp) => Number(pp.port) === port));
  const deny = { verdict: 'deny' as const, headers };
  // Deny policies take precedence over allow policies.
  for (const p of policies) for (const d of p.ingressDeny ?? []) if (peerMatches(d, peer) && onPort(d.toPorts)) return deny;
  const allows = policies.flatMap((p) => p.ingress ?? []).filter((r) => peerMatches(r, peer));
  const portRules = allows.flatMap((r) => r.toPorts.filter((tp) => onPort([tp])));
  // Default deny: the server is selected by policies with ingress rules.
  if (portRules.length === 0) return deny;
  // Mutual authentication: `required` "allows traffic only when the peers have mutually authenticated";
  // Cilium's policy map merges the rules of one peer and port, the strongest explicit mode winning.
  const onThisPort = allows.filter((r) => onPort(r.toPorts));
  if (!peer.authenticated && onThisPort.some((r) => r.authentication?.mode === 'required')) return deny;
  const httpRules = portRules.flatMap((tp) => tp.rules?.http ?? []);
  const hasActions = httpRules.some((r) => r.headerMatches?.some((m) => m.mismatch));
  // "A layer 7 request is permitted if at least one of the rules matches"; with actions, every rule is
  // evaluated (its actions run when it matches), otherwise the first match decides.
  let allowed = false;
  for (const r of httpRules) {
    if (!httpMatches(r, req, headers)) continue;
    allowed = true;
    if (!hasActions) break;
    runActions(r, headers);
  }
  // "If a layer 4 rule is specified ... a similar layer 4 rule with layer 7 rules ... will have no effect."
  if (portRules.some((tp) => !tp.rules)) allowed = true;
  return { verdict: allowed ? 'forward' : 'deny', headers };
}
