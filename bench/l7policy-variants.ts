// Variants of the L7 policy configuration for attributing its fixed per-request cost (bench/l7policy.ts
// --variants): each drops one part of what a port under policy runs, by rewriting the translated resources.
// Measurement only: several variants are unsafe (no path normalisation, no policy at all).
import type { Resource } from '../src/xds/resource.js';
import { grpcAccessLog, type AccessLogTag } from '../src/xds/translator/access-log-service.js';
import { makeResource } from '../src/xds/resource.js';
import { decodeMessage, encodeMessage } from '../src/xds/protos.js';
import { TYPE_PREFIX, TypeUrl } from '../src/xds/type-urls.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const RBAC_PER_ROUTE = 'envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';
const RBAC_ACTION = 'envoy.config.rbac.v3.Action';

/** The parts a variant can drop. */
const PARTS = ['shadow', 'log', 'disabled', 'normalize', 'local-reply'] as const;

/** Rewrites of the file access log's format (see LOG_EDITS), each measured against `full`. */
type Fields = Record<string, { stringValue: string }>;
interface LogConfig {
  json_format?: { fields: Fields };
  log_format?: Obj;
}
const LOG_EDITS: Record<string, (config: LogConfig) => void> = {
  // Without the route's name (`destination` or `source`) and the policy field (peer identity, header mismatches).
  'log-no-metadata': (c) => ['source', 'destination', 'policy'].forEach((k) => delete c.json_format!.fields[k]),
  'log-no-policy': (c) => delete c.json_format!.fields.policy,
  // The format before the route's name and the policy template (2026-12-03): each value a single command, which
  // Envoy's JSON formatter renders as a typed value (dearer than a template or a plain string command).
  'log-metadata-fields': (c) => {
    const fields = c.json_format!.fields;
    const [peer, mismatches] = fields.policy.stringValue.split(' ');
    for (const k of ['source', 'destination', 'policy']) delete fields[k];
    for (const key of ['endpoint', 'identity', 'port']) fields[`route_${key}`] = { stringValue: `%METADATA(ROUTE:weft.l7policy:${key})%` };
    fields.peer_identity = { stringValue: peer };
    fields.header_mismatches = { stringValue: mismatches };
  },
  // Every field a literal: what the logger, the JSON line and the file write cost without any command.
  'log-static': (c) => Object.keys(c.json_format!.fields).forEach((k) => (c.json_format!.fields[k] = { stringValue: 'literal' })),
  'log-no-time': (c) => delete c.json_format!.fields.time,
  // The start time as epoch seconds with milliseconds instead of Envoy's default ISO 8601 format.
  'log-time-epoch': (c) => (c.json_format!.fields.time = { stringValue: '%START_TIME(%s.%3f)%' }),
  'log-no-request': (c) => ['method', 'path', 'host'].forEach((k) => delete c.json_format!.fields[k]),
  'log-no-details': (c) => ['response_code', 'response_code_details', 'protocol', 'source_address'].forEach((k) => delete c.json_format!.fields[k]),
  // The same JSON through the current log_format field, and with null fields left out.
  'log-format': (c) => {
    c.log_format = { json_format: c.json_format };
    delete c.json_format;
  },
  'log-omit-empty': (c) => {
    c.log_format = { json_format: c.json_format, omit_empty_values: true };
    delete c.json_format;
  },
  // The request's and the response's fields joined into two space-separated templates (one escaped string each).
  'log-joined': (c) => {
    const fields = c.json_format!.fields;
    const take = (keys: string[]): string => keys.map((k) => fields[k].stringValue).join(' ');
    fields.request = { stringValue: take(['protocol', 'method', 'path', 'host']) };
    fields.response = { stringValue: take(['response_code', 'response_code_details']) };
    for (const k of ['protocol', 'method', 'path', 'host', 'response_code', 'response_code_details']) delete fields[k];
  },
  // A text line with the same fields (not safe: request values are not escaped).
  'log-text': (c) => {
    c.log_format = { text_format_source: { inline_string: Object.values(c.json_format!.fields).map((v) => v.stringValue).join(' ') + '\n' } };
    delete c.json_format;
  },
};
/** Rewrites of the connection manager's request handling (path normalisation, the remote address). */
const HCM_EDITS: Record<string, (hcm: Obj) => void> = {
  'no-normalize-path': (h) => delete h.normalize_path,
  'no-merge-slashes': (h) => delete h.merge_slashes,
  'no-escaped-slashes': (h) => delete h.path_with_escaped_slashes_action,
  'no-remote-address': (h) => ['use_remote_address', 'skip_xff_append', 'xff_num_trusted_hops'].forEach((k) => delete h[k]),
  // The configuration before 2026-12-03: Envoy appends the connection's address to X-Forwarded-For.
  'xff-append': (h) => delete h.skip_xff_append,
  // Every peer internal: no x-envoy-external-address, no stripping of x-envoy-* request headers.
  'internal-all': (h) => (h.internal_address_config = { cidr_ranges: [{ address_prefix: '0.0.0.0', prefix_len: { value: 0 } }, { address_prefix: '::', prefix_len: { value: 0 } }] }),
  // No x-request-id generated (the edge regenerates one for every request).
  'no-request-id': (h) => (h.generate_request_id = { value: false }),
  // Cilium's list (pkg/envoy/xds_server.go getHttpFilterChainProto): private IPv4 ranges and the loopback addresses.
  'internal-cilium': (h) =>
    (h.internal_address_config = {
      cidr_ranges: [
        ['10.0.0.0', 8],
        ['172.16.0.0', 12],
        ['192.168.0.0', 16],
        ['127.0.0.1', 32],
        ['::1', 128],
      ].map(([address_prefix, len]) => ({ address_prefix, prefix_len: { value: len } })),
    }),
};

