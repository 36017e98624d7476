// Reading the node proxy's L7 access log back: one JSON object per line (see envoy.ts accessLog), with the
// verdict made explicit. The observability work consumes this.
import { PEER_SEPARATOR } from './envoy.js';
import { RESERVED_HOST, RESERVED_WORLD } from './identities.js';
import { CIDR_LABEL_PREFIX } from './labels.js';

export interface L7AccessLogEntry {
  time: string;
  /** `ingress`: the destination's chain (its ingress rules, and the egress rules of clients that have some);
   *  `egress`: a client's egress chain, for destinations without an ingress chain on that port. */
  direction: string;
  sourceAddress: string;
  /** Egress: the client whose rules applied. Empty on ingress (the source is known by address and identity). */
  sourceEndpoint: string;
  /** Numeric identity of the source, or undefined when the address is not in the port's identity map (or is a CIDR's). */
  sourceIdentity: number | undefined;
  /** The source's reserved or CIDR labels when it is not a pod (see peerLabels); empty for pods. */
  sourceLabels: string[];
  /** Ingress: the endpoint whose rules applied. Empty on egress (see destinationAddress). */
  destinationEndpoint: string;
  /** Egress: the connection's original destination address; on ingress the address the connection was made to,
   *  in lines translated for flows only (`accessLogForFlows`), else empty. */
  destinationAddress: string;
  destinationIdentity: number | undefined;
  /** The destination's reserved or CIDR labels when it is not a pod (see peerLabels); empty for pods. */
  destinationLabels: string[];
  destinationPort: number | undefined;
  protocol: string;
  method: string;
  path: string;
  host: string;
  responseCode: number;
  /** FORWARDED: allowed and sent to the application; DENIED: an L7 rule refused it (403);
   *  DROPPED: no rule allows this peer on this port at all (the datapath drops these before the proxy). */
  verdict: 'FORWARDED' | 'DENIED' | 'DROPPED' | 'ERROR';
  /** The RBAC decision's name, e.g. `denied:l7`, `dropped:deny-rule`, `dropped:default-deny`; a client's
   *  egress rules' decisions start with `egress:` (`egress:denied:l7`), also in an ingress chain. */
  reason: string;
  /** headerMatches that did not match and whose mismatch action ran, in order (LOG included; header names
   *  in lower case, values never: they may come from Secrets). Empty when there were none. */
  headerMismatches: Array<{ action: string; header: string }>;
}

/** `LOG:x-want,ADD:x-token` → [{action: 'LOG', header: 'x-want'}, …]; Envoy writes null or `-` when there is none. */
function headerMismatches(v: unknown): Array<{ action: string; header: string }> {
  if (typeof v !== 'string' || v === '' || v === '-') return [];
  return v.split(',').flatMap((item) => {
    const colon = item.indexOf(':');
    return colon > 0 ? [{ action: item.slice(0, colon), header: item.slice(colon + 1) }] : [];
  });
}

/**
 * The labels of a peer the log names without a pod identity, as Hubble shows them: the world (`2`) is
 * `reserved:world`, the host (`1`) `reserved:host`, an address in a policy CIDR (`cidr:198.51.100.0/24`, Cilium's
 * node-local CIDR identity) its CIDR label and `reserved:world`. Empty for pod identities and `unlisted`.
 */
export function peerLabels(name: unknown): string[] {
  if (name === String(RESERVED_WORLD)) return ['reserved:world'];
  if (name === String(RESERVED_HOST)) return ['reserved:host'];
  if (typeof name === 'string' && name.startsWith(CIDR_LABEL_PREFIX)) return [name, 'reserved:world'];
  return [];
}

const num = (v: unknown): number | undefined => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);
/** A JSON field's string value; '' for anything else. */
export const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * An end the route's name names (envoy.ts routeLogName: `l7 <identity> <port> <endpoint>`), or undefined; where the
 * route table enforces, the name goes on with the decision (`|<peer>|<decision>`, envoy.ts routeDecisions).
 */
export function routeEnd(v: unknown): { endpoint: string; identity: string; port: string; decision?: string } | undefined {
  const m = /^l7 (\d+) (\d+) ([^|]+)(?:\|(.+))?$/.exec(text(v));
  return m ? { identity: m[1], port: m[2], endpoint: m[3], ...(m[4] ? { decision: m[4] } : {}) } : undefined;
}

