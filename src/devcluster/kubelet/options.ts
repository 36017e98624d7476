// What one node's kubelet needs to know about its node and where it keeps its state.
import { join } from 'node:path';

export interface KubeletOptions {
  nodeName: string;
  kubeconfig: string;
  /** The node's network namespace name (under /run/netns); the kubelet itself runs inside it. */
  nodeNetns: string;
  /** The node's InternalIP (its eth0 on the cluster bridge). */
  nodeAddress: string;
  podCidr: string;
  /** Per-node state: pod records, CNI IPAM state, container logs. */
  stateDir: string;
  /** Prefix of pod network namespace names, e.g. weft-dev-n1-. */
  podNetnsPrefix: string;
  /** Where the CNI plugin pins its BPF maps for this node. */
  bpfPinRoot: string;
  /** The kubelet API (container logs) on nodeAddress:apiPort over TLS: serving certificate and key, and the CA
   * that signs the API server's client certificate. Without them the API is not served. */
  tls?: { cert: string; key: string; clientCa: string };
  /** Default 10250, as the real kubelet. */
  apiPort?: number;
}

export const KUBELET_API_PORT = 10250;

export const kubeletPaths = (o: KubeletOptions) => ({
  pods: join(o.stateDir, 'pods'),
  logs: join(o.stateDir, 'logs'),
  cni: join(o.stateDir, 'cni'),
  cniLock: join(o.stateDir, 'cni.lock'),
  credentials: join(o.stateDir, 'credentials'),
});
