// IR HTTP routes → Envoy Route messages.
import type { HeaderValueOption } from '../../generated/envoy/config/core/v3/HeaderValueOption.js';
import type { HeaderMatcher } from '../../generated/envoy/config/route/v3/HeaderMatcher.js';
import type { Route } from '../../generated/envoy/config/route/v3/Route.js';
import type { RouteAction } from '../../generated/envoy/config/route/v3/RouteAction.js';
import type { RouteMatch } from '../../generated/envoy/config/route/v3/RouteMatch.js';
import type { RedirectAction } from '../../generated/envoy/config/route/v3/RedirectAction.js';
import type { RetryPolicy } from '../../generated/envoy/config/route/v3/RetryPolicy.js';
import type { CorsPolicy } from '../../generated/envoy/extensions/filters/http/cors/v3/CorsPolicy.js';
import type { StringMatcher } from '../../generated/envoy/type/matcher/v3/StringMatcher.js';
import type { FractionalPercent } from '../../generated/envoy/type/v3/FractionalPercent.js';
import type { Duration } from '../../generated/google/protobuf/Duration.js';
import type { CorsIR, HeaderModifierIR, HttpRouteIR, HttpRouteMatchIR, MirrorIR, RedirectIR, RetryIR, UrlRewriteIR } from '../../ir/model.js';
import { packAny } from '../protos.js';

/** Where the share of traffic of an invalid backendRef goes: a cluster that answers 500 (see clusters.ts). */
export const INVALID_BACKEND_CLUSTER = 'weft/invalid-backend';