/** Rewrites of the gRPC access log service's configuration (with `with-als` or `log-als`). */
const ALS_EDITS: Record<string, (config: { common_config: { custom_tags?: unknown[] } }) => void> = {
  // Without the custom tags (the agent could not name the ends): what the tags cost.
  'als-no-tags': (c) => delete c.common_config.custom_tags,
};

/** Rewrites of a policy route configuration's virtual host. */
const VHOST_EDITS: Record<string, (vh: Obj) => void> = {
  // The header use_remote_address adds for an external peer does not travel to the application (as translated since 2026-12-03).
  'strip-external-address': (vh) => (vh.request_headers_to_remove = ['x-envoy-external-address']),
  // The configuration before that: it does.
  'keep-external-address': (vh) => delete vh.request_headers_to_remove,
};

interface IpPredicate {
  single_predicate?: { input: Obj; custom_match?: { typed_config: AnyObj }; value_match?: Obj };
  and_matcher?: { predicate: IpPredicate[] };
  or_matcher?: { predicate: IpPredicate[] };
}
interface MatcherTree {
  matcher_list?: { matchers: Array<{ predicate: IpPredicate; on_match: { matcher?: MatcherTree } }> };
  on_no_match?: { matcher?: MatcherTree };
}

/** Rewrites of the enforcing RBAC matcher. */
const MATCHER_EDITS: Record<string, (m: MatcherTree) => void> = {
  // An address predicate naming one host address as an exact match of the address string (no parse, no trie).
  'exact-source': function exact(m) {
    for (const l of m.matcher_list?.matchers ?? []) {
      const p = l.predicate.single_predicate;
      const ranges = p?.custom_match && (unpack(p.custom_match.typed_config) as { cidr_ranges?: Array<{ address_prefix: string; prefix_len: { value: number } }> }).cidr_ranges;
      if (p && ranges?.length === 1 && ranges[0].prefix_len.value === (ranges[0].address_prefix.includes(':') ? 128 : 32)) {
        delete p.custom_match;
        p.value_match = { exact: ranges[0].address_prefix };
      }
      if (l.on_match.matcher) exact(l.on_match.matcher);
    }
  },
};

