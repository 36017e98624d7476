// The node proxy's share of L7 policy: for every endpoint port where HTTP rules apply (ingress), a listener
// on the endpoint's address and port (standalone mode: clients connect to it as they would to the pod) or a
// filter chain of the transparent listener (Kubernetes mode: the datapath redirects), that forwards allowed
// requests to the application and answers the others 403 `Access denied`; in transparent mode also, for every
// endpoint with HTTP rules on egress, a chain per destination port for the connections it opens.
//
// Enforcement is Envoy's RBAC filter with a matcher tree: the connection's source address (never a header)
// selects the peer's identity group (egress: its destination address), the request's :method, :path,
// :authority and headers select the rule. The policy travels in the route configuration (RDS, per virtual
// host), never in the listener, so a policy or identity change reaches the next request on an established
// connection without draining it.
//
// Envoy picks a filter chain by destination first: a connection from pod A to pod B's port where B has an
// ingress chain always lands in B's chain, even when A has egress HTTP rules for that port. So every ingress
// chain (and standalone listener) also carries a second RBAC filter with the egress verdicts of the clients
// that have egress rules, keyed by the client's address: both must allow. A's own egress chain (any
// destination, A's source address) serves the destinations without an ingress chain.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster.js';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener.js';
import type { FilterChain } from '../generated/envoy/config/listener/v3/FilterChain.js';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration.js';
import type { Route } from '../generated/envoy/config/route/v3/Route.js';
import type { FileAccessLog } from '../generated/envoy/extensions/access_loggers/file/v3/FileAccessLog.js';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { RBAC } from '../generated/envoy/extensions/filters/http/rbac/v3/RBAC.js';
import type { RBACPerRoute } from '../generated/envoy/extensions/filters/http/rbac/v3/RBACPerRoute.js';
import type { Router } from '../generated/envoy/extensions/filters/http/router/v3/Router.js';
import type { FilterConfig } from '../generated/envoy/config/route/v3/FilterConfig.js';
import type { Lua } from '../generated/envoy/extensions/filters/http/lua/v3/Lua.js';
import type { LuaPerRoute } from '../generated/envoy/extensions/filters/http/lua/v3/LuaPerRoute.js';
import type { Any } from '../generated/google/protobuf/Any.js';
import type { Matcher } from '../generated/xds/type/matcher/v3/Matcher.js';
import { ADS_CONFIG_SOURCE, edsCluster, loadAssignment } from '../xds/builders.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../xds/envoy-resources.js';
import { packAny } from '../xds/protos.js';
import type { Resource } from '../xds/resource.js';
import { formatPrefix, parsePrefix, prefixKey, prefixWithin, type Prefix } from './cidr.js';
import { ACCESS_DENIED_BODY, MESH_INBOUND_RBAC_FILTER, POLICY_REQUEST_HANDLING, PROXY_ONLY_REQUEST_HEADERS } from './http-hardening.js';
import { CIDR_LABEL_PREFIX } from './labels.js';
import { spiffeIdentities } from './spiffe-identities.js';
import { EGRESS_HEADER_ACTIONS_FILTER, EGRESS_HEADER_RULES_FILTER, EGRESS_HEADER_RULES_PREFIX, HEADER_ACTIONS_FILTER, HEADER_MISMATCH_METADATA, HEADER_RULES_FILTER, HeaderActionsError, headerActionsConfig, headerMatchValue, type ActionsSide } from './header-actions.js';
import { RESERVED_HOST, RESERVED_WORLD, type Endpoint, type IdentityTable } from './identities.js';
import { action, addressIn, all, any, DESTINATION_IP_INPUT, PEER_ADDRESS_INPUT, exactPredicate, NEVER, PEER_URI_SAN_INPUT, peerSpiffeIdIn, presentPredicate, regexPredicate, SOURCE_IP_INPUT, type OnMatch, type Predicate } from './matchers.js';
import { decide, hasHeaderActions, portMatches, type Decision, type DirectionPolicy, type PeerAuthentication, type PolicyModel } from './model.js';
import type { Direction, HttpRule, Policy } from './types.js';
import type { TypedExtensionConfig } from '../generated/xds/core/v3/TypedExtensionConfig.js';

export { ACCESS_DENIED_BODY } from './http-hardening.js';
export const RBAC_FILTER = 'weft.l7policy';
/** The HCM filter enforcing egress rules (the client's): disabled in the listener, enabled per virtual host. */
export const EGRESS_RBAC_FILTER = 'weft.l7policy.egress';
/** Egress decisions are named `egress:allowed:…`, `egress:denied:l7`, …: a refusal says whose policy refused. */
export const EGRESS_DECISION_PREFIX = 'egress:';
/** Prefix of the egress filter's dynamic metadata keys, so they do not overwrite the ingress filter's. */
export const EGRESS_RULES_PREFIX = 'weft_egress_';
/** Dynamic metadata namespace of the RBAC filters' results (the enforcing matcher's decision names the peer) in access logs. */
const RBAC_METADATA = 'envoy.filters.http.rbac';
/** Ranges with L7 rules on pods that declare no container ports are proxied port by port up to this size. */
export const MAX_UNDECLARED_RANGE = 64;

export interface L7Problem {
  endpoint: Endpoint;
  message: string;
}

export interface L7ListenerInfo {
  name: string;
  endpoint: string;
  address: string;
  port: number;
  backend: { address: string; port: number };
  /** With `mesh`: the route configuration that serves this endpoint port on the mesh's inbound listener. */
  meshRoute?: string;
  /**
   * With `mesh`, when some client's egress rules restrict requests to this endpoint port: what the mesh's outbound
   * side (the clients' node) applies to them before they leave for the destination's node (MeshClientsEgress).
   */
  meshEgress?: MeshClientsEgress;
}

/**
 * The clients' egress rules towards one endpoint port, for the mesh's outbound connection managers (src/mtls):
 * the per-virtual-host configuration that enables MESH_OUTBOUND_POLICY_FILTERS (verdicts and header actions keyed
 * by the client's address, as in a destination's chain), and the route's name the access logs name the
 * destination by. Cilium checks a client's egress rules at the client; a request over the mesh is only
 * authenticated (and judged by the destination's ingress rules) on the destination's node.
 */
export interface MeshClientsEgress {
  typedPerFilterConfig: Record<string, Any>;
  /** The route's name, which the access log reads (routeLogName). */
  routeName: string;
  /**
   * The addresses of the clients these rules restrict (L7 rules, header actions or an L3/L4 refusal): the mesh's
   * transparent listener parses their connections to this port as HTTP, never through the plain-TCP tunnel.
   */
  clients: string[];
}

export interface EnvoyL7Options {
  /** Where Envoy writes the JSON access log of every request these listeners see. */
  accessLogPath: string;
  /**
   * Flows: the node's flow agent reads the access log file (src/observe/access-log-tail.ts); each line then also
   * carries what a flow needs beyond the policy's own record: the connection's local address and the duration.
   */
  accessLogForFlows?: boolean;
  /** Secret values for headerMatches: `ns/name` → the value (a Secret's only entry). */
  secrets: ReadonlyMap<string, string>;
  /**
   * Kubernetes mode: the datapath redirects connections to L7-policed pod ports into one transparent listener
   * (see TransparentProxy); without it (standalone), a listener on each pod address stands in for the pod.
   */
  transparent?: TransparentProxy;
  /**
   * Mesh mutual TLS (src/mtls): also emit, per policed endpoint port, the route configuration the mesh's inbound
   * listener serves it with (meshRouteName), deciding by the verified peer SPIFFE ID of this trust domain.
   * Transparent too (Kubernetes): the route then goes to the pod's address through a cluster of its own.
   */
  mesh?: { trustDomain: string };
  /**
   * What enforces an endpoint port's rules in its own chain: `route` (default), the route table, its virtual host's
   * matcher deciding by the peer address header, one hash lookup and the rules' predicates, the decision a route
   * named after it (ports with headerMatches mismatch actions keep the RBAC filter: their actions run between the
   * verdict and the request's routing); `rbac`, the RBAC filter for every port (~5 % more instructions a request,
   * more in time; BENCHMARKS.md).
   */
  enforcement?: 'route' | 'rbac';
}

