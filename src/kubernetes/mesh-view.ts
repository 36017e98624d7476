// A node's mesh view (src/mtls/mesh-resources.ts) from the Pods the API server holds, a pure function.
//
// Identity: a pod's SPIFFE ID is `spiffe://<trust domain>/ns/<namespace>/sa/<spec.serviceAccountName or default>`,
// as Istio names workloads: the ServiceAccount is what Kubernetes lets a pod run as, so it is what the pod proves.
// Naming: each declared TCP containerPort of a pod is a mesh service named as standalone mode names it,
// `<port>.<pod>.<namespace>` (src/mtls/standalone-mesh.ts): the Host header pods send through the node's outbound
// listener, and the SNI between the nodes' Envoys (which cannot carry an IP address). A pod declaring no port is
// not served through the mesh (it can still call out).
// Scope: every pod with an address and a node address is a destination (pods on this node too, which then cross
// the node's own inbound listener); this node's pods are its sources (by their exact source address) and its
// inbound services. With the datapath (transparentPort), the pods on other nodes are also destinations by their
// own address and port: the datapath redirects this node's pods' connections to them into the transparent
// listener. Same-node pod-to-pod connections are redirected only to ports whose policy requires authentication
// (the rest stay plaintext, on the node's own veths).
// Host-network pods are left out: their address is the node's, which tells no workload apart.
import type { KubeObject } from './informers.js';
import type { LocalService, MeshNodeView, RemoteService, SourceWorkload } from '../mtls/mesh-resources.js';
import { workloadId } from '../mtls/spiffe-id.js';
import { meshRouteName, type MeshClientsEgress } from '../l7policy/envoy.js';
import { meshServiceHost } from '../mtls/standalone-mesh.js';

export interface MeshViewOptions {
  nodeName: string;
  trustDomain: string;
  outboundPort: number;
  inboundPort: number;
  /** The transparent listener's port (with the datapath, which redirects into it); absent: the explicit proxy only. */
  transparentPort?: number;
  /** Where the listeners bind (all addresses by default). */
  bindAddress?: string;
}

interface PodShape {
  metadata?: { name?: string; namespace?: string; deletionTimestamp?: unknown };
  spec?: { nodeName?: string; serviceAccountName?: string; hostNetwork?: boolean; containers?: Array<{ ports?: Array<{ containerPort?: number; protocol?: string }> }> };
  status?: { podIP?: string; hostIP?: string; phase?: string };
}

export interface MeshPod {
  namespace: string;
  name: string;
  id: string;
  address: string;
  node: string;
  nodeAddress: string;
  /** The declared TCP containerPorts. */
  ports: number[];
}

/** The mesh's name of a pod's port (Host header and SNI). */
export function podMeshHost(namespace: string, name: string, port: number): string {
  return meshServiceHost(`${namespace}/${name}`, port);
}

