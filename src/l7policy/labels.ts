// Cilium label keys and selectors. A key may carry a source (`k8s:app`, `reserved:host`); without one it
// matches a label of that key from any source, as Cilium's selectors do.
import type { LabelKey, Requirement, Selector } from './types.js';

const SOURCES = new Set(['k8s', 'any', 'reserved', 'cidr', 'container', 'unspec', 'fqdn', 'cilium-generated']);

export const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';
export const SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount';
export const CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';
/** A CIDR identity's label (`cidr:10.0.0.0/8`): Cilium's name for the world addresses a policy CIDR selects. */
export const CIDR_LABEL_PREFIX = 'cidr:';

export function parseLabelKey(raw: string): LabelKey {
  const i = raw.indexOf(':');
  if (i > 0 && SOURCES.has(raw.slice(0, i))) return { source: raw.slice(0, i), key: raw.slice(i + 1) };
  return { source: 'any', key: raw };
}

export function formatLabelKey(k: LabelKey): string {
  return `${k.source}:${k.key}`;
}

/** An identity's labels: `source:key` → value. */
export type LabelSet = ReadonlyMap<string, string>;

function valuesOf(labels: LabelSet, key: LabelKey): string[] {
  if (key.source !== 'any') {
    const v = labels.get(formatLabelKey(key));
    return v === undefined ? [] : [v];
  }
  const out: string[] = [];
  for (const [k, v] of labels) if (k.slice(k.indexOf(':') + 1) === key.key) out.push(v);
  return out;
}

function holds(labels: LabelSet, r: Requirement): boolean {
  const values = valuesOf(labels, r.key);
  switch (r.operator) {
    case 'In':
      return values.some((v) => r.values.includes(v));
    case 'NotIn':
      return !values.some((v) => r.values.includes(v));
    case 'Exists':
      return values.length > 0;
    case 'DoesNotExist':
      return values.length === 0;
  }
}

export function selects(selector: Selector, labels: LabelSet): boolean {
  return selector.requirements.every((r) => holds(labels, r));
}

export function mentionsKey(selector: Selector, key: string): boolean {
  return selector.requirements.some((r) => r.key.key === key && (r.key.source === 'k8s' || r.key.source === 'any'));
}

export function mentionsSource(selector: Selector, source: string): boolean {
  return selector.requirements.some((r) => r.key.source === source);
}

const NAMESPACE_EXISTS: Requirement = { key: { source: 'k8s', key: NAMESPACE_LABEL }, operator: 'Exists', values: [] };

function mentionsKeyPrefix(selector: Selector, prefix: string): boolean {
  return selector.requirements.some((r) => r.key.key.startsWith(prefix) && (r.key.source === 'k8s' || r.key.source === 'any'));
}

/**
 * A peer selector as Cilium scopes it: reserved selectors stay as they are; one naming the pod namespace
 * stays; otherwise a clusterwide policy's selector only selects pods (of any namespace), and a namespaced
 * policy's selector only pods of its own namespace, unless it selects on namespace labels.
 */
export function scopePeerSelector(selector: Selector, namespace: string | undefined): Selector {
  if (mentionsSource(selector, 'reserved') || mentionsKey(selector, NAMESPACE_LABEL)) return selector;
  if (namespace === undefined) return { requirements: [...selector.requirements, NAMESPACE_EXISTS] };
  if (mentionsKeyPrefix(selector, NAMESPACE_LABELS_PREFIX)) return selector;
  return inNamespace(selector, namespace);
}

/** The selector narrowed to one namespace (a namespaced policy's endpointSelector always is). */
export function inNamespace(selector: Selector, namespace: string): Selector {
  return { requirements: [...selector.requirements, { key: { source: 'k8s', key: NAMESPACE_LABEL }, operator: 'In', values: [namespace] }] };
}
