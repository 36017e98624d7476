// A pod's API credentials, as the kubelet projects them: a token of the pod's ServiceAccount (TokenRequest, bound to
// the pod) for in-cluster clients. Containers here are host processes: they do get the projected token volume
// (volumes.ts), while in-cluster configuration would also need the API server through the `kubernetes` Service's
// ClusterIP; a kubeconfig in the pod's state directory that $KUBECONFIG names carries the token with the API
// server's real address, so clients act with exactly the pod's RBAC, as in a real cluster.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

const TOKEN_SECONDS = 24 * 3600;

/** Writes the pod's kubeconfig and returns its path; undefined when the pod opts out of a token. */
export async function writePodKubeconfig(kc: k8s.KubeConfig, pod: k8s.V1Pod, dir: string): Promise<string | undefined> {
  if (pod.spec?.automountServiceAccountToken === false) return undefined;
  const namespace = pod.metadata!.namespace!;
  const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    name: serviceAccount, namespace,
    body: { spec: { audiences: [], expirationSeconds: TOKEN_SECONDS, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! } } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubelet\'s kubeconfig has no current cluster');
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'pod',
    clusters: [{ name: 'cluster', cluster: { server: cluster.server, ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}),
      ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}) } }],
    users: [{ name: 'pod', user: { token: request.status!.token } }],
    contexts: [{ name: 'pod', context: { cluster: 'cluster', user: 'pod', namespace } }],
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${pod.metadata!.uid!}.kubeconfig`);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}
