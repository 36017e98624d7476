// HTTPRoute rules → IR routes: matches, filters, weighted backends, timeouts.
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { CorsIR, HttpRouteIR, HttpRouteMatchIR, RetryIR, RouteActionIR } from '../ir/model.js';
import type { Obj } from '../sources/kinds.js';
import type { BackendProblem, BackendResolver } from './backends.js';
import { headerModifier, ruleBackends, ruleMirrors, type Resolve } from './rule-backends.js';

type Rule = NonNullable<IHTTPRoute['spec']['rules']>[number];
type Filter = NonNullable<Rule['filters']>[number];

/** A route of the IR with what its precedence is decided by. */
export interface RankedRoute {
  route: HttpRouteIR;
  creationTimestamp: string;
  objectKey: string;
  ruleIndex: number;
  matchIndex: number;
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
const SUPPORTED_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'CORS'];
/** RequestRedirect status codes Envoy's RedirectAction has; the spec says others must make the rule UnsupportedValue. */
export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308];

/** Why a rule cannot be served, if it cannot. */
function ruleProblem(rule: Rule, ruleIndex: number): RuleProblem | undefined {
  const filters = rule.filters ?? [];
  const unsupported = filters.find((f) => !SUPPORTED_FILTERS.includes(f.type));
  if (unsupported) return { ruleIndex, reason: 'UnsupportedValue', message: `filter type ${unsupported.type} is not supported yet` };
  // backendRef filters are implementation-specific; Weft applies header modifiers there and no others,
  // which it says rather than ignoring them.
  for (const [refIndex, ref] of (rule.backendRefs ?? []).entries()) {
    const other = (ref.filters ?? []).find((f) => !BACKEND_REF_FILTERS.includes(f.type));
    if (other) return { ruleIndex, reason: 'UnsupportedValue', message: `backendRef ${refIndex}: filter type ${other.type} is not supported on a backendRef` };
  }
  // The schema's enum may grow ("implementations must ensure that unknown values will not cause a crash").
  const statusCode = filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect?.statusCode;
  if (statusCode !== undefined && !REDIRECT_STATUS_CODES.includes(statusCode)) {
    return { ruleIndex, reason: 'UnsupportedValue', message: `requestRedirect.statusCode ${String(statusCode)} is not supported (${REDIRECT_STATUS_CODES.join(', ')})` };
  }
  if (filters.some((f) => f.type === 'RequestRedirect') && filters.some((f) => f.type === 'URLRewrite')) {
    return { ruleIndex, reason: 'IncompatibleFilters', message: 'RequestRedirect and URLRewrite cannot be used together' };
  }
  for (const [matchIndex, m] of (rule.matches ?? []).entries()) {
    const problem = matchProblem(translateMatch(m));
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
  return undefined;
}

/** Gateway API durations: 1h, 30m, 10s, 500ms and combinations such as 1m30s. */
export function parseDurationMs(value: string): number | undefined {
  const re = /(\d+)(h|ms|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    consumed += m[0].length;
    total += Number(m[1]) * ({ h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as Record<string, number>)[m[2]];
  }
  return consumed === value.length && consumed > 0 ? total : undefined;
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
  return {
    path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
    headers: (m.headers ?? []).map((h) => ({ name: h.name, type: h.type ?? 'Exact', value: h.value })),
    queryParams: (m.queryParams ?? []).map((q) => ({ name: q.name, type: q.type ?? 'Exact', value: q.value })),
    ...(m.method ? { method: m.method } : {}),
  };
}

function matchProblem(m: HttpRouteMatchIR): string | undefined {
  const regexes = [
    ...(m.path.type === 'RegularExpression' ? [m.path.value] : []),
    ...m.headers.filter((h) => h.type === 'RegularExpression').map((h) => h.value),
    ...m.queryParams.filter((q) => q.type === 'RegularExpression').map((q) => q.value),
  ];
  for (const r of regexes) {
    const problem = regexProblem(r);
    if (problem) return problem;
  }
  return undefined;
}

export function translateHttpRoute(route: Obj<IHTTPRoute>, backends: BackendResolver): TranslatedHttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const objectKey = `${ns}/${route.metadata.name}`;
  const out: TranslatedHttpRoute = { routes: [] };
  const rules = route.spec.rules?.length ? route.spec.rules : [{}];
  const dropped: RuleProblem[] = [];
  rules.forEach((rule, ruleIndex) => {
    const problem = ruleProblem(rule, ruleIndex);
    if (problem) {
      dropped.push({ ...problem, ...(rule.name ? { ruleName: rule.name } : {}) });
      return;
    }
    const filters = rule.filters ?? [];
    const find = <T extends Filter['type']>(type: T): Filter | undefined => filters.find((f) => f.type === type);
    const redirect = find('RequestRedirect')?.requestRedirect;
    const rewrite = find('URLRewrite')?.urlRewrite;

    const resolve: Resolve = (ref) => backends.resolve({ kind: 'HTTPRoute', namespace: ns }, ref);
    const noteProblem = (p: BackendProblem): void => void (out.backendProblem ??= p);
    const weighted = ruleBackends(rule.backendRefs, resolve, noteProblem);
    const mirrors = ruleMirrors(filters, resolve, noteProblem);
    const cors = find('CORS')?.cors;
    const timeoutMs = rule.timeouts?.request !== undefined ? parseDurationMs(rule.timeouts.request) : undefined;
    const backendTimeoutMs = rule.timeouts?.backendRequest !== undefined ? parseDurationMs(rule.timeouts.backendRequest) : undefined;

    const matches = rule.matches?.length ? rule.matches : [{}];
    matches.forEach((m, matchIndex) => {
      const match = translateMatch(m);
      const prefix = match.path.type === 'PathPrefix' ? match.path.value : undefined;
      const pathModifier = (p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } | undefined) =>
        !p ? undefined : p.type === 'ReplaceFullPath' ? ({ type: 'ReplaceFullPath', value: p.replaceFullPath ?? '/' } as const) : ({ type: 'ReplacePrefixMatch', value: p.replacePrefixMatch ?? '/', prefix: prefix ?? '/' } as const);
      let action: RouteActionIR;
      if (redirect) {
        action = {
          kind: 'redirect',
          redirect: {
            ...(redirect.scheme ? { scheme: redirect.scheme } : {}),
            ...(redirect.hostname ? { hostname: redirect.hostname } : {}),
            ...(redirect.port !== undefined ? { port: redirect.port } : {}),
            ...(redirect.path ? { path: pathModifier(redirect.path)! } : {}),
            statusCode: redirect.statusCode ?? 302,
          },
        };
      } else if (weighted.some((b) => b.cluster)) {
        action = { kind: 'forward', backends: weighted };
      } else {
        // No backend that can take traffic: the spec asks for a 500.
        action = { kind: 'direct', status: 500 };
      }
      const ir: HttpRouteIR = {
        name: `httproute/${objectKey}/rule/${ruleIndex}/match/${matchIndex}`,
        match,
        action,
        ...(find('RequestHeaderModifier') ? { requestHeaders: headerModifier(find('RequestHeaderModifier')?.requestHeaderModifier) } : {}),
        ...(find('ResponseHeaderModifier') ? { responseHeaders: headerModifier(find('ResponseHeaderModifier')?.responseHeaderModifier) } : {}),
        ...(rewrite ? { urlRewrite: { ...(rewrite.hostname ? { hostname: rewrite.hostname } : {}), ...(rewrite.path ? { path: pathModifier(rewrite.path)! } : {}) } } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(backendTimeoutMs !== undefined ? { backendTimeoutMs } : {}),
        ...(mirrors.length && action.kind === 'forward' ? { mirrors } : {}),
        ...(cors ? { cors: corsPolicy(cors) } : {}),
        ...(rule.retry ? { retry: retryPolicy(rule.retry) } : {}),
      };
      out.routes.push({ route: ir, creationTimestamp: route.metadata.creationTimestamp ?? '', objectKey, ruleIndex, matchIndex });
    });
  });
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

/** Gateway API precedence within one hostname: the first route in this order that matches wins. */
const PATH_RANK = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

export function compareRoutePrecedence(a: RankedRoute, b: RankedRoute): number {
  const pathRank = PATH_RANK;
  const am = a.route.match;
  const bm = b.route.match;
  return (
    pathRank[am.path.type] - pathRank[bm.path.type] ||
    bm.path.value.length - am.path.value.length ||
    Number(Boolean(bm.method)) - Number(Boolean(am.method)) ||
    bm.headers.length - am.headers.length ||
    bm.queryParams.length - am.queryParams.length ||
    compareTimestamps(a.creationTimestamp, b.creationTimestamp) ||
    (a.objectKey < b.objectKey ? -1 : a.objectKey > b.objectKey ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

const parsedTimestamps = new Map<string, number>();

/** Oldest first; an unknown creation time sorts after known ones. Parses each timestamp once (sorts call this a lot). */
export function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  if (!a) return 1;
  if (!b) return -1;
  const parse = (t: string): number => {
    let ms = parsedTimestamps.get(t);
    if (ms === undefined) parsedTimestamps.set(t, (ms = Date.parse(t)));
    return ms;
  };
  return parse(a) - parse(b);
}