/** The pods that take part in the mesh: running, addressed, not host-network, not being deleted. */
export function meshPods(pods: readonly KubeObject[], trustDomain: string): MeshPod[] {
  const out: MeshPod[] = [];
  for (const obj of pods) {
    const p = obj as unknown as PodShape;
    const namespace = p.metadata?.namespace;
    const name = p.metadata?.name;
    const address = p.status?.podIP;
    const nodeAddress = p.status?.hostIP;
    if (!namespace || !name || !address || !nodeAddress || !p.spec?.nodeName || p.spec.hostNetwork || p.metadata?.deletionTimestamp) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const ports = [...new Set(p.spec.containers?.flatMap((c) => c.ports ?? []).filter((x) => (x.protocol ?? 'TCP') === 'TCP' && x.containerPort).map((x) => x.containerPort!))];
    out.push({ namespace, name, address, nodeAddress, node: p.spec.nodeName, id: workloadId(trustDomain, namespace, p.spec.serviceAccountName || 'default').uri, ports });
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/**
 * The L7 policy's share of the view (with the datapath): the route configuration the L7 policy translator emits
 * for each policed endpoint port (src/l7policy/envoy.ts, meshRouteName), by the port's mesh host; the inbound
 * listener serves those ports with it (deciding by the verified peer SPIFFE ID), the others straight to the pod.
 */
export interface MeshPolicy {
  routes: ReadonlyMap<string, string>;
  /** The clients' egress rules towards policed ports, by mesh host: the outbound side applies them (RemoteService.clientsEgress). */
  clientsEgress?: ReadonlyMap<string, MeshClientsEgress>;
  /** Where the inbound and outbound listeners write the L7 policy's access log. */
  accessLogPath?: string;
}

/**
 * The clients' egress rules of an L7 translation (L7Translation.meshEgress: every destination port they restrict,
 * policed by a listener or not), by mesh host (what MeshPolicy.clientsEgress holds).
 */
export function meshPolicyClientsEgress(targets: readonly { endpoint: string; port: number; egress: MeshClientsEgress }[]): Map<string, MeshClientsEgress> {
  return new Map(targets.map((t) => [meshServiceHost(t.endpoint, t.port), t.egress] as const));
}

/** The policy routes of an L7 translation's listeners, by mesh host (what MeshPolicy.routes holds). */
export function meshPolicyRoutes(listeners: readonly { endpoint: string; port: number; meshRoute?: string }[]): Map<string, string> {
  return new Map(listeners.flatMap((l) => (l.meshRoute ? [[meshServiceHost(l.endpoint, l.port), l.meshRoute] as const] : [])));
}

/** The node's mesh view: its pods as sources and inbound services, every served pod as a destination. */
export function meshViewFromPods(pods: readonly KubeObject[], o: MeshViewOptions, policy?: MeshPolicy): MeshNodeView {
  const all = meshPods(pods, o.trustDomain);
  const local = all.filter((p) => p.node === o.nodeName);
  const bind = o.bindAddress ?? '0.0.0.0';
  const byId = new Map<string, string[]>();
  for (const p of local) byId.set(p.id, [...(byId.get(p.id) ?? []), p.address]);
  const sources: SourceWorkload[] = [...byId].map(([id, addresses]) => ({ id, sources: addresses }));
  const transparent = o.transparentPort !== undefined;
  // Transparent destinations: other nodes' pods, and this node's policed ports (the datapath redirects a local
  // source there only where the port requires it to authenticate: src/datapath/mesh-redirect.ts).
  const services: RemoteService[] = all.flatMap((p) => p.ports.map((port) => {
    const host = podMeshHost(p.namespace, p.name, port);
    const destination = transparent && (p.node !== o.nodeName || policy?.routes.has(host) === true);
    const clientsEgress = policy?.clientsEgress?.get(host);
    return { host, node: { address: p.nodeAddress, port: o.inboundPort }, id: p.id, ...(destination ? { destination: { address: p.address, port } } : {}), ...(clientsEgress ? { clientsEgress } : {}) };
  }));
  const inbound: LocalService[] = local.flatMap((p) => p.ports.map((port) => {
    const host = podMeshHost(p.namespace, p.name, port);
    const routeConfig = policy?.routes.get(host);
    // Unpoliced, the port's route configuration takes the name the policy's would have: a policy coming or going
    // then switches the route's cluster (make-before-break), not the listener's filter chain (drained).
    return { host, id: p.id, backend: { address: p.address, port }, ...(routeConfig ? { routeConfig } : { routeName: meshRouteName({ name: `${p.namespace}/${p.name}` }, port) }) };
  }));
  const accessLog = policy?.accessLogPath ? { accessLogPath: policy.accessLogPath } : {};
  return {
    trustDomain: o.trustDomain,
    ...(sources.length > 0 && services.length > 0 ? { outbound: { address: bind, port: o.outboundPort, sources, services, ...(transparent ? { transparentPort: o.transparentPort } : {}), ...accessLog } } : {}),
    ...(inbound.length > 0 ? { inbound: { address: bind, port: o.inboundPort, services: inbound, ...accessLog } } : {}),
  };
}
