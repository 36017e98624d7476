// IR HTTP routes → Envoy Route messages, written as protobuf bytes field by field (a route table has thousands:
// building each Route as an object only to encode it cost as much as the encoding). Fields are written in
// field-number order, as the object's encoding has them (route-fields.ts names the numbers); the sub-messages
// few routes have (retries, mirrors, CORS, the redirect of a Host with a port) are built as objects and encoded.
import type { RouteMatch } from '../../generated/envoy/config/route/v3/RouteMatch.js';
import type { RedirectAction } from '../../generated/envoy/config/route/v3/RedirectAction.js';
import type { RouteAction } from '../../generated/envoy/config/route/v3/RouteAction.js';
import type { RetryPolicy } from '../../generated/envoy/config/route/v3/RetryPolicy.js';
import type { DirectResponseAction } from '../../generated/envoy/config/route/v3/DirectResponseAction.js';
import type { CorsPolicy } from '../../generated/envoy/extensions/filters/http/cors/v3/CorsPolicy.js';
import type { StringMatcher } from '../../generated/envoy/type/matcher/v3/StringMatcher.js';
import type { FractionalPercent } from '../../generated/envoy/type/v3/FractionalPercent.js';
import type { Duration } from '../../generated/google/protobuf/Duration.js';
import type { CorsIR, HeaderModifierIR, HttpRouteIR, HttpRouteMatchIR, MirrorIR, RedirectIR, RetryIR, StringMatchType, UrlRewriteIR, WeightedBackendIR } from '../../ir/model.js';
import { encodeFields, type FieldWriter } from '../message-encoder.js';
import { encodeMessage } from '../protos.js';
import { TYPE_PREFIX } from '../type-urls.js';
import { HEADER_APPEND_ACTION, MAP_ENTRY, REDIRECT_RESPONSE_CODE, ROUTE_FIELDS } from './route-fields.js';

const ROUTE = ROUTE_FIELDS['envoy.config.route.v3.Route'];
const MATCH = ROUTE_FIELDS['envoy.config.route.v3.RouteMatch'];
const HEADER_MATCHER = ROUTE_FIELDS['envoy.config.route.v3.HeaderMatcher'];
const QUERY_MATCHER = ROUTE_FIELDS['envoy.config.route.v3.QueryParameterMatcher'];
const STRING_MATCHER = ROUTE_FIELDS['envoy.type.matcher.v3.StringMatcher'];
const REGEX = ROUTE_FIELDS['envoy.type.matcher.v3.RegexMatcher'];
const REGEX_SUBSTITUTE = ROUTE_FIELDS['envoy.type.matcher.v3.RegexMatchAndSubstitute'];
const REDIRECT = ROUTE_FIELDS['envoy.config.route.v3.RedirectAction'];
const ACTION = ROUTE_FIELDS['envoy.config.route.v3.RouteAction'];
const WEIGHTED = ROUTE_FIELDS['envoy.config.route.v3.WeightedCluster'];
const CLUSTER_WEIGHT = ROUTE_FIELDS['envoy.config.route.v3.WeightedCluster.ClusterWeight'];
const UPGRADE = ROUTE_FIELDS['envoy.config.route.v3.RouteAction.UpgradeConfig'];
const HEADER_OPTION = ROUTE_FIELDS['envoy.config.core.v3.HeaderValueOption'];
const HEADER_VALUE = ROUTE_FIELDS['envoy.config.core.v3.HeaderValue'];
const UINT32_VALUE = ROUTE_FIELDS['google.protobuf.UInt32Value'];
const DURATION = ROUTE_FIELDS['google.protobuf.Duration'];
const ANY = ROUTE_FIELDS['google.protobuf.Any'];

type RequestMirrorPolicy = NonNullable<RouteAction['request_mirror_policies']>[number];

/** Where the share of traffic of an invalid backendRef goes: a cluster that answers 500 (see clusters.ts). */
export const INVALID_BACKEND_CLUSTER = 'weft/invalid-backend';