/**
 * Other ways to name the peer (source identity) than the enforcing matcher's decisions (`<peer>|<decision>`, in
 * the request's dynamic metadata as `enforced_effective_policy_id`), each read by the log instead (issue 5):
 * `shadow-peer`: the RBAC shadow matcher on the source address (peer address → identity; what Weft did before
 * 2026-12-03 17:00); `peer-ip-tags`: Envoy's ip_tagging HTTP filter (an LC trie on the remote address) with the
 * peers' addresses as tags, read as the x-envoy-ip-tags request header; `peer-chain-name`: the name of the
 * connection's filter chain (the lower bound of naming the peer once per connection: a filter chain per identity
 * chosen by the source address, or filter state set by a network filter; the per-connection lookup itself is
 * not counted, the bench's 4 connections carry 500 requests).
 */
const PEER_EDITS = ['shadow-peer', 'peer-ip-tags', 'peer-chain-name'] as const;
/** The route table enforces instead of the RBAC filter (see peerHeaderRoutes and peerHeaderMatcher below). */
const ROUTE_DECIDES = ['route-peer-header', 'vhost-matcher'] as const;
/** Whether a variant (or a part of `a+b`) lets the route table enforce: the bench checks its verdicts. */
export function routeTableEnforces(variant: Variant): boolean {
  return translatedByRoute(variant) || ROUTE_DECIDES.some((v) => dropped(variant).has(v));
}

/** `full`, or `full+<edit>…`: Weft's translation (the route table enforces) with the named edits of its connection manager, log or virtual hosts. */
function translatedByRoute(variant: Variant): boolean {
  return variant === 'full' || (composite(variant)?.includes('full') ?? false);
}

/**
 * How a variant's policy is translated (EnvoyL7Options.enforcement): `full` as Weft does by default (the route
 * table enforces); `rbac-filter` with the RBAC filter; every other variant is an edit of the RBAC filter's
 * configuration as translated before 2026-12-03 23:40 UTC (the filter on in the listener, its policy per virtual host).
 */
export function variantEnforcement(variant: Variant): 'route' | 'rbac' {
  return translatedByRoute(variant) ? 'route' : 'rbac';
}
const ENFORCED_PEER = /%DYNAMIC_METADATA\(envoy\.filters\.http\.rbac:enforced_effective_policy_id\)%/;
const LOGGED_PEER: Record<(typeof PEER_EDITS)[number], string> = {
  'shadow-peer': '%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_effective_policy_id)%',
  'peer-ip-tags': '%REQ(X-ENVOY-IP-TAGS)%',
  'peer-chain-name': '%FILTER_CHAIN_NAME%',
};

/** `full`; `no-<part>` (drops one part); `bare` (drops them all; RBAC and router remain); `bare+<part>` (keeps one); `no-rbac`. `log-…` and the
 *  request-handling names below rewrite one thing; `a+b` combines variants. */
export const VARIANTS = ['full', 'rbac-filter', ...PARTS.map((p) => `no-${p}`), 'bare', ...PARTS.map((p) => `bare+${p}`), 'no-rbac', ...Object.keys(LOG_EDITS), ...Object.keys(ALS_EDITS), ...Object.keys(HCM_EDITS), ...Object.keys(VHOST_EDITS), ...Object.keys(MATCHER_EDITS), ...PEER_EDITS, ...ROUTE_DECIDES, 'log-als', 'with-als', 'log-flows'] as const;

/**
 * Variants that stream to the gRPC access log service (to a receiver the bench runs), as the L7 policy listeners did
 * for flows until 2026-12-04: each request an entry with two custom tags, the direction and the RBAC filter's
 * decision (added by editHcm; the agent now follows the file, `log-flows`).
 */
