// Flow filters (weft.observe.v1.FlowFilter): every set field must hold, a list matches any of its values.
import type { Flow, FlowEndpoint } from './flow.js';

export interface FlowFilter {
  pod?: string[];
  namespace?: string[];
  label?: string[];
  identity?: number[];
  verdict?: string[];
  drop_reason?: string[];
  protocol?: string[];
  http_method?: string[];
  http_path?: string[];
  http_status?: number[];
  node?: string[];
  type?: string[];
  since_ms?: number;
  until_ms?: number;
  source_pod?: string[];
  destination_pod?: string[];
}

const set = <T>(l: T[] | undefined): l is T[] => l !== undefined && l.length > 0;
const upper = (l: string[]): string[] => l.map((s) => s.toUpperCase());

/** "name" matches a pod of that name in any namespace; "ns/name" only that one. */
function podIs(e: FlowEndpoint, wanted: string): boolean {
  if (!e.pod) return false;
  const slash = wanted.indexOf('/');
  return slash < 0 ? e.pod === wanted : e.namespace === wanted.slice(0, slash) && e.pod === wanted.slice(slash + 1);
}

/** "key=value" matches that label; "key" any value of it. */
function hasLabel(e: FlowEndpoint, wanted: string): boolean {
  return wanted.includes('=') ? e.labels.includes(wanted) : e.labels.some((l) => l === wanted || l.startsWith(`${wanted}=`));
}

const either = (f: Flow, p: (e: FlowEndpoint) => boolean): boolean => p(f.source) || p(f.destination);

/** Compiles a filter into a predicate (list values normalised once, not per flow). */
export function compileFilter(filter: FlowFilter | null | undefined): (f: Flow) => boolean {
  const checks: Array<(f: Flow) => boolean> = [];
  if (!filter) return () => true;
  const { pod, namespace, label, identity, verdict, drop_reason, protocol, http_method, http_path, http_status, node, type, since_ms, until_ms, source_pod, destination_pod } = filter;
  if (set(pod)) checks.push((f) => pod.some((p) => either(f, (e) => podIs(e, p))));
  if (set(source_pod)) checks.push((f) => source_pod.some((p) => podIs(f.source, p)));
  if (set(destination_pod)) checks.push((f) => destination_pod.some((p) => podIs(f.destination, p)));
  if (set(namespace)) checks.push((f) => namespace.some((n) => either(f, (e) => e.namespace === n)));
  if (set(label)) checks.push((f) => label.some((l) => either(f, (e) => hasLabel(e, l))));
  if (set(identity)) checks.push((f) => identity.some((i) => f.source.identity === i || f.destination.identity === i));
  if (set(verdict)) {
    const v = upper(verdict);
    checks.push((f) => v.includes(f.verdict));
  }
  if (set(drop_reason)) {
    const r = upper(drop_reason);
    checks.push((f) => r.includes(f.drop_reason));
  }
  if (set(protocol)) {
    const p = upper(protocol);
    checks.push((f) => p.includes(f.protocol.toUpperCase()));
  }
  if (set(http_method)) {
    const m = upper(http_method);
    checks.push((f) => f.http !== null && m.includes(f.http.method.toUpperCase()));
  }
  if (set(http_path)) checks.push((f) => f.http !== null && http_path.some((p) => f.http!.path.startsWith(p)));
  if (set(http_status)) checks.push((f) => f.http !== null && http_status.includes(f.http.status));
  if (set(node)) checks.push((f) => node.includes(f.node));
  if (set(type)) {
    const t = upper(type);
    checks.push((f) => t.includes(f.type));
  }
  if (since_ms) checks.push((f) => f.time_ms >= since_ms);
  if (until_ms) checks.push((f) => f.time_ms <= until_ms);
  return (f) => checks.every((c) => c(f));
}