/**
 * The node Envoy's transparent listener, where the eBPF datapath assigns connections to L7-policed pod ports
 * (src/datapath/controller.ts, proxyPort). One filter chain per endpoint port, chosen by the connection's
 * original destination (address and port), holds that port's HTTP connection manager and policy; allowed
 * requests go to the original destination from the client's own address (original_src), so the pod sees its
 * real peer, and upstream packets carry `upstreamMark` so that the datapath returns the pod's replies here.
 */
export interface TransparentProxy {
  proxyPort: number;
  upstreamMark: number;
}

export const TRANSPARENT_LISTENER = 'l7/transparent';
/** The cluster of a transparent chain: the connection's original destination. */
export const ORIGINAL_DESTINATION_CLUSTER = 'l7/original-destination';

/** The conditions of one HTTP rule, as Cilium's proxy checks them (header names are case-insensitive). */
export function rulePredicates(rule: HttpRule, secrets: ReadonlyMap<string, string>): Predicate[] {
  const out: Predicate[] = [];
  if (rule.method) out.push(regexPredicate(':method', rule.method));
  if (rule.path) out.push(regexPredicate(':path', rule.path));
  if (rule.host) out.push(regexPredicate(':authority', rule.host));
  for (const h of rule.headers) out.push(h.value === undefined ? presentPredicate(h.name.toLowerCase()) : exactPredicate(h.name.toLowerCase(), h.value));
  for (const m of rule.headerMatches) {
    const value = headerMatchValue(m, secrets);
    if (value === null) {
      // Cilium: a Secret that cannot be read, with no fallback value, makes the rule fail.
      out.push(NEVER);
      continue;
    }
    // A mismatch action never fails the rule (it logs or edits the header instead: header-actions.ts).
    if (m.mismatch) continue;
    out.push(value === undefined ? presentPredicate(m.name.toLowerCase()) : exactPredicate(m.name.toLowerCase(), value));
  }
  return out;
}

/**
 * Rules that differ only in their path become one rule whose path is the alternation of theirs: RE2 matches
 * an alternation in one pass, where separate rules cost one regular expression each (see BENCHMARKS.md).
 * Whole-value matching makes this exact: the request matches the alternation iff it matches one path.
 */
export function mergePaths(rules: Array<{ rule: HttpRule; policy: string }>): Array<{ rule: HttpRule; policy: string }> {
  const groups = new Map<string, Array<{ rule: HttpRule; policy: string }>>();
  for (const r of rules) {
    const key = JSON.stringify({ ...r.rule, path: undefined });
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(r);
  }
  return [...groups.values()].map((group) => {
    if (group.length === 1) return group[0];
    const policy = [...new Set(group.map((g) => g.policy))].join(',');
    // A rule of the group without a path matches every path: the group is that rule.
    const open = group.find((g) => !g.rule.path);
    if (open) return { rule: open.rule, policy };
    const paths = [...new Set(group.map((g) => g.rule.path!))];
    return { rule: { ...group[0].rule, path: paths.length === 1 ? paths[0] : paths.map((p) => `(?:${p})`).join('|') }, policy };
  });
}

/**
 * Peer classes of one port: identity groups with equal decisions, and the world's address prefixes; on the
 * mesh's inbound listener, SPIFFE IDs (`ids`: the verified peer certificate's) instead of addresses.
 */
interface PeerGroup {
  prefixes: Prefix[];
  ids?: string[];
  decision: Decision;
  label: string;
  /** The peer's name its decisions carry (`<peer>|<decision>`, peerDecision), when the enforcing matcher names it. */
  peer?: string;
}

function signature(d: Decision): string {
  if (d.verdict === 'deny') return `deny:${d.reason}`;
  if (d.http === null) return d.headerActions ? `allow:${JSON.stringify(d.headerActions)}` : 'allow';
  return `l7:${JSON.stringify(d.http)}`;
}

/** How an RBAC configuration tells peers apart: by an address of the connection, and how its decisions are named. */
interface Classifier {
  input: TypedExtensionConfig;
  prefix: string;
  /** What a named decision does (the RBAC filter's action by default; a route where the route table enforces). */
  act?: Decide;
}

/** The action of a decision named `name` that allows or refuses the request. */
export type Decide = (name: string, allow: boolean) => OnMatch;

const ALL_V4 = parsePrefix('0.0.0.0/0')!;
const ALL_V6 = parsePrefix('::/0')!;

const INGRESS_BY_SOURCE: Classifier = { input: SOURCE_IP_INPUT, prefix: '' };
/** An egress chain: the client is fixed, the peer is the connection's (original) destination. */
const EGRESS_BY_DESTINATION: Classifier = { input: DESTINATION_IP_INPUT, prefix: EGRESS_DECISION_PREFIX };
/** An ingress chain: the destination is fixed, the clients with egress rules are told apart by their address. */
const EGRESS_BY_SOURCE: Classifier = { input: SOURCE_IP_INPUT, prefix: EGRESS_DECISION_PREFIX };
/** The clients' egress header actions: in a client's own egress chain by destination, in a destination's chain by client. */
const EGRESS_ACTIONS_BY_DESTINATION: ActionsSide = { prefix: EGRESS_HEADER_RULES_PREFIX, input: DESTINATION_IP_INPUT };
const EGRESS_ACTIONS_BY_SOURCE: ActionsSide = { prefix: EGRESS_HEADER_RULES_PREFIX, input: SOURCE_IP_INPUT };

/**
 * Separates the peer's name from the decision in the enforcing matcher's decision names (`14440|denied:l7`,
 * `cidr:198.51.100.0/24|allowed`, `unlisted|dropped:default-deny`): the RBAC filter writes the decision's name to
 * the request's dynamic metadata on every request (enforced_effective_policy_id), where the access log reads the
 * peer; a refusal's response details carry it too. See access-log.ts peerDecision.
 */
export const PEER_SEPARATOR = '|';

/** What a peer class's decision does with a request: refuse it, allow it, or match it against its L7 rules. */
function decisionOnMatch(d: Decision, secrets: ReadonlyMap<string, string>, prefix = '', peer?: string, act: Decide = action): OnMatch {
  const named = (name: string): string => (peer === undefined ? `${prefix}${name}` : `${peer}${PEER_SEPARATOR}${prefix}${name}`);
  if (d.verdict === 'deny') return act(named(`dropped:${d.reason}`), false);
  if (d.http === null) return act(named('allowed'), true);
  // The peer is checked once; its rules are a matcher of their own, first match wins.
  const rules = mergePaths(d.http).map(({ rule, policy }, i) => ({ predicates: rulePredicates(rule, secrets), name: named(`allowed:${policy}:${i}`) }));
  const open = rules.find((r) => r.predicates.length === 0);
  if (open) return act(open.name, true);
  return {
    matcher: {
      matcher_list: { matchers: rules.map((r) => ({ predicate: all(r.predicates), on_match: act(r.name, true) })) },
      on_no_match: act(named('denied:l7'), false),
    },
  };
}

