// Services and EndpointSlices → the datapath's service map input (ClusterIPs; NodePorts on the node's
// addresses). Pure. Backends are the ready endpoints of the slices labelled with the Service's name, on the
// port the slice names for the Service port (unnamed: the Service's targetPort when numeric, else its port),
// of the virtual address's family. Headless Services (clusterIP None) and SCTP ports get no entry.
import net from 'node:net';
import type { Backend, Service } from './services.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

interface Meta { name: string; namespace?: string; labels?: Record<string, string> }
export interface ServiceObject {
  metadata: Meta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string; nodePort?: number }>;
  };
}
export interface EndpointSliceObject {
  metadata: Meta;
  addressType?: string;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }> | null;
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean | null } | null }> | null;
}

export interface ClusterServicesOptions {
  /** The node's addresses: NodePorts are services on these. */
  nodeIps?: string[];
}

export function clusterServices(services: ServiceObject[], slices: EndpointSliceObject[], opts: ClusterServicesOptions = {}): Service[] {
  const slicesOf = new Map<string, EndpointSliceObject[]>();
  for (const s of slices) {
    const name = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!name) continue;
    const key = `${s.metadata.namespace ?? 'default'}/${name}`;
    slicesOf.set(key, [...(slicesOf.get(key) ?? []), s]);
  }
  const out: Service[] = [];
  for (const svc of services) {
    const spec = svc.spec ?? {};
    const vips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => net.isIP(ip));
    const own = slicesOf.get(`${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`) ?? [];
    for (const port of spec.ports ?? []) {
      const protocol = (port.protocol ?? 'TCP').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') continue;
      const backendsFor = (family: 4 | 6) => backendsOf(own, port, family);
      for (const vip of vips) out.push({ vip, port: port.port, protocol, backends: backendsFor(net.isIP(vip) as 4 | 6) });
      const nodePortType = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
      if (nodePortType && port.nodePort) {
        for (const nodeIp of opts.nodeIps ?? []) out.push({ vip: nodeIp, port: port.nodePort, protocol, backends: backendsFor(net.isIP(nodeIp) as 4 | 6) });
      }
    }
  }
  return out;
}

function backendsOf(slices: EndpointSliceObject[], port: NonNullable<NonNullable<ServiceObject['spec']>['ports']>[number], family: 4 | 6): Backend[] {
  const seen = new Set<string>();
  const out: Backend[] = [];
  for (const slice of slices) {
    const named = slice.ports?.find((p) => (p.name ?? '') === (port.name ?? ''));
    const target = named?.port ?? (typeof port.targetPort === 'number' ? port.targetPort : port.targetPort === undefined ? port.port : undefined);
    if (target === undefined) continue; // a named targetPort the slice does not resolve
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const ip of endpoint.addresses) {
        if (net.isIP(ip) !== family || seen.has(`${ip}|${target}`)) continue;
        seen.add(`${ip}|${target}`);
        out.push({ ip, port: target });
      }
    }
  }
  return out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
}
