// A local Kubernetes control plane for tests: the real etcd and kube-apiserver (src/devcluster), in network
// namespaces of the test's own, torn down afterwards.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { clusterDown, clusterOptions, clusterUp, type ClusterOptions, type ClusterState } from '../../src/devcluster/cluster.js';
import { podNetnsPrefix } from '../../src/devcluster/node-processes.js';

/** Why the cluster can't run here, or undefined when it can. */
export function devClusterUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)';
  return undefined;
}

export interface TestCluster {
  opts: ClusterOptions;
  state: ClusterState;
  kc: k8s.KubeConfig;
  down(): Promise<void>;
}

/** A cluster with a name and management subnet unique to this process, so parallel runs don't collide. */
export async function startTestCluster(options: { nodes?: number; weft?: boolean } = {}): Promise<TestCluster> {
  const id = process.pid % 250;
  const name = `t${process.pid.toString(36)}`.slice(0, 11);
  const opts = clusterOptions(name, `10.78.${id}.0/24`, join(mkdtempSync(join(tmpdir(), 'weft-cluster-')), 'state'));
  const state = await clusterUp({ ...opts, nodes: options.nodes, weft: options.weft });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return { opts, state, kc, down: () => clusterDown(opts) };
}

/** The network namespace the dev kubelet made for `pod` (src/devcluster/kubelet/kubelet.ts names it so). */
export function podNetnsOf(cluster: TestCluster, pod: k8s.V1Pod): string {
  const node = cluster.state.nodes?.find((n) => n.name === pod.spec?.nodeName);
  if (!node) throw new Error(`pod ${pod.metadata?.name} is on no node of the cluster (${pod.spec?.nodeName})`);
  return `${podNetnsPrefix(node)}${pod.metadata!.uid!.replace(/-/g, '').slice(0, 12)}`;
}
