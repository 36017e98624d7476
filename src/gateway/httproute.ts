// HTTPRoute rules → IR routes: matches, filters, weighted backends, timeouts.
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { CorsIR, HttpRouteIR, HttpRouteMatchIR, RedirectIR, RetryIR, RouteActionIR, UrlRewriteIR } from '../ir/model.js';
import type { Obj } from '../sources/kinds.js';
import type { BackendProblem, BackendResolver } from './backends.js';
import { headerModifier, ruleBackends, ruleMirrors, type Resolve } from './rule-backends.js';
import { re2Error } from '../l7policy/regex.js';

type Rule = NonNullable<IHTTPRoute['spec']['rules']>[number];
type Filter = NonNullable<Rule['filters']>[number];

/**
 * A route of the IR with what its precedence is decided by: the criteria as numbers, each ascending, computed
 * once when the route is translated (a sort runs the comparator n log n times on every virtual host the route
 * is on; reading the criteria through the IR and parsing timestamps there was most of a sort).
 */
export interface RankedRoute {
  route: HttpRouteIR;
  /** "{namespace}/{name}" of the route object. */
  objectKey: string;
  ruleIndex: number;
  matchIndex: number;
  /** 0 for HTTPRoute rules, 1 for GRPCRoute ones: HTTPRoutes come first, the two kinds are never merged. */
  kind: number;
  /** The kind's own criteria, most significant first (httpRanked, grpcRanked). */
  k1: number;
  k2: number;
  k3: number;
  k4: number;
  k5: number;
  /** timestampMs of the route's creationTimestamp. */
  created: number;
}

export interface TranslatedHttpRoute {
  routes: RankedRoute[];
  /** The first unresolvable backendRef, for the ResolvedRefs condition. */
  backendProblem?: BackendProblem;
  /** Set when no rule of the route can be served (e.g. an invalid regex): Accepted False with this. */
  invalid?: { reason: string; message: string };
  /** Set when some rules were dropped and others are served: PartiallyInvalid True with this. */
  partiallyInvalid?: { reason: string; message: string };
}

interface RuleProblem {
  ruleIndex: number;
  /** The rule's `name` (extended: HTTPRouteNamedRouteRule), if it has one. */
  ruleName?: string;
  reason: 'UnsupportedValue' | 'IncompatibleFilters';
  message: string;
}

const BACKEND_REF_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier'];
/** RequestRedirect status codes Envoy's RedirectAction has; the spec says others must make the rule UnsupportedValue. */
export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308];

/** The first filter of each type a rule has (the spec allows one of each but RequestMirror): found in one pass. */
interface RuleFilters {
  requestHeaders?: Filter;
  responseHeaders?: Filter;
  redirect?: Filter;
  rewrite?: Filter;
  cors?: Filter;
  /** The first filter of a type Weft does not support. */
  unsupported?: Filter;
}

function ruleFilters(filters: Filter[]): RuleFilters {
  const found: RuleFilters = {};
  for (const f of filters) {
    if (f.type === 'RequestHeaderModifier') found.requestHeaders ??= f;
    else if (f.type === 'ResponseHeaderModifier') found.responseHeaders ??= f;
    else if (f.type === 'RequestRedirect') found.redirect ??= f;
    else if (f.type === 'URLRewrite') found.rewrite ??= f;
    else if (f.type === 'CORS') found.cors ??= f;
    else if (f.type !== 'RequestMirror') found.unsupported ??= f;
  }
  return found;
}

