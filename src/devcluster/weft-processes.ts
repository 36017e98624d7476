// Weft itself on the local cluster (`weft dev cluster up` without --no-weft): the operator in the control-plane
// namespace and, in each node's namespace, one agent with the datapath (it opens the maps the node's weft-cni pins
// in the node's bpffs, and starts the node's Envoy), all detached like the control plane, with their logs in the
// state directory; and the GatewayClass `weft`. `up` returns once every agent's Envoy holds its configuration and the
// operator has accepted the GatewayClass.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../gateway/conditions.js';
import type { ClusterState } from './cluster.js';
import { bpfPinRoot, weftMain } from './node-processes.js';
import { podGateway, type NodeNetwork } from './nodes.js';
import { isRunning, startInNamespace, tailOf, type StartedProcess } from './processes.js';

export const GATEWAY_CLASS = 'weft';
/** What the agent prints once its Envoy ACKed the first configuration. */
const AGENT_READY = 'weft agent: ready';

/** Gateways that ask for an address get one of S.200-S.250 of the cluster subnet (S.199 stays free for static ones). */
export function gatewayAddressPool(subnet: string): string {
  const prefix = subnet.split('.').slice(0, 3).join('.');
  return `${prefix}.200-${prefix}.250`;
}

/**
 * `--mutual-auth`: the operator keeps the mesh CA in kube-system (its Lease's namespace) and publishes the bundle
 * there; the agents (ServiceAccount kube-system/weft-agent, agent-credentials.ts) read the bundle and ask the operator
 * to sign their intermediates.
 */
export const MESH_CA_NAMESPACE = 'kube-system';
/** Where the operator copies the TLS Secrets the agents read (they may list no other Secrets). */
export const TLS_SECRETS_NAMESPACE = 'weft-secrets';
const MUTUAL_AUTH_ARGS = ['--mutual-auth', '--ca-namespace', MESH_CA_NAMESPACE, '--tls-secrets-namespace', TLS_SECRETS_NAMESPACE];

export function startOperator(state: ClusterState, logDir: string, mutualAuth = false): StartedProcess {
  // Inside the control-plane namespace, over the API server's loopback like the other control-plane components.
  return startInNamespace(state.controlPlaneNamespace, 'weft-operator', process.execPath, [
    weftMain(), 'operator', '--kubeconfig', join(state.stateDir, 'kubeconfig.internal'), '--gateway-address-pool', gatewayAddressPool(state.subnet),
    ...(mutualAuth ? MUTUAL_AUTH_ARGS : []),
  ], join(logDir, 'weft-operator.log'));
}

/** The agent's flags for the node's datapath (the maps its weft-cni pins; tests starting agents of their own use them too). */
export function agentDatapathArgs(state: Pick<ClusterState, 'stateDir'>, node: NodeNetwork): string[] {
  // The node's own addresses (the `host` identity, always let into local pods): its address, and the pod CIDR's
  // gateway, which weft-cni puts on the node's loopback with the first pod (the source of the kubelet's probes and
  // of Envoy's connections to local pods); the agent's default would miss it.
  const nodeIps = [node.address, podGateway(node)];
  return ['--datapath', '--bpf-pin-root', bpfPinRoot(state, node), '--node-ip', nodeIps.join(',')];
}

/** `kubeconfig`: the agent's own credentials (agent-credentials.ts) with --mutual-auth, else the admin's. */
export function startAgent(state: ClusterState, node: NodeNetwork, logDir: string, mutualAuth = false, kubeconfig = state.kubeconfig): StartedProcess {
  return startInNamespace(node.netns, `weft-agent-${node.name}`, process.execPath, [
    weftMain(), 'agent', '--kubeconfig', kubeconfig, '--node', node.name, '--announce-interface', 'eth0',
    ...agentDatapathArgs(state, node), ...(mutualAuth ? MUTUAL_AUTH_ARGS : []),
  ], join(logDir, `weft-agent-${node.name}.log`));
}

/** Creates the GatewayClass `weft` (kept if it exists). */
export async function applyGatewayClass(kc: k8s.KubeConfig): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  try {
    await objects.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: GATEWAY_CLASS }, spec: { controllerName: CONTROLLER_NAME } } as k8s.KubernetesObject);
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw new Error(`creating GatewayClass ${GATEWAY_CLASS}: ${(err as Error).message}`, { cause: err });
  }
}

/** Waits for every agent's ready line and the GatewayClass's Accepted=True, failing early when a Weft process exits. */
export async function waitForWeft(kc: k8s.KubeConfig, agents: StartedProcess[], operator: StartedProcess, timeoutMs: number): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const accepted = async () => {
    const gc = await objects.read({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: GATEWAY_CLASS } }).catch(() => undefined);
    return ((gc as { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined)?.status?.conditions ?? [])
      .some((c) => c.type === 'Accepted' && c.status === 'True');
  };
  const ready = async (p: StartedProcess) => (await readFile(p.log, 'utf8').catch(() => '')).includes(AGENT_READY);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting: string[] = [];
    for (const p of agents) if (!(await ready(p))) waiting.push(p.name);
    if (!(await accepted())) waiting.push(`GatewayClass ${GATEWAY_CLASS} Accepted (${operator.name})`);
    if (!waiting.length) return;
    for (const p of [operator, ...agents]) {
      if (!(await isRunning(p))) throw new Error(`${p.name} exited:\n${await tailOf(p.log)}`);
    }
    if (Date.now() > deadline) throw new Error(`Weft not ready after ${timeoutMs / 1000}s, waiting for ${waiting.join(', ')} (logs in ${join(operator.log, '..')})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