/**
 * The decision that refused a request (`<peer>|<decision>`, or a decision without a peer), from its response details
 * and, where the route table enforces, the route's decision; undefined when none did. An RBAC filter's refusal comes
 * first (a client's egress rules run before the route's verdict); a route refuses by its direct response.
 */
export function refusingDecision(details: string, routeDecision: string | undefined): string | undefined {
  const denied = /^rbac_access_denied_matched_policy\[(.*)\]$/.exec(details);
  if (denied) return denied[1];
  if (details === 'direct_response' && routeDecision !== undefined && !peerDecision(routeDecision).decision.startsWith('allowed')) return routeDecision;
  return undefined;
}

/** The verdict of a refusing decision's name without its peer (`denied:l7`, `dropped:…`; `egress:` first for a client's). */
export function refusalVerdict(decision: string): 'DENIED' | 'DROPPED' {
  return decision.replace(/^egress:/, '').startsWith('dropped') ? 'DROPPED' : 'DENIED';
}

/**
 * An enforcing decision's name, `<peer>|<decision>` (envoy.ts PEER_SEPARATOR), split; a name without a peer (a
 * client's egress filter's, the mesh's) is all decision, and the shadow matcher's identities over the mesh all peer.
 */
export function peerDecision(name: string): { peer: string; decision: string } {
  const i = name.indexOf(PEER_SEPARATOR);
  return i < 0 ? { peer: '', decision: name } : { peer: name.slice(0, i), decision: name.slice(i + 1) };
}

/** The peer a decision's name (or, over the mesh, the shadow matcher's identities) names. */
export function peerOf(name: string): string {
  const d = peerDecision(name);
  return d.peer || d.decision;
}

/**
 * `policy`: the peer's decision (`<peer>|<decision>`, whose policy names may hold spaces; over the mesh the peer's
 * identities) and the header mismatches, space-separated; Envoy writes `-` for either when absent.
 */
function policyField(v: unknown): { decision: string; mismatches: string } {
  const t = text(v);
  const space = t.lastIndexOf(' ');
  return { decision: space < 0 ? t : t.slice(0, space), mismatches: space < 0 ? '' : t.slice(space + 1) };
}

/** The enforcing decision a line's `policy` names (`<peer>|<decision>`, or the mesh peer's identities); undefined for none. */
export function policyDecision(v: unknown): string | undefined {
  const { decision } = policyField(v);
  return decision === '' || decision === '-' ? undefined : decision;
}

export function parseL7AccessLogLine(line: string): L7AccessLogEntry | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const details = text(raw.response_code_details);
  // One end is named by the route (`destination` on ingress and over the mesh's outbound side, `source` in a
  // client's egress chain), the other, the peer, by the enforcing decision (`policy`; `-` where nothing names it;
  // where the route table enforces, the route's name goes on with it).
  const source = routeEnd(raw.source);
  const destination = routeEnd(raw.destination);
  const refused = refusingDecision(details, destination?.decision);
  const reason = refused === undefined ? details : peerDecision(refused).decision;
  const code = Number(raw.response_code);
  const verdict = refused !== undefined ? refusalVerdict(reason) : details === 'via_upstream' ? 'FORWARDED' : 'ERROR';
  const policy = policyField(raw.policy);
  const { mismatches } = policy;
  const peer = destination?.decision === undefined ? peerOf(policy.decision) : peerDecision(destination.decision).peer;
  const peerIsSource = raw.destination !== undefined;
  return {
    time: text(raw.time),
    direction: text(raw.direction),
    sourceAddress: text(raw.source_address),
    sourceEndpoint: source?.endpoint ?? '',
    sourceIdentity: num(peerIsSource ? peer : source?.identity),
    sourceLabels: peerIsSource ? peerLabels(peer) : [],
    destinationEndpoint: destination?.endpoint ?? '',
    destinationAddress: text(raw.destination_address),
    destinationIdentity: num(peerIsSource ? destination?.identity : peer),
    destinationLabels: peerIsSource ? [] : peerLabels(peer),
    destinationPort: num((destination ?? source)?.port),
    protocol: text(raw.protocol),
    method: text(raw.method),
    path: text(raw.path),
    host: text(raw.host),
    responseCode: Number.isFinite(code) ? code : 0,
    verdict,
    reason,
    headerMismatches: headerMismatches(mismatches),
  };
}