function fieldMatchers(groups: PeerGroup[], secrets: ReadonlyMap<string, string>, by: Classifier = INGRESS_BY_SOURCE): Matcher['matcher_list'] {
  const matchers: NonNullable<Matcher['matcher_list']>['matchers'] = [];
  for (const g of groups) {
    const peer = g.ids ? (g.ids.length ? peerSpiffeIdIn(g.ids) : undefined) : g.prefixes.length ? addressIn(g.prefixes, by.input) : undefined;
    if (peer) matchers.push({ predicate: peer, on_match: decisionOnMatch(g.decision, secrets, by.prefix, g.peer, by.act) });
  }
  return { matchers };
}

/** Every identity's addresses, parsed once per identity table. */
interface IdentityIndex {
  addresses: Map<number, { ips: string[]; prefixes: Prefix[] }>;
}

const indexes = new WeakMap<IdentityTable, IdentityIndex>();

function identityIndex(table: IdentityTable): IdentityIndex {
  let index = indexes.get(table);
  if (index) return index;
  const addresses = new Map<number, { ips: string[]; prefixes: Prefix[] }>();
  const add = (identity: number, ip: string): void => {
    const prefix = parsePrefix(ip);
    if (!prefix) return;
    const entry = addresses.get(identity) ?? addresses.set(identity, { ips: [], prefixes: [] }).get(identity)!;
    entry.ips.push(ip);
    entry.prefixes.push(prefix);
  };
  for (const e of table.endpoints) for (const ip of e.ips) add(e.identity, ip);
  for (const ip of table.hostIps) add(RESERVED_HOST, ip);
  index = { addresses };
  indexes.set(table, index);
  return index;
}

/** The rules whose header actions run for a peer class, in evaluation order (header-actions.ts). */
function actionRules(d: Decision): Array<{ rule: HttpRule; policy: string }> {
  if (d.verdict !== 'allow') return [];
  return (d.http ?? d.headerActions ?? []).filter((r) => hasHeaderActions(r.rule));
}

/** The RBAC configuration of one endpoint port: its enforcing matcher, whose decisions name the peer (`<peer>|<decision>`). */
export function portRbac(model: PolicyModel, dp: DirectionPolicy, port: number, secrets: ReadonlyMap<string, string>): RBAC {
  return portPolicy(model, dp, port, secrets).rbac;
}

/**
 * One endpoint port's policy: the RBAC configuration, and the configuration of the header actions when some
 * peer's rules have headerMatches mismatch actions (classifier and Lua program, see header-actions.ts).
 * Throws HeaderActionsError when those rules are beyond what Weft supports. Ingress: peers are the
 * connection's source; egress (the endpoint's own connections to `port`): its destination.
 */
export function portPolicy(model: PolicyModel, dp: DirectionPolicy, port: number, secrets: ReadonlyMap<string, string>, peerInput?: TypedExtensionConfig): { rbac: RBAC; headerActions?: { rbac: RBAC; lua: string } } {
  const parts = portPolicyParts(model, dp, port, secrets, peerInput);
  const matcher = parts.matcher(parts.by);
  const rbac: RBAC = dp.direction === 'egress' ? { matcher, rules_stat_prefix: EGRESS_RULES_PREFIX } : { matcher };
  return parts.headerActions ? { rbac, headerActions: parts.headerActions } : { rbac };
}

/**
 * An endpoint port's policy before it is made an RBAC configuration: its header actions (if any), and its enforcing
 * matcher for a classifier (`by`, the RBAC filter's; the route table's reads the peer header and acts by routes).
 */
export function portPolicyParts(model: PolicyModel, dp: DirectionPolicy, port: number, secrets: ReadonlyMap<string, string>, peerInput?: TypedExtensionConfig): { by: Classifier; headerActions?: { rbac: RBAC; lua: string }; matcher: (by: Classifier) => Matcher } {
  // `peerInput`: where the peer's address comes from instead (standalone's egress proxy: the requested destination).
  const base = dp.direction === 'egress' ? EGRESS_BY_DESTINATION : INGRESS_BY_SOURCE;
  const by = peerInput ? { ...base, input: peerInput } : base;
  const { addresses } = identityIndex(model.table);
  // Identities no entry names all get the decision of an unnamed peer (computed once).
  const unnamed = decide(dp, { identity: -1 }, port, 'TCP');
  const everyone = unnamed.verdict === 'allow' || dp.entries.some((e) => e.peers.any);
  const named = new Set<number>();
  for (const e of dp.entries) for (const id of e.peers.identities) named.add(id);
  const byDecision = new Map<string, PeerGroup>();
  const listed = new Map<number, Decision>();
  for (const [identity, { prefixes }] of [...addresses].sort(([a], [b]) => a - b)) {
    if (!everyone && !named.has(identity)) continue;
    const decision = decide(dp, { identity }, port, 'TCP');
    if (decision.verdict === 'deny' && decision.reason === 'default-deny') continue;
    listed.set(identity, decision);
    const sig = signature(decision);
    const g = byDecision.get(sig) ?? byDecision.set(sig, { prefixes: [], decision, label: sig }).get(sig)!;
    g.prefixes.push(...prefixes);
  }
  // Telling world peers from unlisted pods needs every other pod's address (clusterDefault below) even where no
  // world prefix is allowed, so only ports whose rules name the world or CIDRs name them (every port doing it made
  // the configuration grow with pods × ports); elsewhere a world peer is `unlisted` like an unlisted pod (its
  // address is logged).
  const namesWorld = dp.entries.some((e) => e.peers.any || e.peers.cidrs.length > 0 || e.peers.identities.has(RESERVED_WORLD));
  // The world: the most specific policy CIDR an address falls in decides (longest prefix first) and names it as
  // Cilium does: inside a policy CIDR (or exception), its CIDR identity `cidr:<prefix>` (Cilium allocates those
  // node-locally, so they are named by their label, not a number); elsewhere the world, `2` (`reserved:world`).
  const atoms = new Map<string, Prefix>();
  for (const p of [ALL_V4, ALL_V6]) atoms.set(prefixKey(p), p);
  for (const e of dp.entries) for (const c of e.peers.cidrs) for (const p of [c.cidr, ...c.except]) atoms.set(prefixKey(p), p);
  const worldGroups: PeerGroup[] = [...atoms.values()]
    .sort((a, b) => b.length - a.length || a.family - b.family || (a.base < b.base ? -1 : 1))
    .map((prefix) => ({ prefixes: [prefix], decision: decide(dp, { identity: RESERVED_WORLD, prefix }, port, 'TCP'), label: formatPrefix(prefix), peer: !namesWorld ? UNLISTED : prefix.length === 0 ? String(RESERVED_WORLD) : `${CIDR_LABEL_PREFIX}${formatPrefix(prefix)}` }));
  // Cluster addresses that no rule allows must not fall through to a world prefix that is allowed, nor be named
  // as the world.
  const allowingWorld = worldGroups.filter((g) => g.decision.verdict === 'allow').map((g) => g.prefixes[0]);
  const unlisted = allowingWorld.length || namesWorld ? [...addresses].filter(([id]) => !listed.has(id)).flatMap(([, a]) => a.prefixes).filter((p) => namesWorld || allowingWorld.some((w) => prefixWithin(p, w))) : [];
  const clusterDefault: PeerGroup[] = unlisted.length ? [{ prefixes: unlisted, decision: { verdict: 'deny', reason: 'default-deny', policies: [] }, label: 'cluster default', peer: UNLISTED }] : [];
  const groups = [...byDecision.values(), ...clusterDefault, ...worldGroups];
  // The enforcing matcher names the peer in every decision (`<peer>|<decision>`), which the RBAC filter writes to
  // the request's dynamic metadata for the access log: a listed pod's address is one lookup in a map (its decision
  // copied per address), other addresses go through the CIDR and cluster-default classes. The decision groups come
  // first there too, unnamed (`unlisted`): they only decide an address the map's keys do not spell as Envoy does.
  // (A separate shadow matcher naming the peer cost ~6,000 instructions a request; BENCHMARKS.md.)
  const matcher = (c: Classifier): Matcher => {
    const map: Record<string, OnMatch> = {};
    for (const [identity, decision] of listed) {
      const onMatch = decisionOnMatch(decision, secrets, c.prefix, String(identity), c.act);
      for (const ip of addresses.get(identity)?.ips ?? []) map[ip] = onMatch;
    }
    const classes: Matcher = {
      matcher_list: fieldMatchers([...[...byDecision.values()].map((g) => ({ ...g, peer: UNLISTED })), ...clusterDefault, ...worldGroups], secrets, c),
      on_no_match: (c.act ?? action)(`${UNLISTED}${PEER_SEPARATOR}${c.prefix}dropped:default-deny`, false),
    };
    return Object.keys(map).length ? { matcher_tree: { input: c.input, exact_match_map: { map } }, on_no_match: { matcher: classes } } : classes;
  };
  // The classifier sees the peer classes in the same order as the enforcing matcher, so that an address
  // falls in the same class in both (a more specific world prefix before a wider one).
  const side: ActionsSide | undefined = dp.direction === 'egress' ? { ...EGRESS_ACTIONS_BY_DESTINATION, input: by.input } : undefined;
  const headerActions = headerActionsConfig(groups.map((g) => ({ prefixes: g.prefixes, rules: actionRules(g.decision) })), secrets, side);
  return headerActions ? { by, headerActions, matcher } : { by, matcher };
}

