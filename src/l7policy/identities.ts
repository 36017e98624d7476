// Endpoints (standalone Pod manifests) and their security identities. An identity is a label set: the
// pod's labels plus its namespace's (Cilium's `k8s:io.kubernetes.pod.namespace`,
// `k8s:io.cilium.k8s.namespace.labels.*`, service account, cluster). Pods with equal label sets share one
// identity; addresses only say which identity a connection comes from, never what it may do.
import net from 'node:net';
import { CLUSTER_LABEL, NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, SERVICE_ACCOUNT_LABEL, type LabelSet } from './labels.js';
import type { Source } from '../sources/manifests.js';

export const RESERVED_HOST = 1;
export const RESERVED_WORLD = 2;
export const CLUSTER_NAME = 'default';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface Endpoint {
  /** ns/name */
  name: string;
  namespace: string;
  /** spec.serviceAccountName (`default` when absent): with the namespace, the pod's SPIFFE ID. */
  serviceAccount: string;
  identity: number;
  ips: string[];
  ports: ContainerPort[];
  /** Standalone only: where the application behind each L7-enforced port really listens. */
  backends: Map<number, { address: string; port: number }>;
  source: Source;
}

export interface Identity {
  id: number;
  labels: LabelSet;
  /** `k8s:app=web;k8s:io.kubernetes.pod.namespace=default`: the label set as a stable string. */
  key: string;
}

export interface IdentityTable {
  identities: Map<number, Identity>;
  endpoints: Endpoint[];
  /** IP → identity, for every endpoint IP (and the host's). */
  byIp: Map<string, number>;
  hostIps: string[];
}

export function labelSetKey(labels: LabelSet): string {
  return [...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(';');
}

/** FNV-1a: identities numbered from their labels, so they stay put across reloads and in other processes. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Cluster-local identities live in 256..65535, as Cilium's do. */
function allocate(keys: string[]): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const key of [...keys].sort()) {
    let id = 256 + (fnv1a(key) % (65536 - 256));
    while (used.has(id)) id = id === 65535 ? 256 : id + 1;
    used.add(id);
    out.set(key, id);
  }
  return out;
}

export interface PodInput {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  ips: string[];
  ports: ContainerPort[];
  backends: Map<number, { address: string; port: number }>;
  source: Source;
}

export function podLabels(pod: PodInput, namespaceLabels: Record<string, string>): Map<string, string> {
  const labels = new Map<string, string>();
  for (const [k, v] of Object.entries(pod.labels)) labels.set(`k8s:${k}`, v);
  labels.set(`k8s:${NAMESPACE_LABEL}`, pod.namespace);
  for (const [k, v] of Object.entries({ 'kubernetes.io/metadata.name': pod.namespace, ...namespaceLabels })) labels.set(`k8s:${NAMESPACE_LABELS_PREFIX}${k}`, v);
  labels.set(`k8s:${SERVICE_ACCOUNT_LABEL}`, pod.serviceAccount ?? 'default');
  labels.set(`k8s:${CLUSTER_LABEL}`, CLUSTER_NAME);
  return labels;
}

export function buildIdentityTable(pods: PodInput[], namespaces: Map<string, Record<string, string>>, hostIps: string[]): IdentityTable {
  const labelled = pods.map((p) => ({ pod: p, labels: podLabels(p, namespaces.get(p.namespace) ?? {}) }));
  const keys = [...new Set(labelled.map((l) => labelSetKey(l.labels)))];
  const ids = allocate(keys);
  const identities = new Map<number, Identity>();
  identities.set(RESERVED_HOST, { id: RESERVED_HOST, labels: new Map([['reserved:host', '']]), key: 'reserved:host=' });
  identities.set(RESERVED_WORLD, { id: RESERVED_WORLD, labels: new Map([['reserved:world', '']]), key: 'reserved:world=' });
  const endpoints: Endpoint[] = [];
  const byIp = new Map<string, number>();
  for (const ip of hostIps) byIp.set(ip, RESERVED_HOST);
  for (const { pod, labels } of labelled) {
    const key = labelSetKey(labels);
    const id = ids.get(key)!;
    identities.set(id, { id, labels, key });
    for (const ip of pod.ips) if (net.isIP(ip)) byIp.set(ip, id);
    endpoints.push({ name: `${pod.namespace}/${pod.name}`, namespace: pod.namespace, serviceAccount: pod.serviceAccount ?? 'default', identity: id, ips: pod.ips, ports: pod.ports, backends: pod.backends, source: pod.source });
  }
  return { identities, endpoints, byIp, hostIps };
}
