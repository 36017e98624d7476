// What one Gateway API translation may reuse from the previous one: the translation of each route object
// that did not change, as long as nothing a route's backends resolve against changed either.
import type { Inputs } from '../sources/kinds.js';
import { BackendResolver } from './backends.js';
import type { HttpRouteIR } from '../ir/model.js';
import type { RankedRoute, TranslatedHttpRoute } from './httproute.js';

/**
 * What a route's translation reads besides the route itself (see BackendResolver; BackendTLSPolicies and the CA
 * ConfigMaps they name too). Only ConfigMaps a policy names: in Kubernetes mode every ConfigMap of the cluster is
 * an input, and any of them changing (a controller's, a leader lock's) re-translated every route.
 */
function backendWorld(inputs: Inputs): readonly object[] {
  const named = new Set<string>();
  for (const p of inputs.backendTlsPolicies) {
    for (const ref of p.spec.validation?.caCertificateRefs ?? []) {
      if ((ref.group ?? '') === '' && ref.kind === 'ConfigMap') named.add(`${p.metadata.namespace ?? 'default'}/${ref.name}`);
    }
  }
  const configMaps = named.size ? inputs.configMaps.filter((c) => named.has(`${c.metadata.namespace ?? 'default'}/${c.metadata.name}`)) : [];
  return [...inputs.services, ...inputs.endpointSlices, ...inputs.referenceGrants, ...inputs.backendTlsPolicies, ...configMaps];
}

function sameObjects(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((o, i) => o === b[i]);
}

/**
 * Keyed by the classified route objects, which stay the same objects across reloads while their manifest
 * is unchanged (ClassificationCache). Route translations are pure functions of the route and the backend
 * world, so any change to a Service, EndpointSlice or ReferenceGrant starts over.
 */
export class GatewayTranslationCache {
  private world: readonly object[] = [];
  private resolver: BackendResolver | undefined;
  private routes = new WeakMap<object, TranslatedHttpRoute>();

  /** The resolver for `inputs`: the previous one (with its computed endpoints) when the backend world is the same. */
  backends(inputs: Inputs): BackendResolver {
    const world = backendWorld(inputs);
    if (!this.resolver || !sameObjects(world, this.world)) {
      this.resolver = new BackendResolver(inputs);
      this.world = world;
      this.routes = new WeakMap();
    }
    return this.resolver;
  }

  route<T extends TranslatedHttpRoute>(route: object, translate: () => T): T {
    let t = this.routes.get(route) as T | undefined;
    if (!t) this.routes.set(route, (t = translate()));
    return t;
  }

  private orders = new Map<string, { ranked: RankedRoute[]; routes: HttpRouteIR[] }>();
  private nextOrders = new Map<string, { ranked: RankedRoute[]; routes: HttpRouteIR[] }>();

  /**
   * `order(ranked)`, or the list it returned for the same virtual host `key` last time when `ranked` holds
   * the same route objects in the same order (as it does when no route of that host changed). Returning
   * the same list also lets the xDS stage reuse that virtual host's encoding.
   */
  ordered(key: string, ranked: RankedRoute[], order: (ranked: RankedRoute[]) => HttpRouteIR[]): HttpRouteIR[] {
    const last = this.orders.get(key);
    const entry = last && sameObjects(last.ranked, ranked) ? last : { ranked, routes: order(ranked) };
    this.nextOrders.set(key, entry);
    return entry.routes;
  }

  /** Ends a translation: virtual hosts it did not have are forgotten. */
  endTranslation(): void {
    this.orders = this.nextOrders;
    this.nextOrders = new Map();
  }
}
