// GRPCRoute rules → IR routes: gRPC service/method matches as paths ("/<service>/<method>"), header
// matches, header filters, mirrors and weighted backends, always spoken to in HTTP/2 (h2c).
import type { IGRPCRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute';
import type { ClusterIR, HttpRouteIR, HttpRouteMatchIR, RouteActionIR } from '../ir/model.js';
import type { Obj } from '../sources/kinds.js';
import type { ObjectMeta } from '../sources/manifests.js';
import type { Attachment } from './attachment.js';
import type { BackendProblem, BackendRefLike, BackendResolution, BackendResolver } from './backends.js';
import { headerModifier, ruleBackends, ruleMirrors, type Resolve } from './rule-backends.js';
import { condition, generationOf, type Condition } from './conditions.js';
import type { ListenerState } from './listeners.js';
import { comparePrecedence, compareTimestamps, regexProblem, ruleLabel, timestampMs, type RankedRoute, type TranslatedHttpRoute } from './httproute.js';

type Rule = NonNullable<IGRPCRoute['spec']['rules']>[number];
type Match = NonNullable<Rule['matches']>[number];

/**
 * gRPC status UNAVAILABLE: the spec's answer for requests that would go to an invalid backend. Envoy turns
 * the HTTP status of a local reply to a gRPC request into a gRPC status (503 → 14 UNAVAILABLE).
 */
export const GRPC_UNAVAILABLE_HTTP_STATUS = 503;

const SUPPORTED_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'];

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A gRPC method match as a path match on "/<service>/<method>":
 * Exact service and method → the exact path; Exact service only → the prefix "/<service>/";
 * Exact method only → any service with that method; RegularExpression → each given part as a regex
 * (an omitted part matches any single path segment).
 */
export function methodPath(m: Match['method']): HttpRouteMatchIR['path'] {
  const service = m?.service ?? '';
  const method = m?.method ?? '';
  if (!m || (!service && !method)) return { type: 'PathPrefix', value: '/' };
  if ((m.type ?? 'Exact') === 'RegularExpression') {
    return { type: 'RegularExpression', value: `/${service ? `(?:${service})` : '[^/]+'}/${method ? `(?:${method})` : '[^/]+'}` };
  }
  if (service && method) return { type: 'Exact', value: `/${service}/${method}` };
  if (service) return { type: 'PathPrefix', value: `/${service}/` };
  return { type: 'RegularExpression', value: `/[^/]+/${escapeRegex(method)}` };
}

function translateMatch(m: Match): HttpRouteMatchIR {
  // The spec: of header matches with equivalent (case-insensitive) names only the first counts.
  const headers: HttpRouteMatchIR['headers'] = [];
  const given = m.headers ?? [];
  for (let i = 0; i < given.length; i++) {
    const h = given[i];
    if (i > 0 && sameNameEarlier(given, i)) continue;
    headers.push({ name: h.name, type: h.type ?? 'Exact', value: h.value });
  }
  return { path: methodPath(m.method), headers, queryParams: [] };
}

/** Whether a header match before `i` has the same name, case aside (at most 16 matches: no Set needed). */
function sameNameEarlier(headers: ReadonlyArray<{ name: string }>, i: number): boolean {
  const name = headers[i].name.toLowerCase();
  for (let j = 0; j < i; j++) if (headers[j].name.toLowerCase() === name) return true;
  return false;
}

function matchProblem(m: Match): string | undefined {
  if ((m.method?.type ?? 'Exact') === 'RegularExpression') {
    for (const r of [m.method?.service, m.method?.method]) {
      const problem = r ? regexProblem(r) : undefined;
      if (problem) return problem;
    }
  }
  for (const h of m.headers ?? []) {
    const problem = h.type === 'RegularExpression' ? regexProblem(h.value) : undefined;
    if (problem) return problem;
  }
  if (m.method && !m.method.service && !m.method.method) return 'a method match needs a service or a method';
  return undefined;
}

/** gRPC is HTTP/2: a Service port not already marked h2c/grpc gets its own HTTP/2 cluster. */
/**
 * Service port appProtocols that carry gRPC (HTTP/2). Without one, the protocol is inferred from the route
 * type (GEP-1911 allows it): h2c.
 */
const GRPC_APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'grpc']);

/**
 * A GRPCRoute backend speaks HTTP/2 in cleartext. A Service port whose appProtocol names another protocol
 * (e.g. kubernetes.io/ws, http) cannot carry gRPC: the spec makes that backend invalid, with ResolvedRefs
 * False UnsupportedProtocol (its share of requests gets UNAVAILABLE, as for any invalid backend).
 */
function forGrpc(resolved: BackendResolution, ref: BackendRefLike, from: { namespace: string }): BackendResolution {
  if (!('cluster' in resolved)) return resolved;
  if (resolved.appProtocol !== undefined && !GRPC_APP_PROTOCOLS.has(resolved.appProtocol)) {
    const what = `${ref.namespace ?? from.namespace}/${ref.name}`;
    return {
      problem: {
        reason: 'UnsupportedProtocol',
        message: `Service ${what} port ${ref.port} has appProtocol ${resolved.appProtocol}, which cannot carry gRPC (GRPCRoute backends need kubernetes.io/h2c, grpc, or no appProtocol)`,
      },
    };
  }
  if (resolved.cluster.protocol === 'http2') return resolved;
  const cluster: ClusterIR = { ...resolved.cluster, name: `${resolved.cluster.name}/h2c`, protocol: 'http2' };
  return { cluster };
}