export function durationOf(ms: number): Duration {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/;

function escapeRegex(s: string): string {
  // Tested first: most paths have nothing to escape, and a global replace costs a new string and a match loop.
  return REGEX_SPECIAL.test(s) ? s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : s;
}

/** `s` without trailing slashes. */
function trimSlashes(s: string): string {
  return s.endsWith('/') ? s.replace(/\/+$/, '') : s;
}

/** PathPrefix matches whole segments: /v2 matches /v2 and /v2/x, not /v2example. */
function pathMatch(path: HttpRouteMatchIR['path']): RouteMatch {
  if (path.type === 'Exact') return { path: path.value };
  if (path.type === 'RegularExpression') return { safe_regex: { regex: path.value } };
  const trimmed = trimSlashes(path.value);
  return trimmed === '' ? { prefix: '/' } : { path_separated_prefix: trimmed };
}

function writeDuration(w: FieldWriter, field: number, ms: number): void {
  const at = w.begin(field);
  w.int64(DURATION.seconds, Math.floor(ms / 1000));
  w.int32(DURATION.nanos, (ms % 1000) * 1_000_000);
  w.end(at);
}

function writeStringMatcher(w: FieldWriter, field: number, type: StringMatchType, value: string): void {
  const at = w.begin(field);
  if (type === 'Exact') w.string(STRING_MATCHER.exact, value);
  else writeRegex(w, STRING_MATCHER.safe_regex, value);
  w.end(at);
}

function writeRegex(w: FieldWriter, field: number, regex: string): void {
  const at = w.begin(field);
  w.string(REGEX.regex, regex);
  w.end(at);
}

function writeHeaderMatcher(w: FieldWriter, name: string, type: StringMatchType, value: string): void {
  const at = w.begin(MATCH.headers);
  w.string(HEADER_MATCHER.name, name);
  writeStringMatcher(w, HEADER_MATCHER.string_match, type, value);
  w.end(at);
}

/** The RouteMatch: path, headers (and method), query parameters; `extraHeader`: one more header to match. */
function writeRouteMatch(w: FieldWriter, m: HttpRouteMatchIR, extraHeader?: { name: string; regex: string }): void {
  // The path's oneof has fields on both sides of headers and query parameters.
  const path = pathMatch(m.path);
  if (path.prefix !== undefined) w.string(MATCH.prefix, path.prefix);
  if (path.path !== undefined) w.string(MATCH.path, path.path);
  for (const h of m.headers) writeHeaderMatcher(w, h.name, h.type, h.value);
  if (m.method) writeHeaderMatcher(w, ':method', 'Exact', m.method);
  if (extraHeader) writeHeaderMatcher(w, extraHeader.name, 'RegularExpression', extraHeader.regex);
  for (const q of m.queryParams) {
    const at = w.begin(MATCH.query_parameters);
    w.string(QUERY_MATCHER.name, q.name);
    writeStringMatcher(w, QUERY_MATCHER.string_match, q.type, q.value);
    w.end(at);
  }
  if (path.safe_regex?.regex !== undefined) writeRegex(w, MATCH.safe_regex, path.safe_regex.regex);
  if (path.path_separated_prefix !== undefined) w.string(MATCH.path_separated_prefix, path.path_separated_prefix);
}

/** A header modifier's set (overwriting) and add (appending) entries, as HeaderValueOptions of field `field`. */
function writeHeadersToAdd(w: FieldWriter, field: number, mod: HeaderModifierIR): void {
  for (const h of mod.set) writeHeaderOption(w, field, h.name, h.value, HEADER_APPEND_ACTION.OVERWRITE_IF_EXISTS_OR_ADD);
  for (const h of mod.add) writeHeaderOption(w, field, h.name, h.value, HEADER_APPEND_ACTION.APPEND_IF_EXISTS_OR_ADD);
}

function writeHeaderOption(w: FieldWriter, field: number, key: string, value: string, appendAction: number): void {
  const at = w.begin(field);
  const header = w.begin(HEADER_OPTION.header);
  w.string(HEADER_VALUE.key, key);
  w.string(HEADER_VALUE.value, value);
  w.end(header);
  w.uint32(HEADER_OPTION.append_action, appendAction);
  w.end(at);
}

function writeStrings(w: FieldWriter, field: number, values: readonly string[]): void {
  for (const v of values) w.string(field, v);
}

const REDIRECT_CODES: Record<number, RedirectAction['response_code']> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

/** REDIRECT_CODES as the enum's numbers. */
const REDIRECT_CODE_VALUES: Record<number, number> = {
  301: REDIRECT_RESPONSE_CODE.MOVED_PERMANENTLY,
  302: REDIRECT_RESPONSE_CODE.FOUND,
  303: REDIRECT_RESPONSE_CODE.SEE_OTHER,
  307: REDIRECT_RESPONSE_CODE.TEMPORARY_REDIRECT,
  308: REDIRECT_RESPONSE_CODE.PERMANENT_REDIRECT,
};

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** The port a redirect goes to, and whether it is its scheme's well-known one (then Location should carry none). */
function redirectPort(r: RedirectIR, listenerPort: number): { port: number; isDefault: boolean } {
  // Without a scheme the request's scheme stays; Gateway HTTP listeners are plain http.
  const scheme = (r.scheme ?? 'http').toLowerCase();
  const port = r.port ?? (r.scheme ? DEFAULT_PORTS[scheme] : undefined) ?? listenerPort;
  return { port, isDefault: port === DEFAULT_PORTS[scheme] };
}

/**
 * Gateway API: without a port, the redirect keeps the listener's port, unless the scheme changes (then
 * the scheme's well-known port); and Location should carry no port when it is the scheme's default. Envoy
 * keeps the port of the request's Host unless port_redirect says one, so port_redirect is set when the port
 * is not the scheme's default. With a hostname, host_redirect replaces the whole Host (its port too), so the
 * default port is left out; without one, envoyRoutes adds a route for a Host that carries a port (see there).
 */
function redirectAction(r: RedirectIR, listenerPort: number): RedirectAction {
  const out: RedirectAction = { response_code: REDIRECT_CODES[r.statusCode] ?? 'FOUND' };
  if (r.scheme) out.scheme_redirect = r.scheme;
  if (r.hostname) out.host_redirect = r.hostname;
  const { port, isDefault } = redirectPort(r, listenerPort);
  if (!isDefault) out.port_redirect = port;
  if (r.path?.type === 'ReplaceFullPath') out.path_redirect = r.path.value;
  else if (r.path?.type === 'ReplacePrefixMatch') Object.assign(out, prefixReplacement(r.path.prefix, r.path.value));
  return out;
}

/** Replacing the matched prefix; a replacement of "/" must not leave a double slash. */
function prefixReplacement(prefix: string, value: string): { regex_rewrite: { pattern: { regex: string }; substitution: string } } {
  return { regex_rewrite: { pattern: { regex: prefixPattern(prefix, value) }, substitution: prefixSubstitution(value) } };
}

/** The regex of a prefix replacement (see prefixReplacement). */
function prefixPattern(prefix: string, value: string): string {
  const escaped = escapeRegex(trimSlashes(prefix));
  return trimSlashes(value) === '' ? `^${escaped}\\/*` : `^${escaped}`;
}

/** The substitution of a prefix replacement (see prefixReplacement). */
function prefixSubstitution(value: string): string {
  const trimmed = trimSlashes(value);
  return trimmed === '' ? '/' : trimmed;
}

/** A RegexMatchAndSubstitute (field `field`): a path rewrite or redirect, written without building its message. */
function writePathReplacement(w: FieldWriter, field: number, path: NonNullable<UrlRewriteIR['path']>): void {
  const at = w.begin(field);
  if (path.type === 'ReplaceFullPath') {
    // URLRewrite's ReplaceFullPath (a redirect's is path_redirect).
    writeRegex(w, REGEX_SUBSTITUTE.pattern, '^/.*$');
    w.string(REGEX_SUBSTITUTE.substitution, path.value);
  } else {
    writeRegex(w, REGEX_SUBSTITUTE.pattern, prefixPattern(path.prefix, path.value));
    w.string(REGEX_SUBSTITUTE.substitution, prefixSubstitution(path.value));
  }
  w.end(at);
}

/** redirectAction(r, listenerPort), written field by field (in field-number order). */
function writeRedirect(w: FieldWriter, r: RedirectIR, listenerPort: number): void {
  const at = w.begin(ROUTE.redirect);
  if (r.hostname) w.string(REDIRECT.host_redirect, r.hostname);
  if (r.path?.type === 'ReplaceFullPath') w.string(REDIRECT.path_redirect, r.path.value);
  w.uint32(REDIRECT.response_code, REDIRECT_CODE_VALUES[r.statusCode] ?? REDIRECT_RESPONSE_CODE.FOUND);
  if (r.scheme) w.string(REDIRECT.scheme_redirect, r.scheme);
  const { port, isDefault } = redirectPort(r, listenerPort);
  if (!isDefault) w.uint32(REDIRECT.port_redirect, port);
  if (r.path?.type === 'ReplacePrefixMatch') writePathReplacement(w, REDIRECT.regex_rewrite, r.path);
  w.end(at);
}

export const CORS_FILTER = 'envoy.filters.http.cors';
const CORS_POLICY = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';

/** A mirror's share as Envoy's FractionalPercent: exact when the denominator is one of Envoy's, else in millionths. */
function fractionalPercent(f: NonNullable<MirrorIR['fraction']>): FractionalPercent {
  if (f.denominator === 100) return { numerator: f.numerator, denominator: 'HUNDRED' };
  if (f.denominator === 10_000) return { numerator: f.numerator, denominator: 'TEN_THOUSAND' };
  return { numerator: Math.round((f.numerator * 1_000_000) / f.denominator), denominator: 'MILLION' };
}

const DEFAULT_ORIGIN_PORTS: Record<string, string> = { http: '80', https: '443' };

/**
 * Gateway API origins → Envoy matchers (full-string matches). `*` alone matches any origin; a `*` in the
 * host matches any number of labels to its left; an origin without a port also matches the scheme's
 * default port written out (the spec assumes 80 for http and 443 for https).
 */
export function originMatchers(origin: string): StringMatcher[] {
  if (origin === '*') return [{ safe_regex: { regex: '.*' } }];
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/:]+)(?::(\d+))?$/.exec(origin);
  if (!m) return [{ exact: origin, ignore_case: true }];
  const [, scheme, host, port] = m;
  const defaultPort = DEFAULT_ORIGIN_PORTS[scheme.toLowerCase()];
  if (!host.includes('*')) {
    const base = `${scheme}://${host}`;
    if (port !== undefined) return [{ exact: `${base}:${port}`, ignore_case: true }, ...(port === defaultPort ? [{ exact: base, ignore_case: true }] : [])];
    return [{ exact: base, ignore_case: true }, ...(defaultPort ? [{ exact: `${base}:${defaultPort}`, ignore_case: true }] : [])];
  }
  // `*` stands for one or more host characters (labels and their dots), never a path, port or userinfo.
  const hostRegex = host.split('*').map(escapeRegex).join('[^/:?#@\\s]+');
  const portRegex = port !== undefined ? (port === defaultPort ? `(:${port})?` : `:${port}`) : defaultPort ? `(:${defaultPort})?` : '';
  return [{ safe_regex: { regex: `(?i)${escapeRegex(scheme)}://${hostRegex}${portRegex}` } }];
}