export function durationOf(ms: number): Duration {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** PathPrefix matches whole segments: /v2 matches /v2 and /v2/x, not /v2example. */
function pathMatch(path: HttpRouteMatchIR['path']): RouteMatch {
  if (path.type === 'Exact') return { path: path.value };
  if (path.type === 'RegularExpression') return { safe_regex: { regex: path.value } };
  const trimmed = path.value.endsWith('/') ? path.value.replace(/\/+$/, '') : path.value;
  return trimmed === '' ? { prefix: '/' } : { path_separated_prefix: trimmed };
}

function routeMatch(m: HttpRouteMatchIR): RouteMatch {
  const match = pathMatch(m.path);
  if (m.headers.length || m.method) {
    const headers: HeaderMatcher[] = m.headers.map((h) => ({
      name: h.name,
      string_match: h.type === 'Exact' ? { exact: h.value } : { safe_regex: { regex: h.value } },
    }));
    if (m.method) headers.push({ name: ':method', string_match: { exact: m.method } });
    match.headers = headers;
  }
  if (m.queryParams.length) {
    match.query_parameters = m.queryParams.map((q) => ({ name: q.name, string_match: q.type === 'Exact' ? { exact: q.value } : { safe_regex: { regex: q.value } } }));
  }
  return match;
}

function headersToAdd(mod: HeaderModifierIR): HeaderValueOption[] {
  return [
    ...mod.set.map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' as const })),
    ...mod.add.map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' as const })),
  ];
}

const REDIRECT_CODES: Record<number, RedirectAction['response_code']> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
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
function prefixReplacement(prefix: string, value: string): { prefix_rewrite: string } | { regex_rewrite: { pattern: { regex: string }; substitution: string } } {
  const trimmedPrefix = prefix.replace(/\/+$/, '');
  const trimmedValue = value.replace(/\/+$/, '');
  if (trimmedValue === '') {
    return { regex_rewrite: { pattern: { regex: `^${escapeRegex(trimmedPrefix)}\\/*` }, substitution: '/' } };
  }
  return { regex_rewrite: { pattern: { regex: `^${escapeRegex(trimmedPrefix)}` }, substitution: trimmedValue } };
}

function applyRewrite(action: RouteAction, rewrite: UrlRewriteIR): void {
  if (rewrite.hostname) action.host_rewrite_literal = rewrite.hostname;
  if (rewrite.path?.type === 'ReplaceFullPath') action.regex_rewrite = { pattern: { regex: '^/.*$' }, substitution: rewrite.path.value };
  else if (rewrite.path?.type === 'ReplacePrefixMatch') Object.assign(action, prefixReplacement(rewrite.path.prefix, rewrite.path.value));
}

export const CORS_FILTER = 'envoy.filters.http.cors';

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
const AUTHORITY_WITH_PORT: HeaderMatcher = { name: ':authority', string_match: { safe_regex: { regex: '.*:[0-9]+' } } };

/**
 * Whether the route is a redirect, without hostname, to its scheme's well-known port: Envoy keeps the port of the
 * request's Host unless port_redirect names one, so a Host that names a port needs a route of its own (envoyRoutes).
 */
export function redirectKeepsRequestHost(r: HttpRouteIR, listenerPort: number): boolean {
  return r.action.kind === 'redirect' && !r.action.redirect.hostname && redirectPort(r.action.redirect, listenerPort).isDefault;
}

/**
 * The Envoy routes of one IR route, in match order: one, except for a redirect that keeps the request's host
 * and goes to its scheme's well-known port (http:80, https:443). Listeners forward Host unchanged (the backend
 * sees the port the client sent), and Envoy's redirect keeps the Host's port unless port_redirect names one; so a
 * Host with a port gets a route of its own. In a virtual host of one exact hostname that route names the host
 * (host_redirect, without port): Location carries no port, as the spec says it SHOULD NOT for the well-known
 * port. In a wildcard virtual host the host is not known in advance, so the route names the port instead
 * (`https://host:443/`: the right port, written out). A Host without a port gets a Location without port.
 */
export function envoyRoutes(r: HttpRouteIR, listenerPort: number, virtualHostname = '*'): Route[] {
  const route = envoyRoute(r, listenerPort);
  if (r.action.kind !== 'redirect' || !route.redirect || !redirectKeepsRequestHost(r, listenerPort)) return [route];
  const redirect = virtualHostname.includes('*')
    ? { ...route.redirect, port_redirect: redirectPort(r.action.redirect, listenerPort).port }
    : { ...route.redirect, host_redirect: virtualHostname };
  const withPort: Route = {
    ...route,
    name: `${r.name}/host-with-port`,
    match: { ...route.match, headers: [...(route.match?.headers ?? []), AUTHORITY_WITH_PORT] },
    redirect,
  };
  return [withPort, route];
}

/** The same on every forwarding route; messages are only read once built, so they share it. */
const WEBSOCKET_UPGRADE: RouteAction['upgrade_configs'] = Object.freeze([Object.freeze({ upgrade_type: 'websocket' })]) as RouteAction['upgrade_configs'];

/** `listenerPort`: the port of the listener serving the route, for redirects that keep it. */
function envoyRoute(r: HttpRouteIR, listenerPort: number): Route {
  const route: Route = { name: r.name, match: routeMatch(r.match) };
  if (r.requestHeaders) {
    route.request_headers_to_add = headersToAdd(r.requestHeaders);
    if (r.requestHeaders.remove.length) route.request_headers_to_remove = r.requestHeaders.remove;
  }
  if (r.responseHeaders) {
    route.response_headers_to_add = headersToAdd(r.responseHeaders);
    if (r.responseHeaders.remove.length) route.response_headers_to_remove = r.responseHeaders.remove;
  }
  if (r.cors) route.typed_per_filter_config = { [CORS_FILTER]: packAny('envoy.extensions.filters.http.cors.v3.CorsPolicy', corsPolicy(r.cors)) };
  const a = r.action;
  if (a.kind === 'direct') {
    route.direct_response = { status: a.status, ...(a.body ? { body: { inline_string: a.body } } : {}) };
    return route;
  }
  if (a.kind === 'redirect') {
    route.redirect = redirectAction(a.redirect, listenerPort);
    return route;
  }
  const action: RouteAction = {};
  const backends = a.backends;
  if (backends.length === 1 && backends[0].cluster && !backends[0].requestHeaders && !backends[0].responseHeaders) {
    action.cluster = backends[0].cluster.name;
  } else {
    action.weighted_clusters = {
      clusters: backends.map((b) => ({
        name: b.cluster?.name ?? INVALID_BACKEND_CLUSTER,
        weight: { value: b.weight },
        ...(b.requestHeaders ? { request_headers_to_add: headersToAdd(b.requestHeaders), request_headers_to_remove: b.requestHeaders.remove } : {}),
        ...(b.responseHeaders ? { response_headers_to_add: headersToAdd(b.responseHeaders), response_headers_to_remove: b.responseHeaders.remove } : {}),
      })),
    };
  }
  if (r.urlRewrite) applyRewrite(action, r.urlRewrite);
  if (r.timeoutMs !== undefined) action.timeout = durationOf(r.timeoutMs);
  if (r.retry) action.retry_policy = retryPolicy(r.retry, r.backendTimeoutMs);
  else if (r.backendTimeoutMs !== undefined) action.retry_policy = { num_retries: { value: 0 }, per_try_timeout: durationOf(r.backendTimeoutMs) };
  if (r.mirrors?.length) {
    action.request_mirror_policies = r.mirrors.map((m) => ({
      cluster: m.cluster.name,
      ...(m.fraction ? { runtime_fraction: { default_value: fractionalPercent(m.fraction) } } : {}),
    }));
  }
  action.upgrade_configs = WEBSOCKET_UPGRADE;
  route.route = action;
  return route;
}