const ALS_VARIANTS: ReadonlySet<string> = new Set(['log-als', 'with-als']);
/** Whether a variant (or a part of `a+b`, e.g. `full+with-als`) streams to the gRPC access log service. */
export function streamsAccessLog(variant: Variant): boolean {
  return (composite(variant) ?? [variant]).some((v) => ALS_VARIANTS.has(v));
}
/** Whether a variant's file line carries what flows need (translated with `l7.accessLogForFlows`, as with flows on). */
export function logsForFlows(variant: Variant): boolean {
  return (composite(variant) ?? [variant]).includes('log-flows');
}
export type Variant = string;

type Obj = Record<string, unknown>;
interface AnyObj {
  type_url: string;
  value: Uint8Array;
}

function unpack(a: AnyObj): Obj {
  return decodeMessage(a.type_url.slice(TYPE_PREFIX.length), a.value);
}

function repack(a: AnyObj, message: Obj): AnyObj {
  return { type_url: a.type_url, value: encodeMessage(a.type_url.slice(TYPE_PREFIX.length), message) };
}

/** `a+b+…` (not `bare+…`): the union of what each named variant drops, e.g. `log-route-name+no-shadow`. */
function composite(variant: Variant): string[] | undefined {
  if (variant.startsWith('bare+') || !variant.includes('+')) return undefined;
  return variant.split('+');
}

export function isVariant(variant: string): boolean {
  return (VARIANTS as readonly string[]).includes(variant) || (composite(variant)?.every(isVariant) ?? false);
}

function dropped(variant: Variant): Set<string> {
  const parts = composite(variant);
  if (parts) return new Set(parts.flatMap((p) => [...dropped(p)]));
  if (variant === 'full' || variant === 'log-flows' || variant === 'rbac-filter') return new Set();
  if (variant in LOG_EDITS || variant in ALS_EDITS || variant in HCM_EDITS || variant in VHOST_EDITS || variant in MATCHER_EDITS || (PEER_EDITS as readonly string[]).includes(variant) || ALS_VARIANTS.has(variant) || (ROUTE_DECIDES as readonly string[]).includes(variant)) return new Set([variant]);
  if (variant.startsWith('no-') && variant !== 'no-rbac') return new Set([variant.slice(3)]);
  const all = new Set<string>(PARTS);
  if (variant === 'no-rbac') return all.add('rbac');
  if (variant.startsWith('bare+')) all.delete(variant.slice(5));
  return all;
}