/** Egress policies of the identities that have some (any endpoint of an identity has the same), per model. */
const egressPolicies = new WeakMap<PolicyModel, Map<number, DirectionPolicy>>();

export function clientsWithEgressRules(model: PolicyModel): Map<number, DirectionPolicy> {
  let out = egressPolicies.get(model);
  if (out) return out;
  out = new Map();
  // Most endpoints have no egress policy: skip computing their policy (both directions) for nothing.
  const hasEgress = (p: Policy): boolean => p.defaultDeny.egress || p.rules.some((r) => r.direction === 'egress');
  const endpoints = model.policies.some(hasEgress) ? model.table.endpoints : [];
  for (const e of endpoints) {
    if (out.has(e.identity)) continue;
    if (!model.selecting(e.identity).some(hasEgress)) continue;
    const dp = model.endpointPolicy(e).egress;
    if (dp.enforced || dp.entries.length > 0) out.set(e.identity, dp);
  }
  egressPolicies.set(model, out);
  return out;
}

/**
 * The egress verdicts of every client with egress rules on connections to one endpoint port, keyed by the
 * client's address (Cilium evaluates them at the client; here they meet the destination's ingress rules in one
 * chain). Undefined when every client may send anything there (no egress filter needed). With `datapathDrops`
 * (transparent mode), clients refused at L3/L4 are left out: the datapath drops their connections at their own
 * veth, and listing them would make every destination port's configuration grow with the number of clients.
 */
export function clientsEgressRbac(model: PolicyModel, destination: Endpoint, port: number, secrets: ReadonlyMap<string, string>, datapathDrops = false): RBAC | undefined {
  return clientsEgressPolicy(model, destination, port, secrets, datapathDrops)?.rbac;
}

/**
 * clientsEgressRbac, and the configuration of the clients' egress header actions (keyed by the client's address)
 * when some client's rules for this port have headerMatches mismatch actions. Throws HeaderActionsError when
 * those rules are beyond what Weft supports. `how`: whether the request will be mutually authenticated (the mesh).
 */
export function clientsEgressPolicy(model: PolicyModel, destination: Endpoint, port: number, secrets: ReadonlyMap<string, string>, datapathDrops = false, how: PeerAuthentication = {}): { rbac: RBAC; headerActions?: { rbac: RBAC; lua: string }; clients: string[] } | undefined {
  const { addresses } = identityIndex(model.table);
  const byDecision = new Map<string, PeerGroup>();
  const clients: string[] = [];
  for (const [identity, dp] of [...clientsWithEgressRules(model)].sort(([a], [b]) => a - b)) {
    const decision = decide(dp, { identity: destination.identity }, port, 'TCP', how);
    const sig = signature(decision);
    // A client allowed without L7 rules (and without header actions to run) is plainly allowed.
    if (sig === 'allow' || (datapathDrops && decision.verdict === 'deny')) continue;
    const g = byDecision.get(sig) ?? byDecision.set(sig, { prefixes: [], decision, label: sig }).get(sig)!;
    g.prefixes.push(...(addresses.get(identity)?.prefixes ?? []));
    clients.push(...(addresses.get(identity)?.ips ?? []));
  }
  if (byDecision.size === 0) return undefined;
  const groups = [...byDecision.values()];
  const matcher: Matcher = { matcher_list: fieldMatchers(groups, secrets, EGRESS_BY_SOURCE), on_no_match: action(`${EGRESS_DECISION_PREFIX}allowed`, true) };
  // Its decisions go to the request's metadata under keys of their own (the access log reads the destination's).
  const rbac: RBAC = { matcher, rules_stat_prefix: EGRESS_RULES_PREFIX, shadow_rules_stat_prefix: EGRESS_RULES_PREFIX };
  const headerActions = headerActionsConfig(groups.map((g) => ({ prefixes: g.prefixes, rules: actionRules(g.decision) })), secrets, EGRESS_ACTIONS_BY_SOURCE);
  return headerActions ? { rbac, headerActions, clients } : { rbac, clients };
}

/**
 * The clients' egress rules towards one endpoint port for the mesh's outbound side (MeshClientsEgress), or undefined
 * when every client may send anything there. Every client with egress rules is listed: the explicit proxy is reached
 * without the datapath's verdict. The request crosses authenticated, so rules requiring authentication are
 * satisfied. Throws HeaderActionsError when the clients' header actions are beyond what Weft supports.
 */
export function meshClientsEgress(model: PolicyModel, destination: Endpoint, port: number, secrets: ReadonlyMap<string, string>): MeshClientsEgress | undefined {
  const clients = clientsEgressPolicy(model, destination, port, secrets, false, { authenticated: true });
  if (!clients) return undefined;
  return { typedPerFilterConfig: clientsEgressPerFilter(clients), routeName: routeLogName(destination, port), clients: clients.clients };
}

/**
 * Fail closed where the clients' egress rules towards a port cannot be expressed (meshClientsEgress threw): the mesh's
 * outbound side refuses every request to that port, and the transparent listener sends no client with egress rules
 * through the plain-TCP tunnel.
 */
export function meshClientsEgressRefusingAll(model: PolicyModel, destination: Endpoint, port: number): MeshClientsEgress {
  const { addresses } = identityIndex(model.table);
  const clients = [...clientsWithEgressRules(model).keys()].flatMap((identity) => addresses.get(identity)?.ips ?? []);
  const rbac: RBAC = { rules: { action: 'ALLOW', policies: {} }, shadow_rules_stat_prefix: EGRESS_RULES_PREFIX };
  return { typedPerFilterConfig: { [EGRESS_RBAC_FILTER]: enable(rbacPerRoute(rbac)) }, routeName: routeLogName(destination, port), clients };
}

/** Whether some client's egress HTTP rules apply to connections to this endpoint port (standalone: a listener is needed). */
function egressL7Target(model: PolicyModel, destination: Endpoint, port: number): boolean {
  for (const dp of clientsWithEgressRules(model).values()) {
    const d = decide(dp, { identity: destination.identity }, port, 'TCP');
    // L7 rules, or header actions that run although an L4-only rule allows the request.
    if (d.verdict === 'allow' && (d.http !== null || d.headerActions !== undefined)) return true;
  }
  return false;
}

