// The flow agent's directory in Kubernetes mode: Pods (of every node: a flow's other end may be anywhere),
// Services and Namespaces from the API server, kept current by informers. Identities are numbered from
// label sets exactly as in standalone mode (src/l7policy/identities.ts); the identity the datapath reports
// still wins for a flow's end (see WorkloadDirectory.endpoint).
import type * as k8s from '@kubernetes/client-node';
import { buildIdentityTable, type PodInput } from '../l7policy/identities.js';
import type { Logger } from '../log/logger.js';
import { startKindInformer, type KindInformer, type KubeObject } from '../kubernetes/informers.js';
import type { WatchedKind } from '../kubernetes/watched-kinds.js';
import { API_SERVER_SOURCE } from '../kubernetes/source.js';
import { directoryFromIdentities, serviceRecords } from './directory-sources.js';
import type { WorkloadDirectory } from './directory.js';

const KINDS: Record<'pods' | 'services' | 'namespaces', WatchedKind> = {
  pods: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  services: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  namespaces: { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
};

interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { serviceAccountName?: string; hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: Array<{ ip?: string }> };
}

/** A Pod object → the identity table's input; host-network pods and pods without an address are left out. */
export function podInput(obj: KubeObject): PodInput | undefined {
  const p = obj as PodLike;
  const ips = [...new Set([...(p.status?.podIPs ?? []).map((i) => i.ip ?? ''), p.status?.podIP ?? ''])].filter(Boolean);
  if (ips.length === 0 || p.spec?.hostNetwork) return undefined;
  const namespace = p.metadata?.namespace ?? 'default';
  const name = p.metadata?.name ?? '';
  return { namespace, name, labels: p.metadata?.labels ?? {}, ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}), ips, ports: [], backends: new Map(), source: { file: API_SERVER_SOURCE, line: 0 } };
}

export class KubernetesDirectory {
  private readonly informers: Record<keyof typeof KINDS, KindInformer>;

  constructor(kc: k8s.KubeConfig, private readonly node: string, log: Logger, private readonly onDirectory: (d: WorkloadDirectory) => void, hostIps: string[] = []) {
    const rebuild = (): void => this.rebuild(hostIps);
    this.informers = {
      pods: startKindInformer(kc, KINDS.pods, rebuild, log),
      services: startKindInformer(kc, KINDS.services, rebuild, log),
      namespaces: startKindInformer(kc, KINDS.namespaces, rebuild, log),
    };
  }

  private rebuild(hostIps: string[]): void {
    const pods = this.informers.pods.list().map(podInput).filter((p): p is PodInput => p !== undefined);
    const namespaces = new Map(this.informers.namespaces.list().map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
    const table = buildIdentityTable(pods, namespaces, hostIps);
    this.onDirectory(directoryFromIdentities(this.node, table, serviceRecords(this.informers.services.list())));
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
  }
}