export function corsPolicy(c: CorsIR): CorsPolicy {
  return {
    allow_origin_string_match: c.allowOrigins.flatMap(originMatchers),
    ...(c.allowMethods.length ? { allow_methods: c.allowMethods.join(', ') } : {}),
    ...(c.allowHeaders.length ? { allow_headers: c.allowHeaders.join(', ') } : {}),
    ...(c.exposeHeaders.length ? { expose_headers: c.exposeHeaders.join(', ') } : {}),
    max_age: String(c.maxAge),
    ...(c.allowCredentials ? { allow_credentials: { value: true } } : {}),
    // A preflight from an origin not allowed is answered here (without CORS headers), not by the backend.
    forward_not_matching_preflights: { value: false },
  };
}

/**
 * Gateway API retry. retry_on: the listed codes, and the connection errors the spec says to retry
 * (connect-failure: TCP failure; reset: disconnect, reset, and a backendRequest timeout, which is the per-try
 * timeout; refused-stream: HTTP/2 REFUSED_STREAM). Back-off: Envoy's is fully jittered (each wait is
 * random in [0, interval), the interval doubling from base_interval up to max_interval), so no setting
 * guarantees the spec's minimum `backoff`; base_interval = 2 × backoff makes the first wait backoff on
 * average ("approximately backoff", as the spec's example has it), and max_interval caps the growth at
 * 10 × base_interval (Envoy's default, written out). See docs/conformance-coverage.md.
 */