/** Why a rule cannot be served, if it cannot. `matches`: the rule's matches, translated. */
function ruleProblem(rule: Rule, ruleIndex: number, filters: RuleFilters, matches: HttpRouteMatchIR[]): RuleProblem | undefined {
  if (filters.unsupported) return { ruleIndex, reason: 'UnsupportedValue', message: `filter type ${filters.unsupported.type} is not supported yet` };
  // backendRef filters are implementation-specific; Weft applies header modifiers there and no others,
  // which it says rather than ignoring them.
  const refs = rule.backendRefs ?? [];
  for (let refIndex = 0; refIndex < refs.length; refIndex++) {
    for (const f of refs[refIndex].filters ?? []) {
      if (!BACKEND_REF_FILTERS.includes(f.type)) return { ruleIndex, reason: 'UnsupportedValue', message: `backendRef ${refIndex}: filter type ${f.type} is not supported on a backendRef` };
    }
  }
  // The schema's enum may grow ("implementations must ensure that unknown values will not cause a crash").
  const statusCode = filters.redirect?.requestRedirect?.statusCode;
  if (statusCode !== undefined && !REDIRECT_STATUS_CODES.includes(statusCode)) {
    return { ruleIndex, reason: 'UnsupportedValue', message: `requestRedirect.statusCode ${String(statusCode)} is not supported (${REDIRECT_STATUS_CODES.join(', ')})` };
  }
  if (filters.redirect && filters.rewrite) {
    return { ruleIndex, reason: 'IncompatibleFilters', message: 'RequestRedirect and URLRewrite cannot be used together' };
  }
  for (let matchIndex = 0; matchIndex < matches.length; matchIndex++) {
    const problem = matchProblem(matches[matchIndex]);
    if (problem) return { ruleIndex, reason: 'UnsupportedValue', message: `match ${matchIndex}: ${problem}` };
  }
  return undefined;
}

/** RE2 (Envoy's regex engine) has no lookaround and no backreferences; the rest is close to JS syntax. */
export function regexProblem(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern)) return `regular expression "${pattern}" uses lookaround, which RE2 does not support`;
  if (/\\[1-9]/.test(pattern)) return `regular expression "${pattern}" uses a backreference, which RE2 does not support`;
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `invalid regular expression "${pattern}": ${(err as Error).message}`;
  }
  // What RE2 itself refuses (e.g. a repetition over 1,000) Envoy would NACK, holding back the whole route configuration.
  const re2 = re2Error(pattern);
  if (re2) return `regular expression "${pattern}" is not valid RE2: ${re2}`;
  return undefined;
}

