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
import { comparePrecedenceKeys, compareTimestamps, httpPrecedenceKey, regexProblem, ruleLabel, timestampMs, type PrecedenceKey, type RankedRoute, type TranslatedHttpRoute } from './httproute.js';

type Rule = NonNullable<IGRPCRoute['spec']['rules']>[number];
type Match = NonNullable<Rule['matches']>[number];

/** What GRPCRoute precedence is decided by, after the hostname (the virtual host decides that). */
export interface GrpcRankedRoute extends RankedRoute {
  /** Characters of the service and method matches, Exact ones and RegularExpression ones apart. */
  grpc: { serviceChars: number; methodChars: number; regexServiceChars: number; regexMethodChars: number; headers: number };
}

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
  const seen = new Set<string>();
  const headers: HttpRouteMatchIR['headers'] = [];
  for (const h of m.headers ?? []) {
    const key = h.name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    headers.push({ name: h.name, type: h.type ?? 'Exact', value: h.value });
  }
  return { path: methodPath(m.method), headers, queryParams: [] };
}

function matchProblem(m: Match): string | undefined {
  const regexes = [
    ...((m.method?.type ?? 'Exact') === 'RegularExpression' ? [m.method?.service, m.method?.method].filter((x): x is string => Boolean(x)) : []),
    ...(m.headers ?? []).filter((h) => h.type === 'RegularExpression').map((h) => h.value),
  ];
  for (const r of regexes) {
    const problem = regexProblem(r);
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
  for (const [matchIndex, m] of (rule.matches ?? []).entries()) {
    const problem = matchProblem(m);
    if (problem) return { ruleIndex, message: `match ${matchIndex}: ${problem}` };
  }
  return undefined;
}

export function translateGrpcRoute(route: Obj<IGRPCRoute>, backends: BackendResolver): TranslatedHttpRoute & { routes: GrpcRankedRoute[] } {
  const ns = route.metadata.namespace ?? 'default';
  const objectKey = `${ns}/${route.metadata.name}`;
  const from = { kind: 'GRPCRoute', namespace: ns };
  const out: TranslatedHttpRoute & { routes: GrpcRankedRoute[] } = { routes: [] };
  const rules = route.spec.rules?.length ? route.spec.rules : [{}];
  const dropped: RuleProblem[] = [];
  rules.forEach((rule, ruleIndex) => {
    const problem = ruleProblem(rule, ruleIndex);
    if (problem) {
      dropped.push({ ...problem, ...(rule.name ? { ruleName: rule.name } : {}) });
      return;
    }
    const filters = rule.filters ?? [];
    const resolve: Resolve = (ref) => forGrpc(backends.resolve(from, ref), ref, from);
    const noteProblem = (p: BackendProblem): void => void (out.backendProblem ??= p);
    const weighted = ruleBackends(rule.backendRefs, resolve, noteProblem);
    const mirrors = ruleMirrors(filters, resolve, noteProblem);
    // No backend that can take traffic: UNAVAILABLE, as the spec asks.
    const action: RouteActionIR = weighted.some((b) => b.cluster) ? { kind: 'forward', backends: weighted } : { kind: 'direct', status: GRPC_UNAVAILABLE_HTTP_STATUS };
    const requestHeaders = headerModifier(filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier);
    const responseHeaders = headerModifier(filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier);
    const matches = rule.matches?.length ? rule.matches : [{}];
    matches.forEach((m, matchIndex) => {
      const match = translateMatch(m);
      const ir: HttpRouteIR = {
        name: `grpcroute/${objectKey}/rule/${ruleIndex}/match/${matchIndex}`,
        match,
        action,
        ...(requestHeaders ? { requestHeaders } : {}),
        ...(responseHeaders ? { responseHeaders } : {}),
        ...(mirrors.length && action.kind === 'forward' ? { mirrors } : {}),
      };
      out.routes.push({
        route: ir,
        creationTimestamp: route.metadata.creationTimestamp ?? '',
        objectKey,
        ruleIndex,
        matchIndex,
        grpc: precedenceKey(m, match.headers.length),
      });
    });
  });
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

function precedenceKey(m: Match, headers: number): GrpcRankedRoute['grpc'] {
  const regex = (m.method?.type ?? 'Exact') === 'RegularExpression';
  const service = m.method?.service?.length ?? 0;
  const method = m.method?.method?.length ?? 0;
  return regex
    ? { serviceChars: 0, methodChars: 0, regexServiceChars: service, regexMethodChars: method, headers }
    : { serviceChars: service, methodChars: method, regexServiceChars: 0, regexMethodChars: 0, headers };
}

/**
 * GRPCRoute precedence within one hostname: the most characters in the service match, then in the method
 * match, then the most header matches (the spec's order). The spec counts characters without saying how a
 * RegularExpression (implementation-specific) compares: Exact characters rank above regex ones, so a
 * regex never shadows an exact match; then the oldest route, then "{namespace}/{name}", then rule and
 * match order. HTTPRoutes keep their own order; the two kinds are never merged (HTTPRoutes come first).
 */
function grpcPrecedenceKey(r: GrpcRankedRoute): PrecedenceKey {
  const g = r.grpc;
  return { ranked: r, kind: 1, k1: -g.serviceChars, k2: -g.methodChars, k3: -g.regexServiceChars, k4: -g.regexMethodChars, k5: -g.headers, created: timestampMs(r.creationTimestamp) };
}

/** Routes of either kind in precedence order (a new array). */
export function sortByPrecedence(ranked: readonly RankedRoute[]): RankedRoute[] {
  const keys = ranked.map((r) => ('grpc' in r ? grpcPrecedenceKey(r as GrpcRankedRoute) : httpPrecedenceKey(r)));
  keys.sort(comparePrecedenceKeys);
  return keys.map((k) => k.ranked);
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
  key: string;
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
      const message = `listener ${a.listener.spec.name} already serves ${other.kind} ${other.key} on an intersecting hostname (${other.hostnames.join(', ')}); an older route of the other kind wins`;
      (rejected ??= new Map()).set(a.parent, condition('Accepted', false, 'HostnameConflict', message, generationOf(meta)));
    }
    const refused = rejected;
    const kept = refused ? attachments.filter((a) => !refused.has(a.parent)) : attachments;
    for (const a of kept) {
      const byKind = this.claimed.get(a.listener) ?? new Map<string, KindClaims>();
      this.claimed.set(a.listener, byKind);
      const claims = byKind.get(kind) ?? { byHost: new Map<string, HostnameClaim>(), wildcards: [] };
      byKind.set(kind, claims);
      const claim = { seq: this.seq++, kind, key: `${meta.namespace ?? 'default'}/${meta.name}`, hostnames: a.hostnames };
      for (const h of a.hostnames) {
        if (claims.byHost.has(h)) continue;
        claims.byHost.set(h, claim);
        if (isWildcard(h)) claims.wildcards.push([h, claim]);
      }
    }
    return { kept, ...(rejected ? { rejected } : {}) };
  }
}