function editHcm(hcm: Obj, drop: Set<string>, tags: IpTag[], byRoute: boolean): Obj {
  const del = (k: string): void => void delete hcm[k];
  // The RBAC filter on in the listener, as before 2026-12-03 23:40 UTC (applyVariant unwraps the virtual hosts' enabling).
  if (!byRoute) for (const f of hcm.http_filters as Array<{ name: string; disabled?: boolean }>) if (f.name === 'weft.l7policy') delete f.disabled;
  if (drop.has('log')) del('access_log');
  const file = (hcm.access_log as Array<{ typed_config: AnyObj }> | undefined)?.[0];
  const peer = PEER_EDITS.find((e) => drop.has(e));
  if (peer && file) {
    const config = unpack(file.typed_config) as LogConfig;
    const policy = config.json_format!.fields.policy;
    policy.stringValue = policy.stringValue.replace(ENFORCED_PEER, LOGGED_PEER[peer]);
    file.typed_config = repack(file.typed_config, config as Obj);
  }
  if (drop.has('peer-ip-tags')) {
    const filter = { name: 'envoy.filters.http.ip_tagging', typed_config: { type_url: TYPE_PREFIX + IP_TAGGING, value: encodeMessage(IP_TAGGING, { ip_tags: tags }) } };
    hcm.http_filters = [filter, ...(hcm.http_filters as Obj[])];
  }
  for (const name of drop) {
    if (HCM_EDITS[name]) HCM_EDITS[name](hcm);
    if (!LOG_EDITS[name] || !file) continue;
    const config = unpack(file.typed_config) as LogConfig;
    LOG_EDITS[name](config);
    file.typed_config = repack(file.typed_config, config as Obj);
  }
  if ([...ALS_VARIANTS].some((v) => drop.has(v))) {
    const tags: AccessLogTag[] = [{ tag: 'direction', literal: 'ingress' }, { tag: 'source_identity', kind: 'request', key: 'envoy.filters.http.rbac', path: 'enforced_effective_policy_id' }];
    hcm.access_log = [...((hcm.access_log as Obj[] | undefined) ?? []), grpcAccessLog(tags)];
  }
  const als = (hcm.access_log as Array<{ name: string; typed_config: AnyObj }> | undefined)?.find((l) => l.name === 'envoy.access_loggers.http_grpc');
  for (const name of drop) {
    if (!ALS_EDITS[name] || !als) continue;
    const config = unpack(als.typed_config) as Parameters<(typeof ALS_EDITS)[string]>[0];
    ALS_EDITS[name](config);
    als.typed_config = repack(als.typed_config, config);
  }
  // The gRPC access log service instead of the file: its entries are built on the worker, sent in batches.
  if (drop.has('log-als')) hcm.access_log = (hcm.access_log as Array<{ name: string }>).filter((l) => l.name !== 'envoy.access_loggers.file');
  if (drop.has('disabled')) hcm.http_filters = (hcm.http_filters as Array<{ disabled?: boolean }>).filter((f) => !f.disabled);
  if (drop.has('normalize')) for (const k of ['use_remote_address', 'skip_xff_append', 'xff_num_trusted_hops', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action']) del(k);
  if (drop.has('local-reply')) del('local_reply_config');
  if (drop.has('rbac')) hcm.http_filters = (hcm.http_filters as Array<{ name: string }>).filter((f) => f.name === 'envoy.filters.http.router');
  if (ROUTE_DECIDES.some((v) => drop.has(v))) {
    // The decision is the route's name (the route table enforces the policy): no RBAC filter, no metadata.
    hcm.http_filters = (hcm.http_filters as Array<{ name: string }>).filter((f) => f.name !== 'weft.l7policy');
    if (file) {
      const config = unpack(file.typed_config) as LogConfig;
      const policy = config.json_format!.fields.policy;
      policy.stringValue = policy.stringValue.replace(ENFORCED_PEER, '').trim();
      file.typed_config = repack(file.typed_config, config as Obj);
    }
  }
  return hcm;
}

const IP_TAGGING = 'envoy.extensions.filters.http.ip_tagging.v3.IPTagging';
interface IpTag {
  ip_tag_name: string;
  ip_list: Array<{ address_prefix: string; prefix_len: { value: number } }>;
}
interface OnMatchObj {
  action?: { typed_config: AnyObj };
  matcher?: MatcherObj;
}
interface MatcherObj {
  matcher_tree?: { input: Obj; exact_match_map?: { map: Record<string, OnMatchObj> } };
  matcher_list?: { matchers: Array<{ on_match: OnMatchObj }> };
  on_no_match?: OnMatchObj;
}

/*
 * The route table does the policy instead of the RBAC filter (measured, not adopted): the decision is the route's
 * name, no RBAC filter, no dynamic metadata. The peer is the x-envoy-external-address header, which the connection
 * manager sets to the connection's source address for every request from an external peer (use_remote_address, no
 * internal addresses) after removing any the client sent; routes cannot match the source address itself (Envoy
 * refuses a virtual host matcher on DirectSourceIPInput: "Route table can only match on request headers"). The
 * rules' regular expressions then meet Envoy's RE2 program-size check for routes (the node bootstrap allows 32,768
 * instructions; Envoy's default, 100, refuses the 100 paths' 730).
 * `route-peer-header`: one route per (address, rule) matching the peer header and the rule's headers, one per
 * address for its identity's refusals, one for unlisted peers: tried in order, so a request's cost grows with the
 * peers and rules before its route.
 * `vhost-matcher`: the enforcing matcher tree itself as the virtual host's matcher (VirtualHost.matcher), read from
 * the peer header instead of the source address, its RBAC actions turned into routes: the same exact-match map
 * (one hash lookup for a listed peer), the same rule predicates, the same IP range matchers after it (CIDR peers,
 * unlisted pods).
 */
const PEER_HEADER = 'x-envoy-external-address';
const HEADER_INPUT = 'envoy.type.matcher.v3.HttpRequestHeaderMatchInput';
const SOURCE_IP_INPUT = 'envoy.extensions.matching.common_inputs.network.v3.DirectSourceIPInput';
const ROUTE = 'envoy.config.route.v3.Route';
const MATCH_ALL: Obj = { prefix: '' };

/** The route an RBAC decision becomes, named after it: allowed, the policy's own route to the application (`allowed`); refused, 403 as the RBAC filter's local reply. */
function decisionRoute(o: OnMatchObj, match: Obj, allowed: Obj): Obj {
  const action = unpack(o.action!.typed_config) as { name: string; action?: string | number };
  const deny = action.action === 'DENY' || action.action === 1;
  return deny ? { match, name: action.name, direct_response: { status: 403, body: { inline_string: 'Access denied\r\n' } } } : { ...allowed, match, name: action.name };
}

interface Pred {
  single_predicate?: { input: { typed_config: AnyObj }; value_match: Obj };
  and_matcher?: { predicate: Pred[] };
}
function headerMatchers(p: Pred): Obj[] {
  if (p.and_matcher) return p.and_matcher.predicate.flatMap(headerMatchers);
  const sp = p.single_predicate;
  if (!sp) throw new Error('route-peer-header: only header predicates (single, and) are translated');
  const input = unpack(sp.input.typed_config) as { header_name?: string };
  if (!input.header_name) throw new Error('route-peer-header: only header inputs are translated');
  return [{ name: input.header_name, string_match: sp.value_match }];
}
function peerHeaderRoutes(m: MatcherObj, allowed: Obj): Obj[] {
  const routes: Obj[] = [];
  for (const [ip, onMatch] of Object.entries(m.matcher_tree?.exact_match_map?.map ?? {})) {
    const peer = { name: PEER_HEADER, string_match: { exact: ip } };
    if (onMatch.action) {
      routes.push(decisionRoute(onMatch, { ...MATCH_ALL, headers: [peer] }, allowed));
      continue;
    }
    const inner = onMatch.matcher!;
    for (const x of inner.matcher_list?.matchers ?? []) routes.push(decisionRoute(x.on_match, { ...MATCH_ALL, headers: [peer, ...headerMatchers((x as unknown as { predicate: Pred }).predicate)] }, allowed));
    if (inner.on_no_match) routes.push(decisionRoute(inner.on_no_match, { ...MATCH_ALL, headers: [peer] }, allowed));
  }
  // Unlisted peers: the innermost fallback (the bench's policies name no CIDR, so the address matchers before it are skipped).
  let unlisted = m.on_no_match;
  while (unlisted?.matcher) unlisted = unlisted.matcher.on_no_match;
  if (unlisted?.action) routes.push(decisionRoute(unlisted, MATCH_ALL, allowed));
  return routes;
}

/**
 * vhost-matcher: the enforcing matcher rewritten in place for the virtual host. Every source address input (the
 * exact-match map's, the IP range predicates') reads the peer header instead; every RBAC action becomes a route
 * action. A request without the header (Envoy adds none for a peer it counts as internal; Weft names no internal
 * addresses) matches no key and no range: refused as unlisted. An internal peer's own header is kept, though, so
 * this holds only while no peer is internal (BENCHMARKS.md).
 */
function peerHeaderMatcher(node: unknown, allowed: Obj): void {
  if (Array.isArray(node)) return node.forEach((n) => peerHeaderMatcher(n, allowed));
  if (!node || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
  const o = node as { input?: { name?: string; typed_config?: AnyObj }; action?: { name?: string; typed_config?: AnyObj } } & Obj;
  if (o.input?.typed_config?.type_url === TYPE_PREFIX + SOURCE_IP_INPUT) o.input = { name: 'peer', typed_config: { type_url: TYPE_PREFIX + HEADER_INPUT, value: encodeMessage(HEADER_INPUT, { header_name: PEER_HEADER }) } };
  if (o.action?.typed_config?.type_url === TYPE_PREFIX + RBAC_ACTION) o.action = { name: 'route', typed_config: { type_url: TYPE_PREFIX + ROUTE, value: encodeMessage(ROUTE, decisionRoute(o as OnMatchObj, MATCH_ALL, allowed)) } };
  for (const v of Object.values(o)) peerHeaderMatcher(v, allowed);
}

/** A policy virtual host (one route to the application) made to enforce by its route table, per ROUTE_DECIDES variant. */
const ROUTE_TABLES: Record<(typeof ROUTE_DECIDES)[number], (vh: { routes?: Obj[]; matcher?: Obj }, policy: MatcherObj, allowed: Obj) => void> = {
  'route-peer-header': (vh, policy, allowed) => (vh.routes = peerHeaderRoutes(policy, allowed)),
  'vhost-matcher': (vh, policy, allowed) => {
    peerHeaderMatcher(policy, allowed);
    vh.matcher = policy as Obj;
    delete vh.routes;
  },
};

/** The name of the first decision under `onMatch`. */
function firstDecision(onMatch: OnMatchObj): string {
  if (onMatch.action) return String(unpack(onMatch.action.typed_config).name);
  const m = onMatch.matcher!;
  return firstDecision(m.matcher_list?.matchers[0]?.on_match ?? Object.values(m.matcher_tree?.exact_match_map?.map ?? {})[0] ?? m.on_no_match!);
}

/** The peers the enforcing matcher's address map names: address → peer (`<peer>|<decision>`). */
function mappedPeers(matcher: MatcherObj): Map<string, string> {
  return new Map(Object.entries(matcher.matcher_tree?.exact_match_map?.map ?? {}).map(([ip, onMatch]) => [ip, firstDecision(onMatch).split('|')[0]]));
}

/** The mapped peers as IP tags (host prefixes). */
function peerTags(peers: Map<string, string>): IpTag[] {
  const byName = new Map<string, IpTag['ip_list']>();
  for (const [ip, name] of peers) (byName.get(name) ?? byName.set(name, []).get(name)!).push({ address_prefix: ip, prefix_len: { value: ip.includes(':') ? 128 : 32 } });
  return [...byName].map(([ip_tag_name, ip_list]) => ({ ip_tag_name, ip_list }));
}

/** The enforcing matcher of each policy route configuration's ingress filter, by route configuration name (= listener name). */
function routeTags(resources: Resource[]): Map<string, IpTag[]> {
  const out = new Map<string, IpTag[]>();
  for (const r of resources) {
    if (r.typeUrl !== TypeUrl.RouteConfiguration || !r.name.startsWith('l7/')) continue;
    const route = decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body) as { virtual_hosts: Array<{ typed_per_filter_config?: Record<string, AnyObj> }> };
    const config = route.virtual_hosts[0]?.typed_per_filter_config?.['weft.l7policy'];
    const matcher = config && (unpack(config) as { rbac?: { matcher?: MatcherObj } }).rbac?.matcher;
    if (matcher) out.set(r.name, peerTags(mappedPeers(matcher)));
  }
  return out;
}

/** The translated resources with the variant's parts of the policy listeners (`l7/…`) removed. */
export function applyVariant(resources: Resource[], variant: Variant): Resource[] {
  if (!isVariant(variant)) throw new Error(`unknown variant ${variant} (known: ${VARIANTS.join(', ')})`);
  const drop = dropped(variant);
  const byRoute = translatedByRoute(variant);
  if (drop.size === 0) return resources;
  const tags = drop.has('peer-ip-tags') ? routeTags(resources) : new Map<string, IpTag[]>();
  return resources.map((r) => {
    if (!r.name.startsWith('l7/')) return r;
    if (r.typeUrl === TypeUrl.Listener) {
      const listener = decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body) as { filter_chains: Array<{ name?: string; filters: Array<{ typed_config: AnyObj }> }> };
      for (const chain of listener.filter_chains) {
        // What a chain per identity would be named (the bench's client is the only listed peer).
        if (drop.has('peer-chain-name')) chain.name = 'peer-chain';
        for (const f of chain.filters) if (f.typed_config.type_url === TYPE_PREFIX + HCM) f.typed_config = repack(f.typed_config, editHcm(unpack(f.typed_config), drop, tags.get(r.name) ?? [], byRoute));
      }
      return makeResource(r.typeUrl, r.name, listener, r.references);
    }
    if (r.typeUrl === TypeUrl.RouteConfiguration) {
      const route = decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body) as { virtual_hosts: Array<{ typed_per_filter_config?: Record<string, AnyObj>; routes?: Obj[]; matcher?: Obj }> };
      for (const vh of route.virtual_hosts) {
        for (const name of drop) VHOST_EDITS[name]?.(vh);
        const per = vh.typed_per_filter_config ?? {};
        // The RBAC filter's policy as before 2026-12-03 23:40 UTC: the filter is on in the listener (editHcm), not enabled here.
        const enabling = per['weft.l7policy'];
        if (!byRoute && enabling?.type_url === TYPE_PREFIX + FILTER_CONFIG) per['weft.l7policy'] = (unpack(enabling) as { config: AnyObj }).config;
        const routeTable = ROUTE_DECIDES.find((v) => drop.has(v));
        if (routeTable && per['weft.l7policy'] && vh.routes?.length === 1) {
          const matcher = (unpack(per['weft.l7policy']) as { rbac?: { matcher?: MatcherObj } }).rbac?.matcher;
          if (matcher) {
            ROUTE_TABLES[routeTable](vh, matcher, vh.routes[0]);
            delete per['weft.l7policy'];
          }
        }
        for (const [name, config] of Object.entries(per)) {
          if (config.type_url !== TYPE_PREFIX + RBAC_PER_ROUTE) continue;
          if (drop.has('rbac')) {
            delete per[name];
            continue;
          }
          const rbac = unpack(config) as { rbac?: Obj };
          const matcher = rbac.rbac?.matcher as MatcherTree | undefined;
          if (matcher) for (const e of [...drop].filter((d) => MATCHER_EDITS[d])) MATCHER_EDITS[e](matcher);
          if (drop.has('shadow-peer') && name === 'weft.l7policy' && rbac.rbac?.matcher) {
            // The peer by address again, as a shadow matcher of its own (the unmapped: `unlisted`).
            const tree = (rbac.rbac.matcher as MatcherObj).matcher_tree;
            const map = Object.fromEntries([...mappedPeers(rbac.rbac.matcher as MatcherObj)].map(([ip, peer]) => [ip, { action: { name: 'Action', typed_config: { type_url: `${TYPE_PREFIX}${RBAC_ACTION}`, value: encodeMessage(RBAC_ACTION, { name: peer, action: 'ALLOW' }) } } }]));
            if (tree) rbac.rbac.shadow_matcher = { matcher_tree: { input: tree.input, exact_match_map: { map } }, on_no_match: { action: { name: 'Action', typed_config: { type_url: `${TYPE_PREFIX}${RBAC_ACTION}`, value: encodeMessage(RBAC_ACTION, { name: 'unlisted', action: 'ALLOW' }) } } } };
          }
          if (drop.has('shadow')) delete rbac.rbac?.shadow_matcher;
          per[name] = repack(config, rbac);
        }
      }
      return makeResource(r.typeUrl, r.name, route, r.references);
    }
    return r;
  });
}
