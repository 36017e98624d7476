// What the agent knows of the workloads behind addresses and identities: pod, namespace, labels, the
// services selecting them, and the node. Flow records are enriched from it; lookups are by address (a map
// hit per flow end), and each address's description is built once per directory, not per flow.
import type { FlowEndpoint } from './flow.js';

export interface WorkloadRecord {
  namespace: string;
  pod: string;
  /** The pod's own labels (without Cilium's source prefix). */
  labels: Record<string, string>;
  identity: number;
  ips: string[];
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  /** Its cluster IPs (a destination address equal to one of these names the service). */
  ips: string[];
  /** Pods whose labels include all of these belong to it; empty: none (a selector-less service). */
  selector: Record<string, string>;
}

type Described = Omit<FlowEndpoint, 'ip' | 'port' | 'identity'> & { identity: number };

const RESERVED: Readonly<Record<number, string>> = { 1: 'host', 2: 'world' };

export class WorkloadDirectory {
  private readonly byIp = new Map<string, Described>();
  private readonly byIdentity = new Map<number, string[]>();
  /** `namespace/pod` → the pod's first address (an L7 policy route names its endpoint so). */
  private readonly byPod = new Map<string, string>();

  constructor(readonly node: string, workloads: WorkloadRecord[] = [], services: ServiceRecord[] = [], identityLabels: ReadonlyMap<number, string[]> = new Map()) {
    for (const [id, labels] of identityLabels) this.byIdentity.set(id, labels);
    for (const w of workloads) {
      const labels = Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).sort();
      const selecting = services.filter((s) => Object.keys(s.selector).length > 0 && s.namespace === w.namespace && Object.entries(s.selector).every(([k, v]) => w.labels[k] === v));
      const described: Described = {
        identity: w.identity,
        namespace: w.namespace,
        pod: w.pod,
        labels,
        services: selecting.map((s) => `${s.namespace}/${s.name}`),
        workload: w.labels.app ?? w.labels['app.kubernetes.io/name'] ?? w.pod,
      };
      for (const ip of w.ips) this.byIp.set(ip, described);
      if (w.ips.length > 0) this.byPod.set(`${w.namespace}/${w.pod}`, w.ips[0]);
      if (!this.byIdentity.has(w.identity)) this.byIdentity.set(w.identity, labels);
    }
    for (const s of services) {
      const name = `${s.namespace}/${s.name}`;
      for (const ip of s.ips) if (!this.byIp.has(ip)) this.byIp.set(ip, { identity: 0, namespace: s.namespace, pod: '', labels: [], services: [name], workload: `svc:${s.name}` });
    }
  }

  /** One end of a flow: what the directory knows of `ip`, with the identity the datapath or proxy saw. */
  endpoint(ip: string, port: number, identity: number): FlowEndpoint {
    const d = this.byIp.get(ip);
    if (d) return { ip, port, identity: identity || d.identity, namespace: d.namespace, pod: d.pod, labels: d.labels, services: d.services, workload: d.workload };
    const reserved = RESERVED[identity];
    return { ip, port, identity, namespace: '', pod: '', labels: this.byIdentity.get(identity) ?? (reserved ? [`reserved:${reserved}`] : []), services: [], workload: reserved ?? ip };
  }

  /** A pod's address by its name, `namespace/pod`; undefined when unknown. */
  ipOf(pod: string): string | undefined {
    return this.byPod.get(pod);
  }

  /** The identity the directory holds for an address (0 when unknown). */
  identityOf(ip: string): number {
    return this.byIp.get(ip)?.identity ?? 0;
  }
}