function retryPolicy(r: RetryIR, perTryMs: number | undefined): RetryPolicy {
  const baseMs = r.backoffMs !== undefined && r.backoffMs > 0 ? 2 * r.backoffMs : undefined;
  return {
    retry_on: ['connect-failure', 'refused-stream', 'reset', ...(r.codes.length ? ['retriable-status-codes'] : [])].join(','),
    ...(r.codes.length ? { retriable_status_codes: r.codes } : {}),
    ...(r.attempts !== undefined ? { num_retries: { value: r.attempts } } : {}),
    ...(baseMs !== undefined ? { retry_back_off: { base_interval: durationOf(baseMs), max_interval: durationOf(10 * baseMs) } } : {}),
    ...(perTryMs !== undefined ? { per_try_timeout: durationOf(perTryMs) } : {}),
  };
}

/** Matches a Host (`:authority`) that names a port: `name:port` or `[v6]:port`. */
const AUTHORITY_WITH_PORT = { name: ':authority', regex: '.*:[0-9]+' };

/**
 * Whether the route is a redirect, without hostname, to its scheme's well-known port: Envoy keeps the port of the
 * request's Host unless port_redirect names one, so a Host that names a port needs a route of its own (envoyRoutes).
 */
export function redirectKeepsRequestHost(r: HttpRouteIR, listenerPort: number): boolean {
  return r.action.kind === 'redirect' && !r.action.redirect.hostname && redirectPort(r.action.redirect, listenerPort).isDefault;
}

