// Where the agent's workload directory comes from: a translation (standalone manifests or the Kubernetes
// source both produce one; its L7 identity table holds every pod, its address and identity) and the
// Services of the same inputs.
import type { IdentityTable } from '../l7policy/identities.js';
import { NAMESPACE_LABEL } from '../l7policy/labels.js';
import { WorkloadDirectory, type ServiceRecord, type WorkloadRecord } from './directory.js';

/** Cilium's k8s: labels a pod carries on its own (not those Cilium derives from the namespace etc.). */
function podLabels(labels: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of labels) {
    if (!k.startsWith('k8s:')) continue;
    const key = k.slice(4);
    if (key === NAMESPACE_LABEL || key.startsWith('io.cilium.k8s.')) continue;
    out[key] = v;
  }
  return out;
}

export function directoryFromIdentities(node: string, table: IdentityTable, services: ServiceRecord[] = []): WorkloadDirectory {
  const workloads: WorkloadRecord[] = table.endpoints.map((e) => {
    const slash = e.name.indexOf('/');
    return { namespace: e.namespace, pod: e.name.slice(slash + 1), labels: podLabels(table.identities.get(e.identity)?.labels ?? new Map()), identity: e.identity, ips: e.ips };
  });
  const identityLabels = new Map([...table.identities.values()].map((i) => [i.id, [...i.labels].map(([k, v]) => (v ? `${k.replace(/^k8s:/, '')}=${v}` : k)).sort()]));
  return new WorkloadDirectory(node, workloads, services, identityLabels);
}

interface ServiceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; clusterIPs?: string[]; selector?: Record<string, string> };
}

/** Services (v1 objects) → records: cluster IPs and selector. */
export function serviceRecords(services: readonly ServiceLike[]): ServiceRecord[] {
  return services.map((s) => ({
    namespace: s.metadata?.namespace ?? 'default',
    name: s.metadata?.name ?? '',
    ips: [...new Set([...(s.spec?.clusterIPs ?? []), ...(s.spec?.clusterIP ? [s.spec.clusterIP] : [])])].filter((ip) => ip && ip !== 'None'),
    selector: s.spec?.selector ?? {},
  }));
}
