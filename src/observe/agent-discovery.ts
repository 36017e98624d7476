// The relay's agents from the API server (`weft relay --kubernetes`): either the agent pods (the Helm chart's
// DaemonSet, by label selector; they run with hostNetwork, so a pod's address is its node's) or, without a
// selector, every Node's InternalIP. Each with the agents' flow port; followed as pods and nodes come and go.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { startKindInformer, type KindInformer, type KubeObject } from '../kubernetes/informers.js';
import type { WatchedKind } from '../kubernetes/watched-kinds.js';

export interface DiscoveredAgent {
  address: string;
  /** The node's name. */
  name: string;
}

interface NodeLike {
  metadata?: { name?: string };
  status?: { addresses?: Array<{ type?: string; address?: string }> };
}

interface PodLike {
  metadata?: { name?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { podIP?: string; phase?: string };
}

const byAddress = (a: DiscoveredAgent, b: DiscoveredAgent): number => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

/** host:port, bracketing IPv6 addresses. */
export function agentAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Nodes → one agent per node with an InternalIP (the first one, as the kubelet lists its preferred first). */
export function agentsFromNodes(nodes: readonly KubeObject[], port: number): DiscoveredAgent[] {
  return nodes.flatMap((obj) => {
    const n = obj as NodeLike;
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP' && a.address)?.address;
    return ip ? [{ address: agentAddress(ip, port), name: n.metadata?.name ?? '' }] : [];
  }).sort(byAddress);
}

/** Agent pods → agents: pods with an address that are not finished or being deleted. */
export function agentsFromPods(pods: readonly KubeObject[], port: number): DiscoveredAgent[] {
  const out = new Map<string, DiscoveredAgent>();
  for (const obj of pods) {
    const p = obj as PodLike;
    if (!p.status?.podIP || p.metadata?.deletionTimestamp || p.status.phase === 'Succeeded' || p.status.phase === 'Failed') continue;
    const address = agentAddress(p.status.podIP, port);
    out.set(address, { address, name: p.spec?.nodeName ?? p.metadata?.name ?? '' });
  }
  return [...out.values()].sort(byAddress);
}

export interface AgentDiscoveryOptions {
  /** The agents' flow port. */
  port: number;
  /** Label selector of the agent pods (e.g. app.kubernetes.io/component=agent); none: every Node. */
  podSelector?: string;
  /** The agent pods' namespace; every namespace when omitted. */
  podNamespace?: string;
}

export class AgentDiscovery {
  private readonly informer: KindInformer;
  private last = '';

  constructor(kc: k8s.KubeConfig, private readonly opts: AgentDiscoveryOptions, log: Logger, private readonly onAgents: (agents: DiscoveredAgent[]) => void) {
    const kind: WatchedKind = opts.podSelector
      ? { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, labelSelector: opts.podSelector, ...(opts.podNamespace ? { namespace: opts.podNamespace } : {}) }
      : { apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false };
    this.informer = startKindInformer(kc, kind, () => this.changed(), log);
  }

  agents(): DiscoveredAgent[] {
    const objects = this.informer.list();
    return this.opts.podSelector ? agentsFromPods(objects, this.opts.port) : agentsFromNodes(objects, this.opts.port);
  }

  private changed(): void {
    if (!this.informer.synced()) return;
    const agents = this.agents();
    // Pod and Node status updates (heartbeats, conditions) are frequent: report only changes of the set.
    const key = JSON.stringify(agents);
    if (key === this.last) return;
    this.last = key;
    this.onAgents(agents);
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}