/**
 * One endpoint port's policy for requests that arrive over the mesh's mutual TLS: the peer is the verified
 * certificate's SPIFFE ID (Envoy's URI SAN input, never a header or an address), which stands for every
 * identity of its service account (model.ts: `decide` with their list, authenticated). Rules requiring
 * authentication are satisfied here; the rest apply as they do to plaintext peers. A workload the table does
 * not know is an authenticated peer of no identity (only rules allowing any peer admit it). `headerActions`: when
 * some peer's rules have headerMatches mismatch actions, their classifier (by the verified SPIFFE ID) and Lua
 * program, for MESH_INBOUND_POLICY_FILTERS. Throws HeaderActionsError when those rules are beyond what Weft supports.
 */
export function meshPortPolicy(model: PolicyModel, dp: DirectionPolicy, port: number, trustDomain: string, secrets: ReadonlyMap<string, string>): { rbac: RBAC; headerActions?: { rbac: RBAC; lua: string } } {
  const byDecision = new Map<string, PeerGroup>();
  for (const [id, identities] of spiffeIdentities(model.table, trustDomain)) {
    const decision = decide(dp, identities.map((identity) => ({ identity })), port, 'TCP', { authenticated: true });
    if (decision.verdict === 'deny' && decision.reason === 'default-deny') continue;
    const sig = signature(decision);
    const g = byDecision.get(sig) ?? byDecision.set(sig, { prefixes: [], ids: [], decision, label: sig }).get(sig)!;
    g.ids!.push(id);
  }
  const unnamed = decide(dp, { identity: -1 }, port, 'TCP', { authenticated: true });
  const groups = [...byDecision.values()];
  const matcher: Matcher = {
    matcher_list: fieldMatchers(groups, secrets),
    on_no_match: unnamed.verdict === 'allow' ? decisionOnMatch(unnamed, secrets) : action('dropped:default-deny', false),
  };
  // For the access log, as on the plaintext side: the peer's identity (several, comma-separated, when its
  // service account has pods of several label sets), by the verified SPIFFE ID.
  const map: Record<string, OnMatch> = {};
  for (const [id, identities] of spiffeIdentities(model.table, trustDomain)) map[id] = action(identities.join(','), true);
  const shadow: Matcher = { matcher_tree: { input: PEER_URI_SAN_INPUT, exact_match_map: { map } }, on_no_match: action(UNLISTED, true) };
  // The classifier's peer classes in the enforcing matcher's order: the SPIFFE ID groups, then everyone else.
  const classes = [...groups.map((g) => ({ prefixes: [], ids: g.ids, rules: actionRules(g.decision) })), { prefixes: [], any: true, rules: actionRules(unnamed) }];
  const headerActions = headerActionsConfig(classes, secrets);
  const rbac: RBAC = Object.keys(map).length ? { matcher, shadow_matcher: shadow } : { matcher };
  return headerActions ? { rbac, headerActions } : { rbac };
}

/**
 * The filters of the mesh's inbound connection managers (src/mtls) after their RBAC filter: the destination's
 * headerMatches mismatch actions, off unless a mesh route's virtual host enables them (meshPortPolicy).
 */