/** Gateway API durations: 1h, 30m, 10s, 500ms and combinations such as 1m30s. */
export function parseDurationMs(value: string): number | undefined {
  // Read by hand, digits then a unit, as /^((\d+)(h|ms|m|s))+$/ would (no regex iterator and match arrays per call).
  let total = 0;
  let i = 0;
  while (i < value.length) {
    const start = i;
    while (i < value.length && isDigit(value.charCodeAt(i))) i++;
    if (i === start) return undefined;
    const digits = Number(value.slice(start, i));
    const unit = value[i];
    let factor: number;
    if (unit === 'h') factor = 3_600_000;
    else if (unit === 'm' && value[i + 1] === 's') {
      factor = 1;
      i++;
    } else if (unit === 'm') factor = 60_000;
    else if (unit === 's') factor = 1000;
    else return undefined;
    i++;
    total += digits * factor;
  }
  return i > 0 ? total : undefined;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function corsPolicy(c: NonNullable<Filter['cors']>): CorsIR {
  return {
    allowOrigins: c.allowOrigins ?? [],
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    maxAge: c.maxAge ?? 5, // the spec's default: "Access-Control-Max-Age: 5"
    allowCredentials: c.allowCredentials === true,
  };
}

function retryPolicy(r: NonNullable<Rule['retry']>): RetryIR {
  const backoffMs = r.backoff !== undefined ? parseDurationMs(r.backoff) : undefined;
  return {
    ...(r.attempts !== undefined ? { attempts: r.attempts } : {}),
    codes: r.codes ?? [],
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  };
}

function translateMatch(m: NonNullable<Rule['matches']>[number]): HttpRouteMatchIR {
  const match: HttpRouteMatchIR = {
    path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
    headers: m.headers?.length ? m.headers.map((h) => ({ name: h.name, type: h.type ?? 'Exact', value: h.value })) : [],
    queryParams: m.queryParams?.length ? m.queryParams.map((q) => ({ name: q.name, type: q.type ?? 'Exact', value: q.value })) : [],
  };
  if (m.method) match.method = m.method;
  return match;
}

/** The first regex of the match (path, then headers, then query parameters) that Envoy cannot take. */
function matchProblem(m: HttpRouteMatchIR): string | undefined {
  if (m.path.type === 'RegularExpression') {
    const problem = regexProblem(m.path.value);
    if (problem) return problem;
  }
  for (const list of [m.headers, m.queryParams]) {
    for (const x of list) {
      if (x.type !== 'RegularExpression') continue;
      const problem = regexProblem(x.value);
      if (problem) return problem;
    }
  }
  return undefined;
}

type PathModifier = { type: string; replaceFullPath?: string; replacePrefixMatch?: string };

/** A redirect's or rewrite's path; `prefix`: the match's PathPrefix value, if it is one. */
function pathModifierIR(p: PathModifier, prefix: string | undefined): NonNullable<UrlRewriteIR['path']> {
  return p.type === 'ReplaceFullPath' ? { type: 'ReplaceFullPath', value: p.replaceFullPath ?? '/' } : { type: 'ReplacePrefixMatch', value: p.replacePrefixMatch ?? '/', prefix: prefix ?? '/' };
}

function redirectIR(r: NonNullable<Filter['requestRedirect']>, prefix: string | undefined): RedirectIR {
  const redirect = {} as RedirectIR;
  if (r.scheme) redirect.scheme = r.scheme;
  if (r.hostname) redirect.hostname = r.hostname;
  if (r.port !== undefined) redirect.port = r.port;
  if (r.path) redirect.path = pathModifierIR(r.path, prefix);
  redirect.statusCode = r.statusCode ?? 302;
  return redirect;
}

function urlRewriteIR(r: NonNullable<Filter['urlRewrite']>, prefix: string | undefined): UrlRewriteIR {
  const rewrite: UrlRewriteIR = {};
  if (r.hostname) rewrite.hostname = r.hostname;
  if (r.path) rewrite.path = pathModifierIR(r.path, prefix);
  return rewrite;
}

export function translateHttpRoute(route: Obj<IHTTPRoute>, backends: BackendResolver): TranslatedHttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const objectKey = `${ns}/${route.metadata.name}`;
  const routeName = `httproute/${objectKey}/rule/`; // route names spelt from prefixes: fewer string pieces per route
  const created = timestampMs(route.metadata.creationTimestamp ?? '');
  const out: TranslatedHttpRoute = { routes: [] };
  const rules = route.spec.rules?.length ? route.spec.rules : [{}];
  const dropped: RuleProblem[] = [];
  const from = { kind: 'HTTPRoute', namespace: ns };
  const resolve: Resolve = (ref) => backends.resolve(from, ref);
  const noteProblem = (p: BackendProblem): void => void (out.backendProblem ??= p);
  for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
    const rule: Rule = rules[ruleIndex];
    // Each match translated once: checked here, then the routes' own.
    const translated = rule.matches?.length ? rule.matches.map(translateMatch) : [translateMatch({})];
    const filterList = rule.filters ?? [];
    const filters = ruleFilters(filterList);
    const problem = ruleProblem(rule, ruleIndex, filters, rule.matches?.length ? translated : []);
    if (problem) {
      if (rule.name) problem.ruleName = rule.name;
      dropped.push(problem);
      continue;
    }
    const redirect = filters.redirect?.requestRedirect;
    const rewrite = filters.rewrite?.urlRewrite;

    const weighted = ruleBackends(rule.backendRefs, resolve, noteProblem);
    const mirrors = ruleMirrors(filterList, resolve, noteProblem);
    const forwards = weighted.some((b) => b.cluster);
    // What every match of the rule shares (IR objects are never mutated, so its routes may share them too).
    const requestHeaderFilter = filters.requestHeaders;
    const requestHeaders = requestHeaderFilter && headerModifier(requestHeaderFilter.requestHeaderModifier);
    const responseHeaderFilter = filters.responseHeaders;
    const responseHeaders = responseHeaderFilter && headerModifier(responseHeaderFilter.responseHeaderModifier);
    const cors = filters.cors?.cors;
    const corsIR = cors && corsPolicy(cors);
    const retry = rule.retry && retryPolicy(rule.retry);
    const timeoutMs = rule.timeouts?.request !== undefined ? parseDurationMs(rule.timeouts.request) : undefined;
    const backendTimeoutMs = rule.timeouts?.backendRequest !== undefined ? parseDurationMs(rule.timeouts.backendRequest) : undefined;
    // Without a redirect, the action depends on the rule only.
    const ruleAction: RouteActionIR | undefined = redirect ? undefined : forwards ? { kind: 'forward', backends: weighted } : { kind: 'direct', status: 500 }; // no backend that can take traffic: the spec asks for a 500

    const ruleName = `${routeName}${ruleIndex}/match/`;
    for (let matchIndex = 0; matchIndex < translated.length; matchIndex++) {
      const match = translated[matchIndex];
      const prefix = match.path.type === 'PathPrefix' ? match.path.value : undefined;
      const action = ruleAction ?? { kind: 'redirect', redirect: redirectIR(redirect!, prefix) };
      // Fields set one by one, in this order (no spread of a temporary object per optional field: thousands of routes).
      const ir: HttpRouteIR = { name: `${ruleName}${matchIndex}`, match, action };
      if (requestHeaderFilter) ir.requestHeaders = requestHeaders;
      if (responseHeaderFilter) ir.responseHeaders = responseHeaders;
      if (rewrite) ir.urlRewrite = urlRewriteIR(rewrite, prefix);
      if (timeoutMs !== undefined) ir.timeoutMs = timeoutMs;
      if (backendTimeoutMs !== undefined) ir.backendTimeoutMs = backendTimeoutMs;
      if (mirrors.length && action.kind === 'forward') ir.mirrors = mirrors;
      if (cors) ir.cors = corsIR;
      if (rule.retry) ir.retry = retry;
      out.routes.push(httpRanked(ir, objectKey, ruleIndex, matchIndex, created));
    }
  }
  const describe = dropped.map((d) => `rule ${ruleLabel(d)}: ${d.message}`).join('; ');
  if (dropped.length === rules.length) {
    out.invalid = { reason: dropped[0].reason, message: `no rule can be served: ${describe}` };
    out.routes = [];
  } else if (dropped.length > 0) {
    // The spec: with the "drop rules" approach the message MUST start with "Dropped Rule".
    const message = dropped.length === 1 ? `Dropped Rule ${ruleLabel(dropped[0])}: ${dropped[0].message}` : `Dropped Rules ${dropped.map(ruleLabel).join(', ')}: ${describe}`;
    out.partiallyInvalid = { reason: 'UnsupportedValue', message }; // the one reason the spec lists for PartiallyInvalid
  }
  return out;
}

