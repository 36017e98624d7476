// The Node object and its heartbeats: registered with its address, pod CIDR and capacity, its Ready condition
// kept current and its Lease in kube-node-lease renewed, so the node-lifecycle controller never taints it.
import { cpus, release, totalmem } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { KUBELET_API_PORT, type KubeletOptions } from './options.js';

export const LEASE_DURATION_SECONDS = 40;
const MAX_PODS = '110';

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}

function nodeConditions(now: Date, previous: k8s.V1NodeCondition[] | undefined): k8s.V1NodeCondition[] {
  const wanted: Array<[string, string, string, string]> = [
    ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
    ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
    ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
    ['Ready', 'True', 'KubeletReady', 'Weft dev kubelet is posting ready status'],
  ];
  return wanted.map(([type, status, reason, message]) => {
    const prev = previous?.find((c) => c.type === type);
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : now };
  });
}

export function nodeStatus(o: KubeletOptions, now: Date, previous?: k8s.V1NodeStatus): k8s.V1NodeStatus {
  const resources = { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: MAX_PODS };
  return {
    addresses: [{ type: 'InternalIP', address: o.nodeAddress }, { type: 'Hostname', address: o.nodeName }],
    capacity: resources,
    allocatable: resources,
    conditions: nodeConditions(now, previous?.conditions),
    // kube-apiserver reaches the kubelet API (pods/log) at the InternalIP and this port.
    daemonEndpoints: { kubeletEndpoint: { Port: o.tls ? (o.apiPort ?? KUBELET_API_PORT) : 0 } },
    nodeInfo: {
      machineID: '', systemUUID: '', bootID: '', kernelVersion: release(), osImage: 'Weft dev cluster node',
      containerRuntimeVersion: 'weft-processes://1', kubeletVersion: 'v1.36.0-weft', kubeProxyVersion: '',
      operatingSystem: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

export class NodeHeartbeat {
  private readonly core: k8s.CoreV1Api;
  private readonly coordination: k8s.CoordinationV1Api;

  constructor(kc: k8s.KubeConfig, private readonly o: KubeletOptions) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  }

  /** Creates the Node (or takes over an existing one of that name) and posts its status. */
  async register(): Promise<void> {
    const o = this.o;
    try {
      await this.core.readNode({ name: o.nodeName });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.core.createNode({
        body: {
          metadata: { name: o.nodeName, labels: { 'kubernetes.io/hostname': o.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': nodeStatus(o, new Date()).nodeInfo!.architecture } },
          spec: { podCIDR: o.podCidr, podCIDRs: [o.podCidr] },
        },
      });
    }
    await this.beat();
  }

  /** Posts the node's status and renews its Lease. */
  async beat(): Promise<void> {
    const now = new Date();
    const node = await this.core.readNode({ name: this.o.nodeName });
    node.status = nodeStatus(this.o, now, node.status);
    await this.core.replaceNodeStatus({ name: this.o.nodeName, body: node });
    await this.renewLease(node, now);
  }

  private async renewLease(node: k8s.V1Node, now: Date): Promise<void> {
    const name = this.o.nodeName;
    const namespace = 'kube-node-lease';
    const spec: k8s.V1LeaseSpec = { holderIdentity: name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: new k8s.V1MicroTime(now.getTime()) };
    try {
      const lease = await this.coordination.readNamespacedLease({ name, namespace });
      lease.spec = { ...lease.spec, ...spec };
      await this.coordination.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata!.uid! }] }, spec },
      });
    }
  }
}