export const MESH_INBOUND_POLICY_FILTERS: readonly HttpFilter[] = [
  { name: HEADER_RULES_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.rbac.v3.RBAC', {} satisfies RBAC) },
  { name: HEADER_ACTIONS_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.lua.v3.Lua', {} satisfies Lua) },
];

/** The name of a peer address outside the port's rules (the world, or an unnamed pod) in decisions and the mesh's shadow matcher. */
export const UNLISTED = 'unlisted';

/**
 * Ports of an endpoint the proxy polices (ingress): where HTTP rules apply, or where a rule requires
 * authentication (the proxy tells plaintext from mutually authenticated peers); each port of a range the pod
 * declares, or the whole range when small.
 */
export function l7Ports(endpoint: Endpoint, dp: DirectionPolicy): { ports: number[]; problems: string[] } {
  const declared = endpoint.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort);
  const ports = new Set<number>();
  const problems: string[] = [];
  for (const e of dp.entries) {
    const authenticated = e.authentication !== undefined && e.authentication !== 'disabled';
    if (e.verdict !== 'allow' || !(e.http || authenticated)) continue;
    if (e.protocol !== 'TCP' && e.protocol !== 'ANY') {
      problems.push(`${e.policy}: authentication on ${e.protocol} port ${e.port} is not enforced (the mesh carries TCP only)`);
      continue;
    }
    const what = e.http ? 'HTTP rules' : 'authentication';
    if (declared.length > 0) {
      for (const p of declared) if (p >= e.port && p <= e.endPort) ports.add(p);
    } else if (e.port !== 0 && e.endPort - e.port + 1 <= MAX_UNDECLARED_RANGE) {
      for (let p = e.port; p <= e.endPort; p++) ports.add(p);
    } else {
      problems.push(`${e.policy}: ${what} on ports ${e.port === 0 ? 'all' : `${e.port}-${e.endPort}`}, but the pod declares no container ports; declare them (spec.containers[].ports) so that Weft proxies exactly those`);
    }
  }
  return { ports: [...ports].sort((a, b) => a - b), problems };
}

/** Destination ports of an endpoint's egress HTTP rules: each port of a range up to MAX_UNDECLARED_RANGE ports. */
export function egressL7Ports(dp: DirectionPolicy): { ports: number[]; problems: string[] } {
  const ports = new Set<number>();
  const problems: string[] = [];
  for (const e of dp.entries) {
    if (e.verdict !== 'allow' || !e.http || e.port === 0) continue;
    if (e.endPort - e.port + 1 > MAX_UNDECLARED_RANGE) {
      problems.push(`${e.policy}: egress HTTP rules on ports ${e.port}-${e.endPort}, a range of more than ${MAX_UNDECLARED_RANGE} ports; the proxy has no chain for them, so such connections fail`);
      continue;
    }
    for (let p = e.port; p <= e.endPort; p++) ports.add(p);
  }
  return { ports: [...ports].sort((a, b) => a - b), problems };
}

export function listenerName(endpoint: Endpoint, port: number, direction: Direction = 'ingress'): string {
  return `l7/${direction}/${endpoint.name}/${port}`;
}


/**
 * The endpoint whose rules a chain enforces is the destination (ingress, and the mesh's outbound side) or the
 * client (egress): the route's name names it, its identity and the port (routeLogName). A plain string command: each `%METADATA(…)%` field that is
 * a command alone costs Envoy ~5,500 instructions a request (its value is a typed JSON value), the name ~500.
 */
const ROUTE = '%ROUTE_NAME%';
/** The peer and the decision, `<peer>|<decision>` (PEER_SEPARATOR), as the enforcing filter wrote them. */
const INGRESS_DECISION = 'enforced_effective_policy_id';
const EGRESS_DECISION = `${EGRESS_RULES_PREFIX}enforced_effective_policy_id`;
const INGRESS_PEER = `%DYNAMIC_METADATA(${RBAC_METADATA}:${INGRESS_DECISION})%`;
const EGRESS_PEER = `%DYNAMIC_METADATA(${RBAC_METADATA}:${EGRESS_DECISION})%`;
/** Over the mesh the peer is its verified SPIFFE ID, named by the shadow matcher (meshPortPolicy): its identities. */
const MESH_PEER = `%DYNAMIC_METADATA(${RBAC_METADATA}:shadow_effective_policy_id)%`;
/** headerMatches mismatches the rules' actions handled (LOG included), e.g. `LOG:x-want,ADD:x-token`. */
const MISMATCHES = `%DYNAMIC_METADATA(${HEADER_MISMATCH_METADATA.namespace}:${HEADER_MISMATCH_METADATA.key})%`;

/**
 * A route's name as the access log reads it (`%ROUTE_NAME%`): `l7 <identity> <port> <endpoint>` (the endpoint
 * last: the parser takes the rest of the line); the gRPC access log's entries carry it as their route_name.
 */
export function routeLogName(endpoint: Pick<Endpoint, 'name' | 'identity'>, port: number): string {
  return `l7 ${endpoint.identity} ${port} ${endpoint.name}`;
}

/** The JSON access log line of every request (see access-log.ts for reading it back). */
/** The L7 access log of ingress requests (one JSON line each), for other connection managers that apply this policy (the mesh's inbound listener). */
export function l7IngressAccessLog(path: string): NonNullable<HttpConnectionManager['access_log']>[number] {
  return { name: 'envoy.access_loggers.file', typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', accessLog(path, 'ingress', 'mesh-inbound')) };
}

/**
 * The L7 access log of the mesh's outbound connection managers (src/mtls), where the clients' egress rules apply to
 * requests over the mesh (MeshClientsEgress): direction `egress`, the client by its address, the destination
 * endpoint by the route's name (requests to services without it log no destination endpoint).
 */
export function l7MeshOutboundAccessLog(path: string): NonNullable<HttpConnectionManager['access_log']>[number] {
  return { name: 'envoy.access_loggers.file', typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', accessLog(path, 'egress', 'mesh-outbound')) };
}

/**
 * The L7 access log of standalone's egress proxy (egress-proxy.ts): as a client's egress chain's, the destination
 * address being the one the request named (`%DYNAMIC_METADATA%` set by the proxy; the connection's is the proxy's).
 */
export function l7EgressProxyAccessLog(path: string, destination: { namespace: string; key: string }, forFlows = false): NonNullable<HttpConnectionManager['access_log']>[number] {
  const log = accessLog(path, 'egress', 'egress', forFlows);
  log.json_format!.fields!.destination_address = { stringValue: `%DYNAMIC_METADATA(${destination.namespace}:${destination.key})%` };
  return { name: 'envoy.access_loggers.file', typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', log) };
}

function accessLog(path: string, direction: Direction, layout: Direction | 'mesh-inbound' | 'mesh-outbound' = direction, forFlows = false): FileAccessLog {
  // One end by the route's name, the other (the peer) by the enforcing matcher's decision (`<peer>|<decision>`;
  // over the mesh, the shadow matcher's identities of the verified SPIFFE ID), in `policy` with the header
  // mismatches: a template of two commands, which Envoy formats as one escaped string (two commands alone, each
  // its own field, cost ~10,000 instructions more). The mesh's outbound side names no peer there (`-`).
  const layouts: Record<typeof layout, Record<string, string>> = {
    ingress: { destination: ROUTE, policy: `${INGRESS_PEER} ${MISMATCHES}` },
    'mesh-inbound': { destination: ROUTE, policy: `${MESH_PEER} ${MISMATCHES}` },
    egress: { source: ROUTE, destination_address: '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', policy: `${EGRESS_PEER} ${MISMATCHES}` },
    'mesh-outbound': { destination: ROUTE, policy: `- ${MISMATCHES}` },
  };
  const mesh = layout === 'mesh-inbound' || layout === 'mesh-outbound';
  const fields: Record<string, string> = {
    time: '%START_TIME%',
    direction,
    source_address: '%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%',
    ...layouts[layout],
    protocol: '%PROTOCOL%',
    method: '%REQ(:METHOD)%',
    path: '%REQ(:PATH)%',
    host: '%REQ(:AUTHORITY)%',
    response_code: '%RESPONSE_CODE%',
    response_code_details: '%RESPONSE_CODE_DETAILS%',
    // What a flow has beyond the policy's record (the node's flow agent reads these lines): the address the
    // connection was made to (a client's egress chain's destination_address already is; over the mesh it is the
    // mesh listener's, the route names the pod), and the latency (from the request's first byte to the response's
    // last, in µs: a local request takes less than a millisecond). Only then, or over the mesh (whose TLS dwarfs
    // it): each command costs Envoy 500-1,300 instructions a request (BENCHMARKS.md).
    ...(forFlows && layout === 'ingress' ? { destination_address: '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%' } : {}),
    ...(forFlows || mesh ? { duration_us: '%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%' } : {}),
  };
  return { path, json_format: { fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { stringValue: v }])) } };
}

type HttpFilter = NonNullable<HttpConnectionManager['http_filters']>[number];

/**
 * The clients' egress policy in a connection manager: their verdicts first (the request leaves the client before
 * it reaches the destination), off unless the virtual host enables it, its metadata keys prefixed (the access log
 * reads them); then their headerMatches mismatch actions, before the destination's rules see the request.
 */
const CLIENTS_EGRESS_FILTERS: HttpFilter[] = [
  { name: EGRESS_RBAC_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.rbac.v3.RBAC', { shadow_rules_stat_prefix: EGRESS_RULES_PREFIX } satisfies RBAC) },
  { name: EGRESS_HEADER_RULES_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.rbac.v3.RBAC', {} satisfies RBAC) },
  { name: EGRESS_HEADER_ACTIONS_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.lua.v3.Lua', {} satisfies Lua) },
];

/** The filters a mesh outbound connection manager has, before its router, for MeshClientsEgress (each virtual host enables them). */
export const MESH_OUTBOUND_POLICY_FILTERS: readonly HttpFilter[] = CLIENTS_EGRESS_FILTERS;

export function hcm(name: string, accessLogPath: string, forFlows: boolean, direction: Direction): HttpConnectionManager {
  // Off unless the virtual host enables it with its policy (the route table enforces elsewhere); enabled without
  // one, it denies everything.
  const base: RBAC = { rules: { action: 'ALLOW', policies: {} } };
  return {
    stat_prefix: name.replace(/[^A-Za-z0-9_]/g, '_'),
    codec_type: 'AUTO',
    rds: { route_config_name: name, config_source: ADS_CONFIG_SOURCE },
    // The peer is the connection's source address: X-Forwarded-For and friends never count. As Cilium's node
    // proxy (pkg/envoy/xds_server.go), a transparent proxy does not add itself to X-Forwarded-For: the client's
    // header reaches the application unchanged (~7,200 instructions a request less). No peer is internal (Envoy's
    // default since 1.36), so Envoy keeps stripping x-envoy-* request headers (retries, timeouts, stat names) from
    // every client, unlike Cilium's internal_address_config (private ranges and loopback; see README).
    use_remote_address: { value: true },
    skip_xff_append: true,
    xff_num_trusted_hops: 0,
    // Rules see the path the application will see; refusals answer `Access denied`.
    ...POLICY_REQUEST_HANDLING,
    access_log: [{ name: 'envoy.access_loggers.file', typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', accessLog(accessLogPath, direction, direction, forFlows)) }],
    http_filters: [
      ...CLIENTS_EGRESS_FILTERS,
      { name: RBAC_FILTER, disabled: true, typed_config: packAny('envoy.extensions.filters.http.rbac.v3.RBAC', base) },
      // headerMatches mismatch actions: off unless the virtual host's policy has some (header-actions.ts).
      ...MESH_INBOUND_POLICY_FILTERS,
      { name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {} satisfies Router) },
    ],
  };
}

/**
 * The route table enforces an endpoint port's policy (EnvoyL7Options.enforcement): each decision is a route named
 * `<routeLogName>|<peer>|<decision>` (the access logs, file and gRPC, read both ends and the verdict from the name),
 * to the application when it allows, Cilium's 403 when it refuses.
 */
function routeDecisions(endpoint: Endpoint, port: number, cluster: string): Decide {
  return (decision, allow) => {
    const answer: Route = allow ? { route: { cluster, timeout: { seconds: '0' } } } : { direct_response: { status: 403, body: { inline_string: ACCESS_DENIED_BODY } } };
    return { action: any('envoy.config.route.v3.Route', { name: `${routeLogName(endpoint, port)}${PEER_SEPARATOR}${decision}`, match: { prefix: '' }, ...answer } satisfies Route) };
  };
}

/**
 * The route configuration of one endpoint port's policy: every request to the application, per-filter policy on the
 * virtual host. `tunnel`: the mesh's HTTP/2 CONNECT tunnel (plain TCP between nodes, src/mtls/mesh-resources.ts) ends
 * here too: a CONNECT request, once the RBAC filter let its verified peer in, is terminated and its payload sent to
 * the cluster as raw TCP; only for ports without HTTP rules, whose raw bytes would otherwise bypass them.
 * `enforcing`: the route table decides (routeDecisions), a virtual host matcher instead of the one route.
 */
function policyRoutes(name: string, perFilter: Record<string, Any>, cluster: string, endpoint: Endpoint, port: number, tunnel = false, enforcing?: Matcher): RouteConfiguration & { name: string } {
  const connect = { name: routeLogName(endpoint, port), match: { connect_matcher: {} }, route: { cluster, timeout: { seconds: '0' }, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } };
  return {
    name,
    virtual_hosts: [
      {
        name,
        domains: ['*'],
        typed_per_filter_config: perFilter,
        ...(enforcing ? { matcher: enforcing } : { routes: [...(tunnel ? [connect] : []), { name: routeLogName(endpoint, port), match: { prefix: '' }, route: { cluster, timeout: { seconds: '0' } } }] }),
        request_headers_to_remove: [...PROXY_ONLY_REQUEST_HEADERS],
      },
    ],
  };
}

/** The route configuration the mesh's inbound listener uses for an endpoint port (LocalService.routeConfig in mesh-resources.ts). */
export function meshRouteName(endpoint: Pick<Endpoint, 'name'>, port: number): string {
  return `l7/mesh/${endpoint.name}/${port}`;
}

export interface EndpointL7 {
  resources: Resource[];
  listeners: L7ListenerInfo[];
  /** Transparent mode: this endpoint's filter chains of the transparent listener. */
  chains: FilterChain[];
  problems: string[];
}

export const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export const enable = (config: Any): Any => packAny('envoy.config.route.v3.FilterConfig', { config } satisfies FilterConfig);
/** An RBAC filter's configuration for a virtual host; without `rbac`, the filter is off there. */
export const rbacPerRoute = (rbac?: RBAC): Any => packAny('envoy.extensions.filters.http.rbac.v3.RBACPerRoute', (rbac ? { rbac } : {}) satisfies RBACPerRoute);
export const hostPrefix = (address: string): { address_prefix: string; prefix_len: { value: number } } => ({ address_prefix: address, prefix_len: { value: address.includes(':') ? 128 : 32 } });

/** The listeners (chains), routes and clusters that enforce one endpoint's HTTP rules: ingress, and egress in transparent mode. */
export function endpointL7Resources(model: PolicyModel, endpoint: Endpoint, opts: EnvoyL7Options): EndpointL7 {
  const out: EndpointL7 = { resources: [], listeners: [], chains: [], problems: [] };
  ingressL7(model, endpoint, opts, out);
  // Standalone: nothing redirects a client's connections, so its egress rules apply where it connects to, in
  // the destination's listener (clientsEgressRbac); destinations without a listener are not covered.
  if (opts.transparent) egressL7(model, endpoint, opts, out);
  return out;
}

function ingressL7(model: PolicyModel, endpoint: Endpoint, opts: EnvoyL7Options, out: EndpointL7): void {
  // Standalone: a pod without the backends annotation runs no application here (a client); nothing to proxy.
  // Transparent: the application is the pod itself, reached at the connection's original destination.
  if (!opts.transparent && endpoint.backends.size === 0) return;
  const dp = model.endpointPolicy(endpoint).ingress;
  const own = l7Ports(endpoint, dp);
  out.problems.push(...own.problems);
  const ports = new Set(own.ports);
  // Standalone: the listener is also where clients' egress HTTP rules for this pod's ports apply.
  if (!opts.transparent) for (const port of endpoint.backends.keys()) if (egressL7Target(model, endpoint, port)) ports.add(port);
  const address = endpoint.ips[0];
  if (ports.size > 0 && !address) {
    out.problems.push('HTTP rules apply, but the pod has no status.podIP to listen on');
    return;
  }
  for (const port of [...ports].sort((a, b) => a - b)) {
    const backend = opts.transparent ? { address, port } : endpoint.backends.get(port);
    if (!backend) {
      out.problems.push(`the policy puts port ${port} behind the proxy (HTTP rules or authentication), but annotation weft.dev/standalone-backends names no address for it (e.g. "${port}=127.0.0.1:8${port}"); the port is not proxied`);
      continue;
    }
    const name = listenerName(endpoint, port);
    const connectionManager = { name: HCM_FILTER, typed_config: packAny(HCM_TYPE, hcm(name, opts.accessLogPath, opts.accessLogForFlows === true, 'ingress')) };
    let policy: ReturnType<typeof portPolicyParts>;
    try {
      policy = portPolicyParts(model, dp, port, opts.secrets);
    } catch (err) {
      if (!(err instanceof HeaderActionsError)) throw err;
      out.problems.push(`port ${port} is not proxied: ${err.message}`);
      continue;
    }
    // Envoy picks this chain for every connection to the port: the clients' egress rules apply here too.
    let egress: ReturnType<typeof clientsEgressPolicy>;
    try {
      egress = clientsEgressPolicy(model, endpoint, port, opts.secrets, opts.transparent !== undefined);
    } catch (err) {
      if (!(err instanceof HeaderActionsError)) throw err;
      out.problems.push(`port ${port} is not proxied: clients' egress rules: ${err.message}`);
      continue;
    }
    const cluster = opts.transparent ? ORIGINAL_DESTINATION_CLUSTER : name;
    const perFilter = clientsEgressPerFilter(egress);
    // Header actions (the port's, the clients') run after the verdict and may change what routing sees: with
    // them, the RBAC filter decides before they run, as Cilium's proxy does.
    const byRoute = opts.enforcement !== 'rbac' && !policy.headerActions && !egress?.headerActions;
    if (!byRoute) {
      perFilter[RBAC_FILTER] = enable(rbacPerRoute({ matcher: policy.matcher(policy.by) }));
      enableHeaderActions(perFilter, policy.headerActions, HEADER_RULES_FILTER, HEADER_ACTIONS_FILTER);
    }
    const enforcing = byRoute ? policy.matcher({ input: PEER_ADDRESS_INPUT, prefix: '', act: routeDecisions(endpoint, port, cluster) }) : undefined;
    const routes = policyRoutes(name, perFilter, cluster, endpoint, port, false, enforcing);
    // Over the mesh, the clients' node applies their egress rules (the destination's node sees its peer Envoy's
    // address, never the client's). The explicit outbound proxy is reached without the datapath's L3/L4 verdict
    // on the destination, so clients refused there are listed too.
    let meshEgress: MeshClientsEgress | undefined;
    if (opts.mesh) {
      try {
        meshEgress = meshClientsEgress(model, endpoint, port, opts.secrets);
      } catch (err) {
        if (!(err instanceof HeaderActionsError)) throw err;
        out.problems.push(`port ${port} is not proxied: clients' egress rules: ${err.message}`);
        continue;
      }
    }
    out.listeners.push({ name, endpoint: endpoint.name, address, port, backend, ...(opts.mesh ? { meshRoute: meshRouteName(endpoint, port) } : {}), ...(meshEgress ? { meshEgress } : {}) });
    if (opts.mesh) {
      // The same endpoint port reached over the mesh's mutual TLS: the mesh inbound listener's route (RDS),
      // deciding by the verified SPIFFE ID, towards the same application.
      let mesh: ReturnType<typeof meshPortPolicy>;
      try {
        mesh = meshPortPolicy(model, dp, port, opts.mesh.trustDomain, opts.secrets);
      } catch (err) {
        if (!(err instanceof HeaderActionsError)) throw err;
        out.problems.push(`port ${port} is not served over the mesh: ${err.message}`);
        // No rules: every request over the mesh is refused rather than let through without its actions.
        mesh = { rbac: { rules: { action: 'ALLOW', policies: {} } } };
      }
      const meshFilter: Record<string, Any> = { [MESH_INBOUND_RBAC_FILTER]: rbacPerRoute(mesh.rbac) };
      enableHeaderActions(meshFilter, mesh.headerActions, HEADER_RULES_FILTER, HEADER_ACTIONS_FILTER);
      // Plain TCP through the mesh's tunnel only where no HTTP rule applies (authentication, L3/L4 rules by identity).
      const tunnel = !dp.entries.some((e) => e.verdict === 'allow' && e.http !== undefined && portMatches(e, port, 'TCP'));
      out.resources.push(routeConfigurationResource(policyRoutes(meshRouteName(endpoint, port), meshFilter, name, endpoint, port, tunnel)));
      // Transparent: the chain's cluster is the connection's original destination, which is the node (its mesh
      // listener) for a mesh connection; the mesh route goes to the pod's address instead, as standalone's does.
      if (opts.transparent) out.resources.push(clusterResource(edsCluster(name)), endpointsResource(loadAssignment(name, [backend])));
    }
    if (opts.transparent) {
      // The chain of this endpoint port: connections whose original destination is the pod's address and port.
      out.chains.push({ name, filter_chain_match: { prefix_ranges: [hostPrefix(address)], destination_port: { value: port } }, filters: [connectionManager] });
      out.resources.push(routeConfigurationResource(routes));
      continue;
    }
    const listener: Listener & { name: string } = { name, address: { socket_address: { address, port_value: port } }, filter_chains: [{ filters: [connectionManager] }] };
    const application: Cluster & { name: string } = edsCluster(name);
    out.resources.push(clusterResource(application), endpointsResource(loadAssignment(name, [backend])), listenerResource(listener), routeConfigurationResource(routes));
  }
}

/** The per-virtual-host configuration that enables CLIENTS_EGRESS_FILTERS with the clients' egress policy (none: they stay off). */
function clientsEgressPerFilter(egress: ReturnType<typeof clientsEgressPolicy>): Record<string, Any> {
  const perFilter: Record<string, Any> = {};
  if (!egress) return perFilter;
  perFilter[EGRESS_RBAC_FILTER] = enable(rbacPerRoute(egress.rbac));
  enableHeaderActions(perFilter, egress.headerActions, EGRESS_HEADER_RULES_FILTER, EGRESS_HEADER_ACTIONS_FILTER);
  return perFilter;
}

/** Enables a pair of header-action filters the listener has disabled (classifier, Lua), for one virtual host only. */
export function enableHeaderActions(perFilter: Record<string, Any>, config: { rbac: RBAC; lua: string } | undefined, rulesFilter: string, actionsFilter: string): void {
  if (!config) return;
  perFilter[rulesFilter] = enable(rbacPerRoute(config.rbac));
  perFilter[actionsFilter] = enable(packAny('envoy.extensions.filters.http.lua.v3.LuaPerRoute', { source_code: { inline_string: config.lua } } satisfies LuaPerRoute));
}

/**
 * Transparent mode: one chain per destination port of the endpoint's egress HTTP rules, for the connections it
 * opens (source: its addresses; any destination). The datapath redirects exactly those (controller.ts). A
 * destination with an ingress chain on that port is served by that chain instead (Envoy matches the
 * destination first), which applies these rules too (clientsEgressRbac).
 */
function egressL7(model: PolicyModel, endpoint: Endpoint, opts: EnvoyL7Options, out: EndpointL7): void {
  const dp = model.endpointPolicy(endpoint).egress;
  const { ports, problems } = egressL7Ports(dp);
  out.problems.push(...problems);
  if (ports.length > 0 && endpoint.ips.length === 0) {
    out.problems.push('egress HTTP rules apply, but the pod has no status.podIP to tell its connections by');
    return;
  }
  for (const port of ports) {
    const name = listenerName(endpoint, port, 'egress');
    let policy: ReturnType<typeof portPolicy>;
    try {
      policy = portPolicy(model, dp, port, opts.secrets);
    } catch (err) {
      if (!(err instanceof HeaderActionsError)) throw err;
      out.problems.push(`egress port ${port} is not proxied: ${err.message}`);
      continue;
    }
    // The destination's ingress rules are not this chain's: a destination with L7 ingress rules has its own chain.
    const perFilter: Record<string, Any> = { [RBAC_FILTER]: rbacPerRoute(), [EGRESS_RBAC_FILTER]: enable(rbacPerRoute(policy.rbac)) };
    enableHeaderActions(perFilter, policy.headerActions, EGRESS_HEADER_RULES_FILTER, EGRESS_HEADER_ACTIONS_FILTER);
    const connectionManager = { name: HCM_FILTER, typed_config: packAny(HCM_TYPE, hcm(name, opts.accessLogPath, opts.accessLogForFlows === true, 'egress')) };
    out.chains.push({ name, filter_chain_match: { destination_port: { value: port }, source_prefix_ranges: endpoint.ips.map(hostPrefix) }, filters: [connectionManager] });
    out.resources.push(routeConfigurationResource(policyRoutes(name, perFilter, ORIGINAL_DESTINATION_CLUSTER, endpoint, port)));
  }
}

export function l7Resources(model: PolicyModel, table: IdentityTable, opts: EnvoyL7Options): { resources: Resource[]; listeners: L7ListenerInfo[]; problems: L7Problem[] } {
  const resources: Resource[] = [];
  const listeners: L7ListenerInfo[] = [];
  const problems: L7Problem[] = [];
  const chains: FilterChain[] = [];
  for (const endpoint of table.endpoints) {
    const r = endpointL7Resources(model, endpoint, opts);
    resources.push(...r.resources);
    listeners.push(...r.listeners);
    chains.push(...r.chains);
    problems.push(...r.problems.map((message) => ({ endpoint, message })));
  }
  if (opts.transparent && chains.length > 0) resources.push(...transparentResources(opts.transparent, chains));
  return { resources, listeners, problems };
}

/**
 * The transparent listener and its upstream. Only the chains change when pods or L7 ports come and go (Envoy then
 * drains just the chains that changed); policy changes are in the chains' route configurations and drain nothing.
 */
function transparentResources(t: TransparentProxy, chains: FilterChain[]): Resource[] {
  const listener: Listener & { name: string } = {
    name: TRANSPARENT_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: t.proxyPort } },
    // Accepts connections addressed to other hosts (the datapath's socket assignment), and ::ffff:-mapped IPv6.
    transparent: { value: true },
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: packAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) },
      // Upstream connections leave from the client's address, marked: the datapath sends the pod's replies back here.
      { name: 'envoy.filters.listener.original_src', typed_config: packAny('envoy.extensions.filters.listener.original_src.v3.OriginalSrc', { mark: t.upstreamMark }) },
    ],
    filter_chains: chains,
  };
  const upstream: Cluster & { name: string } = {
    name: ORIGINAL_DESTINATION_CLUSTER,
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: { seconds: '2' },
  };
  return [clusterResource(upstream), listenerResource(listener)];
}
