// Nodes of the local cluster: a network namespace each, joined to the cluster bridge (management subnet S, node i
// at S.(10+i)), where the node's agent and Envoy run. Like the control plane, a node has no route out.
import { createNamespace, createVeth, deleteNamespace, ipIn } from './netns.js';
import type { ClusterState } from './cluster.js';

export interface NodeNetwork {
  name: string;
  netns: string;
  address: string;
  /** Pods of this node take addresses from 10.244.<index>.0/24. */
  podCidr: string;
}

export function nodeNetwork(state: ClusterState, index: number): NodeNetwork {
  if (!Number.isInteger(index) || index < 1 || index > 200) throw new Error(`node index ${index} must be 1-200`);
  const prefix = state.subnet.split('.').slice(0, 3).join('.');
  return { name: `node-${index}`, netns: `weft-${state.name}-n${index}`, address: `${prefix}.${10 + index}`, podCidr: `10.244.${index}.0/24` };
}

/** The first address of the node's pod CIDR: weft-cni's gateway for its pods, held by the node. */
export function podGateway(node: NodeNetwork): string {
  return node.podCidr.replace(/\.0\/24$/, '.1');
}

export async function createNodeNetwork(state: ClusterState, index: number): Promise<NodeNetwork> {
  const node = nodeNetwork(state, index);
  await createNamespace(node.netns);
  await createVeth({ netns: node.netns, name: 'eth0', address: `${node.address}/24` }, { netns: state.bridgeNamespace, name: `n${index}` });
  await ipIn(state.bridgeNamespace, 'link', 'set', `n${index}`, 'master', 'br0');
  return node;
}

export async function deleteNodeNetwork(state: ClusterState, index: number): Promise<void> {
  await deleteNamespace(nodeNetwork(state, index).netns);
}
