// A reference evaluator for CiliumNetworkPolicy HTTP rules, written from Cilium's documentation and
// independent of src/l7policy: it reads the policy objects as written and answers whether one request
// from one peer to the server's port is forwarded. Only the subset the property test generates.
import { RE2 } from 're2-wasm';

export interface RefPeer {
  /** Pod labels; undefined for an address outside the cluster (the world). */
  labels?: Record<string, string>;
}

export interface RefRequest {
  method: string;
  /** The :path as sent (already normalised), query included. */
  path: string;
  headers: Record<string, string>;
}

export interface RefHttpRule {
  method?: string;
  path?: string;
  headers?: string[];
}

export interface RefRule {
  fromEndpoints?: Array<{ matchLabels: Record<string, string> }>;
  fromEntities?: string[];
  toPorts: Array<{ ports: Array<{ port: string; protocol: 'TCP' }>; rules?: { http: RefHttpRule[] } }>;
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

function httpMatches(r: RefHttpRule, req: RefRequest): boolean {
  if (r.method && !whole(r.method, req.method)) return false;
  if (r.path && !whole(r.path, req.path)) return false;
  for (const h of r.headers ?? []) {
    const space = h.indexOf(' ');
    const name = (space < 0 ? h : h.slice(0, space).replace(/:$/, '')).toLowerCase();
    const value = req.headers[name];
    if (value === undefined) return false;
    if (space >= 0 && value !== h.slice(space + 1)) return false;
  }
  return true;
}

/** 'forward' or 'deny' (the node proxy answers 403 to every request it does not forward). */
export function referenceVerdict(policies: RefPolicy[], port: number, peer: RefPeer, req: RefRequest): 'forward' | 'deny' {
  const onPort = (ports: Array<{ ports: Array<{ port: string }> }>) => ports.some((p) => p.ports.some((pp) => Number(pp.port) === port));
  // Deny policies take precedence over allow policies.
  for (const p of policies) for (const d of p.ingressDeny ?? []) if (peerMatches(d, peer) && onPort(d.toPorts)) return 'deny';
  const allows = policies.flatMap((p) => p.ingress ?? []).filter((r) => peerMatches(r, peer));
  const portRules = allows.flatMap((r) => r.toPorts.filter((tp) => onPort([tp])));
  // Default deny: the server is selected by policies with ingress rules.
  if (portRules.length === 0) return 'deny';
  // "If a layer 4 rule is specified ... a similar layer 4 rule with layer 7 rules ... will have no effect."
  if (portRules.some((tp) => !tp.rules)) return 'forward';
  // "A layer 7 request is permitted if at least one of the rules matches."
  return portRules.some((tp) => tp.rules!.http.some((r) => httpMatches(r, req))) ? 'forward' : 'deny';
}
