// backendRefs → clusters: Service lookup, ReferenceGrant for other namespaces, ports and endpoints
// from EndpointSlices.
import type { IService } from 'kubernetes-models/v1/Service';
import type { IEndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import type { ClusterIR, EndpointIR } from '../ir/model.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import { BackendTlsPolicies } from './backend-tls-policy.js';
import { GATEWAY_GROUP } from './conditions.js';

export interface BackendRefLike {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}

export interface BackendProblem {
  reason: 'RefNotPermitted' | 'InvalidKind' | 'BackendNotFound' | 'UnsupportedProtocol';
  message: string;
}

/** `appProtocol`: the Service port's, when it sets one (a route kind may not be able to use it). */
export type BackendResolution = { cluster: ClusterIR; appProtocol?: string } | { problem: BackendProblem };

export interface RouteRef {
  kind: string;
  namespace: string;
}

/** Whether a ReferenceGrant in `toNamespace` lets `from` (a Gateway API kind) refer to `toKind` `toName` there. */
export function referenceGranted(grants: Inputs['referenceGrants'], from: RouteRef, toGroup: string, toKind: string, toNamespace: string, toName: string): boolean {
  if (from.namespace === toNamespace) return true;
  return grants.some(
    (grant) =>
      grant.metadata.namespace === toNamespace &&
      (grant.spec?.from ?? []).some((f) => f.group === GATEWAY_GROUP && f.kind === from.kind && f.namespace === from.namespace) &&
      (grant.spec?.to ?? []).some((t) => (t.group ?? '') === toGroup && t.kind === toKind && (!t.name || t.name === toName)),
  );
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class BackendResolver {
  private readonly services = new Map<string, Obj<IService>>();
  private readonly slices = new Map<string, Obj<IEndpointSlice>[]>();
  private readonly endpointCache = new Map<string, EndpointIR[]>();

  /** BackendTLSPolicy: which Service ports are reached over TLS. */
  readonly tlsPolicies: BackendTlsPolicies;

  constructor(private readonly inputs: Inputs) {
    this.tlsPolicies = new BackendTlsPolicies(inputs);
    for (const s of inputs.services) this.services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const slice of inputs.endpointSlices) {
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const key = `${slice.metadata.namespace}/${svc}`;
      this.slices.set(key, [...(this.slices.get(key) ?? []), slice]);
    }
  }

  /** Whether a ReferenceGrant in `toNamespace` lets `from` refer to `toKind` `toName` there. */
  referenceAllowed(from: RouteRef, toGroup: string, toKind: string, toNamespace: string, toName: string): boolean {
    return referenceGranted(this.inputs.referenceGrants, from, toGroup, toKind, toNamespace, toName);
  }

  resolve(from: RouteRef, ref: BackendRefLike): BackendResolution {
    const group = ref.group ?? '';
    const kind = ref.kind ?? 'Service';
    const namespace = ref.namespace ?? from.namespace;
    const what = `${namespace}/${ref.name}`;
    if (group !== '' || kind !== 'Service') {
      return { problem: { reason: 'InvalidKind', message: `backendRef ${what}: kind ${group ? `${group}/` : ''}${kind} is not supported (only core Service)` } };
    }
    if (!this.referenceAllowed(from, '', 'Service', namespace, ref.name)) {
      return { problem: { reason: 'RefNotPermitted', message: `backendRef to Service ${what} is not permitted by any ReferenceGrant in namespace ${namespace}` } };
    }
    const service = this.services.get(what);
    if (!service) return { problem: { reason: 'BackendNotFound', message: `Service ${what} not found` } };
    if (ref.port === undefined) return { problem: { reason: 'BackendNotFound', message: `backendRef to Service ${what} needs a port` } };
    const servicePort = service.spec?.ports?.find((p) => p.port === ref.port);
    if (!servicePort) return { problem: { reason: 'BackendNotFound', message: `Service ${what} has no port ${ref.port}` } };
    const appProtocol = servicePort.appProtocol;
    const http2 = appProtocol === 'kubernetes.io/h2c' || appProtocol === 'grpc';
    const tls = this.tlsPolicies.forServicePort(namespace, ref.name, servicePort);
    return {
      cluster: {
        name: `${namespace}/${ref.name}/${ref.port}`,
        // A BackendTLSPolicy without a valid CA: connections must fail (no endpoints: 503).
        endpoints: tls === 'none' ? [] : this.endpoints(service, servicePort.name ?? '', servicePort.targetPort, servicePort.port),
        protocol: http2 ? 'http2' : 'http1',
        ...(tls && tls !== 'none' ? { tls: { ...tls, ...(http2 ? { alpn: ['h2'] } : {}) } } : {}),
      },
      ...(appProtocol ? { appProtocol } : {}),
    };
  }

  /** Ready endpoint addresses of the Service, on the port its EndpointSlices name for this Service port. */
  private endpoints(service: Obj<IService>, portName: string, targetPort: number | string | undefined, servicePort: number): EndpointIR[] {
    // Many backendRefs name the same Service port: compute its endpoints once per translation.
    const key = `${service.metadata.namespace}/${service.metadata.name}|${portName}|${targetPort}|${servicePort}`;
    let endpoints = this.endpointCache.get(key);
    if (!endpoints) this.endpointCache.set(key, (endpoints = this.computeEndpoints(service, portName, targetPort, servicePort)));
    return endpoints;
  }

  private computeEndpoints(service: Obj<IService>, portName: string, targetPort: number | string | undefined, servicePort: number): EndpointIR[] {
    const out: EndpointIR[] = [];
    const seen = new Set<string>();
    for (const slice of this.slices.get(`${service.metadata.namespace}/${service.metadata.name}`) ?? []) {
      const slicePort = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
      const port = slicePort ?? (typeof targetPort === 'number' ? targetPort : targetPort === undefined ? servicePort : undefined);
      if (port === undefined) continue; // a named targetPort that no slice resolves
      for (const endpoint of slice.endpoints ?? []) {
        if (endpoint.conditions?.ready === false) continue;
        for (const address of endpoint.addresses) {
          const key = `${address}:${port}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ address, port });
        }
      }
    }
    return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  }
}
