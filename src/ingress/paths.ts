// Ingress paths → IR matches, and the precedence of paths on one host.
//
// Exact and Prefix follow the Ingress spec: Prefix matches whole path elements, a trailing slash on
// either side does not matter. ImplementationSpecific is a regular expression (RE2, matched against the
// whole path without the query), as in Cilium; an empty ImplementationSpecific path matches every path.
// Precedence (spec: the longest matching path first, then Exact over Prefix): Exact paths first (an
// Exact path that matches is the request path itself, so nothing that matches is longer), then regular
// expressions, then Prefix paths by length without the trailing slash, longest first; so "/" comes last.
import type { HttpRouteIR, HttpRouteMatchIR } from '../ir/model.js';
import { regexProblem } from '../gateway/httproute.js';
import { compareTimestamps } from '../gateway/httproute.js';

export type IngressPathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

/** The IR match for one Ingress path, or the reason it cannot be served. */
export function pathMatch(pathType: IngressPathType, path: string | undefined): { match: HttpRouteMatchIR['path'] } | { problem: string } {
  const value = path ?? '';
  if (pathType === 'Exact') return { match: { type: 'Exact', value } };
  if (pathType === 'Prefix') return { match: { type: 'PathPrefix', value } };
  if (value === '') return { match: { type: 'PathPrefix', value: '/' } };
  const problem = regexProblem(value);
  if (problem) return { problem: `ImplementationSpecific paths are regular expressions in Weft: ${problem}` };
  return { match: { type: 'RegularExpression', value } };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `*.foo.com` in an Ingress covers exactly one DNS label (bar.foo.com, not baz.bar.foo.com nor foo.com);
 * Envoy's `*.foo.com` domain covers any number. Routes of a wildcard host carry this `:authority` match
 * so that Envoy serves only the one-label names from them; the others fall through to less specific
 * hosts (rules without host, then the defaultBackend).
 */
export function wildcardAuthorityMatch(host: string): HttpRouteMatchIR['headers'][number] {
  return { name: ':authority', type: 'RegularExpression', value: `(?i)[^.:]+${escapeRegex(host.slice(1))}(:[0-9]+)?` };
}

/** A route with what decides its precedence among the routes of one host. */
export interface RankedIngressRoute {
  route: HttpRouteIR;
  /** The defaultBackend's catch-all: after every path of every Ingress on the host. */
  isDefault: boolean;
  creationTimestamp: string;
  /** namespace/name of the Ingress. */
  objectKey: string;
  ruleIndex: number;
  pathIndex: number;
  /** Where the path is written, for problems: spec.rules[i].http.paths[j]. */
  field: string;
}

const TYPE_RANK = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

/** The length the spec's "longest matching path" compares; a Prefix's trailing slash does not count. */
function matchLength(p: HttpRouteMatchIR['path']): number {
  return p.type === 'PathPrefix' ? p.value.replace(/\/+$/, '').length : p.value.length;
}

/** The same match, whatever its spelling: Prefix /foo and /foo/ match the same requests. */
export function matchKey(p: HttpRouteMatchIR['path']): string {
  return `${p.type} ${p.type === 'PathPrefix' ? p.value.replace(/\/+$/, '') || '/' : p.value}`;
}

/** Precedence among routes of one host: the first in this order that matches serves the request. */
export function compareIngressRoutes(a: RankedIngressRoute, b: RankedIngressRoute): number {
  const am = a.route.match.path;
  const bm = b.route.match.path;
  return (
    Number(a.isDefault) - Number(b.isDefault) ||
    TYPE_RANK[am.type] - TYPE_RANK[bm.type] ||
    matchLength(bm) - matchLength(am) ||
    compareTimestamps(a.creationTimestamp, b.creationTimestamp) ||
    (a.objectKey < b.objectKey ? -1 : a.objectKey > b.objectKey ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    a.pathIndex - b.pathIndex
  );
}