/** A rule as status messages name it: its index, and its name when it has one (`1 (canary)`). */
export function ruleLabel(r: { ruleIndex: number; ruleName?: string }): string {
  return r.ruleName ? `${r.ruleIndex} (${r.ruleName})` : String(r.ruleIndex);
}

/**
 * Gateway API precedence within one hostname: the first route in this order that matches wins. Compared, not
 * looked up: a property lookup by a parsed (not internalized) string costs a string-table search each time.
 */
function pathRank(type: string): number {
  return type === 'Exact' ? 0 : type === 'RegularExpression' ? 1 : type === 'PathPrefix' ? 2 : NaN;
}

/**
 * HTTPRoute precedence: Exact, then RegularExpression, then PathPrefix paths; the longest path; a method
 * match; the most header matches; the most query parameter matches; then as comparePrecedence says.
 */
function httpRanked(route: HttpRouteIR, objectKey: string, ruleIndex: number, matchIndex: number, created: number): RankedRoute {
  const m = route.match;
  return { route, objectKey, ruleIndex, matchIndex, kind: 0, k1: pathRank(m.path.type), k2: -m.path.value.length, k3: m.method ? -1 : 0, k4: -m.headers.length, k5: -m.queryParams.length, created };
}

/** The kind's criteria, then the oldest route (see compareCreated), then "{namespace}/{name}", then rule and match order. */
export function comparePrecedence(a: RankedRoute, b: RankedRoute): number {
  return (
    a.kind - b.kind ||
    a.k1 - b.k1 ||
    a.k2 - b.k2 ||
    a.k3 - b.k3 ||
    a.k4 - b.k4 ||
    a.k5 - b.k5 ||
    compareCreated(a.created, b.created) ||
    (a.objectKey < b.objectKey ? -1 : a.objectKey > b.objectKey ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

const parsedTimestamps = new Map<string, number>();

/** A creationTimestamp as a number for compareCreated: ms since the epoch, Infinity when unknown (''), NaN when unparseable. Parsed once. */
export function timestampMs(t: string): number {
  if (!t) return Infinity;
  let ms = parsedTimestamps.get(t);
  if (ms === undefined) parsedTimestamps.set(t, (ms = Date.parse(t)));
  return ms;
}

/** compareTimestamps on timestampMs values: oldest first, unknown last; an unparseable one ties (NaN). */
export function compareCreated(a: number, b: number): number {
  if (a === b) return 0;
  if (a === Infinity) return 1;
  if (b === Infinity) return -1;
  return a - b;
}

/** Oldest first; an unknown creation time sorts after known ones. Parses each timestamp once (sorts call this a lot). */
export function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  return compareCreated(timestampMs(a), timestampMs(b));
}