/**
 * The encoded Envoy routes of one IR route, in match order: one, except for a redirect that keeps the request's host
 * and goes to its scheme's well-known port (http:80, https:443). Listeners forward Host unchanged (the backend
 * sees the port the client sent), and Envoy's redirect keeps the Host's port unless port_redirect names one; so a
 * Host with a port gets a route of its own. In a virtual host of one exact hostname that route names the host
 * (host_redirect, without port): Location carries no port, as the spec says it SHOULD NOT for the well-known
 * port. In a wildcard virtual host the host is not known in advance, so the route names the port instead
 * (`https://host:443/`: the right port, written out). A Host without a port gets a Location without port.
 */
export function envoyRoutes(r: HttpRouteIR, listenerPort: number, virtualHostname = '*'): Uint8Array[] {
  const route = envoyRoute(r, listenerPort);
  if (r.action.kind !== 'redirect' || !redirectKeepsRequestHost(r, listenerPort)) return [route];
  const redirect = redirectAction(r.action.redirect, listenerPort);
  const hostWithPort: HostWithPort = {
    name: `${r.name}/host-with-port`,
    redirect: virtualHostname.includes('*') ? { ...redirect, port_redirect: redirectPort(r.action.redirect, listenerPort).port } : { ...redirect, host_redirect: virtualHostname },
  };
  return [encodeFields((w) => writeRoute(w, r, listenerPort, hostWithPort)), route];
}

/** The encoded Envoy route of an IR route, as envoyRoutes gives it for any route but a redirect that keeps the request's host. */
export function envoyRoute(r: HttpRouteIR, listenerPort: number): Uint8Array {
  return encodeFields((w) => writeRoute(w, r, listenerPort));
}

/** The route of a redirect for a Host that carries a port (see envoyRoutes): its name and redirect. */
interface HostWithPort {
  name: string;
  redirect: RedirectAction;
}

/** `listenerPort`: the port of the listener serving the route, for redirects that keep it. */
function writeRoute(w: FieldWriter, r: HttpRouteIR, listenerPort: number, hostWithPort?: HostWithPort): void {
  const match = w.begin(ROUTE.match);
  writeRouteMatch(w, r.match, hostWithPort && AUTHORITY_WITH_PORT);
  w.end(match);
  const a = r.action;
  if (a.kind === 'forward') {
    const action = w.begin(ROUTE.route);
    writeRouteAction(w, r, a.backends);
    w.end(action);
  } else if (a.kind === 'redirect') {
    if (hostWithPort) w.bytes(ROUTE.redirect, encodeMessage('envoy.config.route.v3.RedirectAction', hostWithPort.redirect));
    else writeRedirect(w, a.redirect, listenerPort);
  } else {
    const direct: DirectResponseAction = { status: a.status, ...(a.body ? { body: { inline_string: a.body } } : {}) };
    w.bytes(ROUTE.direct_response, encodeMessage('envoy.config.route.v3.DirectResponseAction', direct));
  }
  if (r.requestHeaders) writeHeadersToAdd(w, ROUTE.request_headers_to_add, r.requestHeaders);
  if (r.responseHeaders) {
    writeHeadersToAdd(w, ROUTE.response_headers_to_add, r.responseHeaders);
    writeStrings(w, ROUTE.response_headers_to_remove, r.responseHeaders.remove);
  }
  if (r.requestHeaders) writeStrings(w, ROUTE.request_headers_to_remove, r.requestHeaders.remove);
  if (r.cors) {
    // typed_per_filter_config: a map of filter name → Any, one entry.
    const entry = w.begin(ROUTE.typed_per_filter_config);
    w.string(MAP_ENTRY.key, CORS_FILTER);
    const value = w.begin(MAP_ENTRY.value);
    w.string(ANY.type_url, `${TYPE_PREFIX}${CORS_POLICY}`);
    w.bytes(ANY.value, encodeMessage(CORS_POLICY, corsPolicy(r.cors)));
    w.end(value);
    w.end(entry);
  }
  w.string(ROUTE.name, hostWithPort?.name ?? r.name);
}

