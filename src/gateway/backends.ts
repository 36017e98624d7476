// backendRefs → clusters: Service lookup, ReferenceGrant for other namespaces, ports and endpoints
// from EndpointSlices.
import type { IService } from 'kubernetes-models/v1/Service';
import type { IEndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import type { ClusterIR, EndpointIR } from '../ir/model.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import { ByNamespace } from '../sources/by-namespace.js';
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

/** Resolutions of one route kind and namespace: target namespace → Service name → port → resolution. */
type Resolutions = ByNamespace<Map<number | undefined, BackendResolution>>;

export class BackendResolver {
  private readonly services = new ByNamespace<Obj<IService>>();
  private readonly slices = new ByNamespace<Obj<IEndpointSlice>[]>();
  /** By Service port object: the same object always gives the same endpoints. */
  private readonly endpointCache = new Map<object, EndpointIR[]>();
  /** route kind → route namespace → resolutions (see resolve). */
  private readonly resolutions = new Map<string, Map<string, Resolutions>>();

  /** BackendTLSPolicy: which Service ports are reached over TLS. */
  readonly tlsPolicies: BackendTlsPolicies;

  constructor(private readonly inputs: Inputs) {
    this.tlsPolicies = new BackendTlsPolicies(inputs);
    for (const s of inputs.services) this.services.set(s.metadata.namespace ?? 'default', s.metadata.name, s);
    for (const slice of inputs.endpointSlices) {
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const namespace = slice.metadata.namespace ?? 'default';
      const list = this.slices.get(namespace, svc);
      if (list) list.push(slice);
      else this.slices.set(namespace, svc, [slice]);
    }
  }

  /** Whether a ReferenceGrant in `toNamespace` lets `from` refer to `toKind` `toName` there. */
  referenceAllowed(from: RouteRef, toGroup: string, toKind: string, toNamespace: string, toName: string): boolean {
    return referenceGranted(this.inputs.referenceGrants, from, toGroup, toKind, toNamespace, toName);
  }

  /**
   * The resolution of `ref` from a route of kind `from.kind` in `from.namespace`. Routes name the same Service
   * ports many times (thousands of backendRefs for hundreds of ports): each is resolved once per resolver, and
   * the same (never mutated) resolution object, cluster included, is handed to every route that names it.
   */
  resolve(from: RouteRef, ref: BackendRefLike): BackendResolution {
    // A kind other than core Service is refused at once: not worth remembering.
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Service') !== 'Service') return this.resolveOnce(from, ref);
    const resolutions = this.resolutionsFrom(from);
    const namespace = ref.namespace ?? from.namespace;
    let byPort = resolutions.get(namespace, ref.name);
    if (!byPort) resolutions.set(namespace, ref.name, (byPort = new Map<number | undefined, BackendResolution>()));
    let resolution = byPort.get(ref.port);
    if (!resolution) byPort.set(ref.port, (resolution = this.resolveOnce(from, ref)));
    return resolution;
  }

  /** The last `from` asked about and its resolutions: a route passes the same object for each of its backendRefs. */
  private lastFrom: RouteRef | undefined;
  private lastResolutions: Resolutions | undefined;

  private resolutionsFrom(from: RouteRef): Resolutions {
    if (from === this.lastFrom) return this.lastResolutions!;
    let byNamespace = this.resolutions.get(from.kind);
    if (!byNamespace) this.resolutions.set(from.kind, (byNamespace = new Map<string, Resolutions>()));
    let resolutions = byNamespace.get(from.namespace);
    if (!resolutions) byNamespace.set(from.namespace, (resolutions = new ByNamespace()));
    this.lastFrom = from;
    this.lastResolutions = resolutions;
    return resolutions;
  }

  private resolveOnce(from: RouteRef, ref: BackendRefLike): BackendResolution {
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
    const service = this.services.get(namespace, ref.name);
    if (!service) return { problem: { reason: 'BackendNotFound', message: `Service ${what} not found` } };
    if (ref.port === undefined) return { problem: { reason: 'BackendNotFound', message: `backendRef to Service ${what} needs a port` } };
    const servicePort = service.spec?.ports?.find((p) => p.port === ref.port);
    if (!servicePort) return { problem: { reason: 'BackendNotFound', message: `Service ${what} has no port ${ref.port}` } };
    const appProtocol = servicePort.appProtocol;
    const http2 = appProtocol === 'kubernetes.io/h2c' || appProtocol === 'grpc';
    const tls = this.tlsPolicies.forServicePort(namespace, ref.name, servicePort);
    const cluster: ClusterIR = {
      name: `${namespace}/${ref.name}/${ref.port}`,
      // A BackendTLSPolicy without a valid CA: connections must fail (no endpoints: 503).
      endpoints: tls === 'none' ? [] : this.endpoints(namespace, ref.name, servicePort),
      protocol: http2 ? 'http2' : 'http1',
    };
    // Optional fields set only when present (no spread of a temporary object per resolution).
    if (tls && tls !== 'none') cluster.tls = { ...tls, ...(http2 ? { alpn: ['h2'] } : {}) };
    return appProtocol ? { cluster, appProtocol } : { cluster };
  }

  /** Ready endpoint addresses of the Service, on the port its EndpointSlices name for this Service port. */
  private endpoints(namespace: string, service: string, servicePort: NonNullable<NonNullable<IService['spec']>['ports']>[number]): EndpointIR[] {
    // Many backendRefs name the same Service port: compute its endpoints once per translation.
    let endpoints = this.endpointCache.get(servicePort);
    if (!endpoints) this.endpointCache.set(servicePort, (endpoints = this.computeEndpoints(namespace, service, servicePort.name ?? '', servicePort.targetPort, servicePort.port)));
    return endpoints;
  }

  private computeEndpoints(namespace: string, service: string, portName: string, targetPort: number | string | undefined, servicePort: number): EndpointIR[] {
    const out: EndpointIR[] = [];
    for (const slice of this.slices.get(namespace, service) ?? []) {
      const slicePort = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
      const port = slicePort ?? (typeof targetPort === 'number' ? targetPort : targetPort === undefined ? servicePort : undefined);
      if (port === undefined) continue; // a named targetPort that no slice resolves
      for (const endpoint of slice.endpoints ?? []) {
        if (endpoint.conditions?.ready === false) continue;
        for (const address of endpoint.addresses) out.push({ address, port });
      }
    }
    // Slices usually list their endpoints in order and once: then neither sort nor copy.
    let ordered = true;
    for (let i = 1; i < out.length && ordered; i++) ordered = compareEndpoints(out[i - 1], out[i]) < 0;
    if (ordered) return out;
    out.sort(compareEndpoints);
    // An address in two slices (or twice in one) once: equal entries are neighbours once sorted.
    return out.filter((e, i) => i === 0 || e.address !== out[i - 1].address || e.port !== out[i - 1].port);
  }
}

function compareEndpoints(a: EndpointIR, b: EndpointIR): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port;
}