interface RuleProblem {
  ruleIndex: number;
  /** The rule's `name` (extended: GRPCRouteNamedRouteRule), if it has one. */
  ruleName?: string;
  message: string;
}

function ruleProblem(rule: Rule, ruleIndex: number): RuleProblem | undefined {
  const unsupported = (rule.filters ?? []).find((f) => !SUPPORTED_FILTERS.includes(f.type));
  if (unsupported) return { ruleIndex, message: `filter type ${unsupported.type} is not supported` };
  const matches = rule.matches ?? [];
  for (let matchIndex = 0; matchIndex < matches.length; matchIndex++) {
    const problem = matchProblem(matches[matchIndex]);
    if (problem) return { ruleIndex, message: `match ${matchIndex}: ${problem}` };
  }
  return undefined;
}

export function translateGrpcRoute(route: Obj<IGRPCRoute>, backends: BackendResolver): TranslatedHttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const objectKey = `${ns}/${route.metadata.name}`;
  const created = timestampMs(route.metadata.creationTimestamp ?? '');
  const from = { kind: 'GRPCRoute', namespace: ns };
  const out: TranslatedHttpRoute = { routes: [] };
  const rules = route.spec.rules?.length ? route.spec.rules : [{}];
  const dropped: RuleProblem[] = [];
  const resolve: Resolve = (ref) => forGrpc(backends.resolve(from, ref), ref, from);
  const noteProblem = (p: BackendProblem): void => void (out.backendProblem ??= p);
  for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
    const rule: Rule = rules[ruleIndex];
    const problem = ruleProblem(rule, ruleIndex);
    if (problem) {
      if (rule.name) problem.ruleName = rule.name;
      dropped.push(problem);
      continue;
    }
    const filters = rule.filters ?? [];
    const weighted = ruleBackends(rule.backendRefs, resolve, noteProblem);
    const mirrors = ruleMirrors(filters, resolve, noteProblem);
    // No backend that can take traffic: UNAVAILABLE, as the spec asks.
    const action: RouteActionIR = weighted.some((b) => b.cluster) ? { kind: 'forward', backends: weighted } : { kind: 'direct', status: GRPC_UNAVAILABLE_HTTP_STATUS };
    const requestHeaders = headerModifier(filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier);
    const responseHeaders = headerModifier(filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier);
    const matches: Match[] = rule.matches?.length ? rule.matches : [{}];
    for (let matchIndex = 0; matchIndex < matches.length; matchIndex++) {
      const m = matches[matchIndex];
      const match = translateMatch(m);
      // Fields set one by one, in this order (no spread of a temporary object per optional field).
      const ir: HttpRouteIR = { name: `grpcroute/${objectKey}/rule/${ruleIndex}/match/${matchIndex}`, match, action };
      if (requestHeaders) ir.requestHeaders = requestHeaders;
      if (responseHeaders) ir.responseHeaders = responseHeaders;
      if (mirrors.length && action.kind === 'forward') ir.mirrors = mirrors;
      out.routes.push(grpcRanked(ir, m, objectKey, ruleIndex, matchIndex, created));
    }
  }
  const describe = dropped.map((d) => `rule ${ruleLabel(d)}: ${d.message}`).join('; ');
  if (dropped.length === rules.length) {
    out.invalid = { reason: 'UnsupportedValue', message: `no rule can be served: ${describe}` };
    out.routes = [];
  } else if (dropped.length > 0) {
    const message = dropped.length === 1 ? `Dropped Rule ${ruleLabel(dropped[0])}: ${dropped[0].message}` : `Dropped Rules ${dropped.map(ruleLabel).join(', ')}: ${describe}`;
    out.partiallyInvalid = { reason: 'UnsupportedValue', message };
  }
  return out;
}

/**
 * GRPCRoute precedence within one hostname: the most characters in the service match, then in the method
 * match, then the most header matches (the spec's order). The spec counts characters without saying how a
 * RegularExpression (implementation-specific) compares: Exact characters rank above regex ones, so a
 * regex never shadows an exact match; then the oldest route, then "{namespace}/{name}", then rule and
 * match order (comparePrecedence). HTTPRoutes keep their own order; the two kinds are never merged (HTTPRoutes come first).
 */
function grpcRanked(route: HttpRouteIR, m: Match, objectKey: string, ruleIndex: number, matchIndex: number, created: number): RankedRoute {
  const regex = (m.method?.type ?? 'Exact') === 'RegularExpression';
  const service = m.method?.service?.length ?? 0;
  const method = m.method?.method?.length ?? 0;
  const headers = route.match.headers.length;
  return regex
    ? { route, objectKey, ruleIndex, matchIndex, kind: 1, k1: 0, k2: 0, k3: -service, k4: -method, k5: -headers, created }
    : { route, objectKey, ruleIndex, matchIndex, kind: 1, k1: -service, k2: -method, k3: 0, k4: 0, k5: -headers, created };
}

