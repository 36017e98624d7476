// Ingress backends → clusters: a Service in the Ingress's namespace, its port by number or by name.
import type { IService } from 'kubernetes-models/v1/Service';
import type { ClusterIR } from '../ir/model.js';
import type { BackendResolver } from '../gateway/backends.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import type { Ingress } from './classes.js';

type Backend = NonNullable<NonNullable<Ingress['spec']>['defaultBackend']>;

export type IngressBackendResolution =
  | { cluster: ClusterIR }
  /** The backend cannot be used: requests for it get 503 (`message` says why). */
  | { unavailable: string }
  /** A resource backend: Weft serves Services only; the path is not served. */
  | { unsupported: string };

export class IngressBackends {
  private readonly services = new Map<string, Obj<IService>>();

  constructor(
    inputs: Pick<Inputs, 'services'>,
    private readonly resolver: BackendResolver,
  ) {
    for (const s of inputs.services) this.services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  }

  resolve(namespace: string, backend: Backend): IngressBackendResolution {
    if (backend.resource) {
      const r = backend.resource;
      return { unsupported: `resource backends are not supported (got ${r.apiGroup ? `${r.apiGroup}/` : ''}${r.kind} ${r.name}); Weft routes to Services only, so this is not served` };
    }
    const svc = backend.service!;
    const key = `${namespace}/${svc.name}`;
    const service = this.services.get(key);
    if (!service) return { unavailable: `Service ${key} not found` };
    let port = svc.port?.number;
    if (svc.port?.name) {
      const named = service.spec?.ports?.find((p) => p.name === svc.port!.name);
      if (!named) return { unavailable: `Service ${key} has no port named "${svc.port.name}"` };
      port = named.port;
    }
    const resolved = this.resolver.resolve({ kind: 'Ingress', namespace }, { name: svc.name, port });
    if ('problem' in resolved) return { unavailable: resolved.problem.message };
    return { cluster: resolved.cluster };
  }
}
