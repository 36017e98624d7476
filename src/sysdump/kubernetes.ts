// `weft sysdump --kubeconfig`: what the API server holds that concerns Weft: the kinds Weft translates (TLS
// Secrets only, redacted like the rest), policies and Ingresses, Weft's own pods (label
// app.kubernetes.io/name=weft) with their logs and their health endpoints' /readyz and /metrics through
// the API server's pod proxy, the leader Lease, nodes and the events of Weft's namespaces.
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { TRANSLATED_KINDS } from '../kubernetes/watched-kinds.js';

export interface CollectedFile {
  name: string;
  /** yaml and json are redacted as data, text line by line. */
  format: 'yaml' | 'json' | 'text';
  content: string;
}

export const WEFT_POD_SELECTOR = 'app.kubernetes.io/name=weft';

const EXTRA_KINDS: Array<{ apiVersion: string; kind: string; fieldSelector?: string }> = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy' },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', fieldSelector: 'metadata.name=weft-operator' },
  { apiVersion: 'v1', kind: 'Node' },
];

export interface WeftPod {
  namespace: string;
  name: string;
  containers: string[];
  /** The container port named `health` (the chart's --health-port), if any. */
  healthPort: number | undefined;
  ready: boolean;
  phase: string;
}

export function weftPods(list: k8s.V1PodList): WeftPod[] {
  return list.items.map((p) => {
    const containers = p.spec?.containers ?? [];
    const port = containers.flatMap((c) => c.ports ?? []).find((x) => x.name === 'health')?.containerPort;
    return {
      namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', containers: containers.map((c) => c.name), healthPort: port,
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), phase: p.status?.phase ?? '',
    };
  });
}

/** GET a pod's health endpoint through the API server (pods/proxy). */
export async function podProxyGet(core: k8s.CoreV1Api, pod: WeftPod, path: string): Promise<string> {
  if (!pod.healthPort) throw new Error(`pod ${pod.namespace}/${pod.name}: no container port named health`);
  return String(await core.connectGetNamespacedPodProxyWithPath({ namespace: pod.namespace, name: `${pod.name}:${pod.healthPort}`, path: path.replace(/^\//, '') }));
}

export async function collectKubernetes(kc: k8s.KubeConfig, errors: string[]): Promise<CollectedFile[]> {
  const files: CollectedFile[] = [];
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${errorText(err)}`);
    }
  };
  for (const k of [...TRANSLATED_KINDS.map((w) => ({ apiVersion: w.apiVersion, kind: w.kind, fieldSelector: w.fieldSelector })), ...EXTRA_KINDS]) {
    await attempt(`list ${k.kind}`, async () => {
      const list = await objects.list(k.apiVersion, k.kind, undefined, undefined, undefined, undefined, k.fieldSelector);
      const items = list.items.map((o) => ({ apiVersion: k.apiVersion, kind: k.kind, ...o }));
      files.push({ name: `kubernetes/objects/${k.kind}.yaml`, format: 'yaml', content: items.map((o) => stringify(o, { lineWidth: 0 })).join('---\n') });
    });
  }
  let pods: WeftPod[] = [];
  await attempt('list Weft pods', async () => {
    const list = await core.listPodForAllNamespaces({ labelSelector: WEFT_POD_SELECTOR });
    pods = weftPods(list);
    files.push({ name: 'kubernetes/weft-pods.yaml', format: 'yaml', content: list.items.map((p) => stringify({ apiVersion: 'v1', kind: 'Pod', ...p }, { lineWidth: 0 })).join('---\n') });
  });
  for (const pod of pods) {
    for (const container of pod.containers) {
      await attempt(`logs of ${pod.namespace}/${pod.name}/${container}`, async () => {
        const log = await core.readNamespacedPodLog({ namespace: pod.namespace, name: pod.name, container, tailLines: 10_000 });
        files.push({ name: `kubernetes/logs/${pod.namespace}_${pod.name}_${container}.log`, format: 'text', content: String(log) });
      });
    }
    if (pod.healthPort) {
      for (const [path, file] of [['/readyz', 'readyz.txt'], ['/metrics', 'metrics.txt']] as const) {
        await attempt(`${pod.namespace}/${pod.name} ${path}`, async () => {
          files.push({ name: `kubernetes/health/${pod.namespace}_${pod.name}_${file}`, format: 'text', content: await podProxyGet(core, pod, path) });
        });
      }
    }
  }
  for (const ns of new Set(pods.map((p) => p.namespace))) {
    await attempt(`events of ${ns}`, async () => {
      const events = await core.listNamespacedEvent({ namespace: ns });
      files.push({ name: `kubernetes/events/${ns}.yaml`, format: 'yaml', content: stringify(events.items, { lineWidth: 0 }) });
    });
  }
  return files;
}

export function errorText(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  return e.code ? `HTTP ${e.code}${typeof e.body === 'string' ? `: ${e.body.slice(0, 200)}` : ''}` : (e.message ?? String(err));
}