/** Routes of either kind in precedence order (a new array). */
export function sortByPrecedence(ranked: readonly RankedRoute[]): RankedRoute[] {
  return ranked.slice().sort(comparePrecedence);
}

/** Oldest route first (unknown creation times last), then "{namespace}/{name}". */
export function compareRouteAge(a: ObjectMeta, b: ObjectMeta): number {
  const key = (m: ObjectMeta): string => `${m.namespace ?? 'default'}/${m.name}`;
  return compareTimestamps(a.creationTimestamp ?? '', b.creationTimestamp ?? '') || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

/** Whether two attached hostnames (exact, `*.suffix` or `*` for any) have a host in common. */
function hostnamesOverlap(a: string, b: string): boolean {
  const covers = (w: string, h: string): boolean => w.startsWith('*.') && h.endsWith(w.slice(1)) && h.length > w.length - 1;
  return a === b || a === '*' || b === '*' || covers(a, b) || covers(b, a);
}

/**
 * GRPCRoute "cross serving": when an HTTPRoute and a GRPCRoute attached to one listener have intersecting
 * hostnames, exactly one is accepted, the oldest (then the first by "{namespace}/{name}"); the other's
 * parent gets Accepted False. The spec names no reason; HostnameConflict says what happened. Routes
 * must be admitted oldest first.
 */
interface HostnameClaim {
  seq: number;
  kind: string;
  /** The route's metadata ("{namespace}/{name}" is spelt only for a conflict's message). */
  meta: ObjectMeta;
  hostnames: string[];
}

/** One kind's claims on one listener: the first claim of each hostname, and those of wildcard hostnames apart. */
interface KindClaims {
  byHost: Map<string, HostnameClaim>;
  wildcards: Array<[string, HostnameClaim]>;
}

const isWildcard = (h: string): boolean => h === '*' || h.startsWith('*.');

export class CrossKindHostnames {
  /** listener → kind → its claims. */
  private readonly claimed = new Map<ListenerState, Map<string, KindClaims>>();
  private seq = 0;

  /**
   * The oldest route of another kind on `listener` with a hostname intersecting one of `hostnames`. An exact
   * hostname can only intersect the same hostname or a wildcard one, so only those claims are looked at.
   */
  private conflict(listener: ListenerState, kind: string, hostnames: string[]): HostnameClaim | undefined {
    let first: HostnameClaim | undefined;
    const consider = (h: string, claim: HostnameClaim, mine: string): void => {
      if ((!first || claim.seq < first.seq) && hostnamesOverlap(h, mine)) first = claim;
    };
    for (const [otherKind, claims] of this.claimed.get(listener) ?? []) {
      if (otherKind === kind) continue;
      for (const mine of hostnames) {
        if (isWildcard(mine)) {
          for (const [h, claim] of claims.byHost) consider(h, claim, mine);
          continue;
        }
        const same = claims.byHost.get(mine);
        if (same) consider(mine, same, mine);
        for (const [h, claim] of claims.wildcards) consider(h, claim, mine);
      }
    }
    return first;
  }

  /**
   * Records and returns (`kept`) the attachments of the parents without a conflict; `rejected`: the Accepted
   * condition each other parent gets instead (the parents themselves are left as they are: a translation
   * cache may hand them out again).
   */
  admit(kind: 'HTTPRoute' | 'GRPCRoute', meta: ObjectMeta, attachments: Attachment[]): { kept: Attachment[]; rejected?: Map<Attachment['parent'], Condition> } {
    let rejected: Map<Attachment['parent'], Condition> | undefined;
    for (const a of attachments) {
      if (rejected?.has(a.parent)) continue;
      const other = this.conflict(a.listener, kind, a.hostnames);
      if (!other) continue;
      const message = `listener ${a.listener.spec.name} already serves ${other.kind} ${other.meta.namespace ?? 'default'}/${other.meta.name} on an intersecting hostname (${other.hostnames.join(', ')}); an older route of the other kind wins`;
      (rejected ??= new Map()).set(a.parent, condition('Accepted', false, 'HostnameConflict', message, generationOf(meta)));
    }
    const refused = rejected;
    const kept = refused ? attachments.filter((a) => !refused.has(a.parent)) : attachments;
    for (const a of kept) {
      const byKind = this.claimed.get(a.listener) ?? new Map<string, KindClaims>();
      this.claimed.set(a.listener, byKind);
      const claims = byKind.get(kind) ?? { byHost: new Map<string, HostnameClaim>(), wildcards: [] };
      byKind.set(kind, claims);
      const claim: HostnameClaim = { seq: this.seq++, kind, meta, hostnames: a.hostnames };
      for (const h of a.hostnames) {
        if (claims.byHost.has(h)) continue;
        claims.byHost.set(h, claim);
        if (isWildcard(h)) claims.wildcards.push([h, claim]);
      }
    }
    return rejected ? { kept, rejected } : { kept };
  }
}