function writeRouteAction(w: FieldWriter, r: HttpRouteIR, backends: WeightedBackendIR[]): void {
  if (backends.length === 1 && backends[0].cluster && !backends[0].requestHeaders && !backends[0].responseHeaders) {
    w.string(ACTION.cluster, backends[0].cluster.name);
  } else {
    const weighted = w.begin(ACTION.weighted_clusters);
    for (const b of backends) writeClusterWeight(w, b);
    w.end(weighted);
  }
  if (r.urlRewrite?.hostname) w.string(ACTION.host_rewrite_literal, r.urlRewrite.hostname);
  if (r.timeoutMs !== undefined) writeDuration(w, ACTION.timeout, r.timeoutMs);
  if (r.retry) w.bytes(ACTION.retry_policy, encodeMessage('envoy.config.route.v3.RetryPolicy', retryPolicy(r.retry, r.backendTimeoutMs)));
  else if (r.backendTimeoutMs !== undefined) {
    const policy: RetryPolicy = { num_retries: { value: 0 }, per_try_timeout: durationOf(r.backendTimeoutMs) };
    w.bytes(ACTION.retry_policy, encodeMessage('envoy.config.route.v3.RetryPolicy', policy));
  }
  w.raw(websocketUpgrade());
  for (const m of r.mirrors ?? []) {
    const mirror: RequestMirrorPolicy = { cluster: m.cluster.name, ...(m.fraction ? { runtime_fraction: { default_value: fractionalPercent(m.fraction) } } : {}) };
    w.bytes(ACTION.request_mirror_policies, encodeMessage('envoy.config.route.v3.RouteAction.RequestMirrorPolicy', mirror));
  }
  if (r.urlRewrite?.path) writePathReplacement(w, ACTION.regex_rewrite, r.urlRewrite.path);
}

let websocketUpgradeField: Uint8Array | undefined;

/** The RouteAction's `upgrade_configs` field allowing WebSocket, as every forwarding route has it: encoded once. */
function websocketUpgrade(): Uint8Array {
  if (!websocketUpgradeField) {
    const field = encodeFields((w) => {
      const upgrade = w.begin(ACTION.upgrade_configs);
      w.string(UPGRADE.upgrade_type, 'websocket');
      w.end(upgrade);
    });
    websocketUpgradeField = Uint8Array.from(field); // its own copy, not a view of the encoder's chunk
  }
  return websocketUpgradeField;
}

function writeClusterWeight(w: FieldWriter, b: WeightedBackendIR): void {
  const at = w.begin(WEIGHTED.clusters);
  w.string(CLUSTER_WEIGHT.name, b.cluster?.name ?? INVALID_BACKEND_CLUSTER);
  const weight = w.begin(CLUSTER_WEIGHT.weight);
  w.uint32(UINT32_VALUE.value, b.weight);
  w.end(weight);
  if (b.requestHeaders) writeHeadersToAdd(w, CLUSTER_WEIGHT.request_headers_to_add, b.requestHeaders);
  if (b.responseHeaders) {
    writeHeadersToAdd(w, CLUSTER_WEIGHT.response_headers_to_add, b.responseHeaders);
    writeStrings(w, CLUSTER_WEIGHT.response_headers_to_remove, b.responseHeaders.remove);
  }
  if (b.requestHeaders) writeStrings(w, CLUSTER_WEIGHT.request_headers_to_remove, b.requestHeaders.remove);
  w.end(at);
}
