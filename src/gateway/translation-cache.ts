// What one Gateway API translation may reuse from the previous one: the translation of each route object
// that did not change, as long as nothing a route's backends resolve against changed either.
import type { Inputs } from '../sources/kinds.js';
import { BackendResolver } from './backends.js';
import type { HttpRouteIR } from '../ir/model.js';
import type { RankedRoute, TranslatedHttpRoute } from './httproute.js';
import type { Attachment, ParentStatus } from './attachment.js';
import type { ObjectStatus } from './conditions.js';
import type { GatewayAddressFor, GatewayState, ListenerState } from './listeners.js';
import { sameObjects } from './ordered-lists.js';

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

type LocalRef = { group?: string; kind?: string; namespace?: string; name: string };

/**
 * The Secrets and ConfigMaps Gateways and ListenerSets name (`kind/namespace/name`): listener certificateRefs,
 * the backend client certificate, frontend CA bundles. All buildGatewayStates reads of them (src/gateway/tls.ts).
 */
function gatewayRefs(inputs: Inputs): Set<string> {
  const named = new Set<string>();
  const add = (ns: string, kind: string, ref: LocalRef): void => {
    if ((ref.group ?? '') === '') named.add(`${ref.kind ?? kind}/${ref.namespace ?? ns}/${ref.name}`);
  };
  for (const g of inputs.gateways) {
    const ns = g.metadata.namespace ?? 'default';
    for (const l of g.spec.listeners) for (const ref of l.tls?.certificateRefs ?? []) add(ns, 'Secret', ref);
    const tls = g.spec.tls;
    if (tls?.backend?.clientCertificateRef) add(ns, 'Secret', tls.backend.clientCertificateRef);
    for (const v of [tls?.frontend?.default, ...(tls?.frontend?.perPort ?? []).map((p) => p.tls)]) {
      for (const ref of v?.validation?.caCertificateRefs ?? []) add(ns, 'ConfigMap', ref);
    }
  }
  for (const set of inputs.listenerSets) {
    for (const l of set.spec.listeners) for (const ref of l.tls?.certificateRefs ?? []) add(set.metadata.namespace ?? 'default', 'Secret', ref);
  }
  return named;
}

/**
 * What attaching a route reads besides the route: what buildGatewayStates and RouteAttacher read. Only the
 * Secrets and ConfigMaps a Gateway names: in Kubernetes mode every TLS Secret and ConfigMap of the cluster is an
 * input, and any of them changing (another controller's churn) attached every route again.
 */
function attachmentWorld(inputs: Inputs, addressFor: GatewayAddressFor | undefined): readonly unknown[] {
  const named = gatewayRefs(inputs);
  const isNamed = (kind: string, o: { metadata: { namespace?: string; name?: string } }): boolean => named.has(`${kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
  const secrets = named.size ? inputs.secrets.filter((s) => isNamed('Secret', s)) : [];
  const configMaps = named.size ? inputs.configMaps.filter((c) => isNamed('ConfigMap', c)) : [];
  return [addressFor, ...inputs.gatewayClasses, ...inputs.gateways, ...inputs.listenerSets, ...inputs.namespaces, ...secrets, ...configMaps, ...inputs.referenceGrants];
}

/** A route's attachment, its listeners as indices (the listener states are built anew by every translation). */
interface AttachmentEntry {
  parents: ParentStatus[];
  attachments: Array<{ listener: number; hostnames: string[]; parent: ParentStatus }>;
  /** Its status when no parent lost a hostname conflict, and the translation it was built with. */
  status?: { translated: object; status: ObjectStatus };
}

/** Inserts into `sorted` the statuses it lacks, in `compare` order; false (sorted half done) if one compares equal to another. */
function insertSorted(sorted: ObjectStatus[], statuses: ObjectStatus[], compare: (a: ObjectStatus, b: ObjectStatus) => number): boolean {
  const kept = new Set(sorted);
  for (const s of statuses) {
    if (kept.has(s)) continue;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compare(sorted[mid], s);
      if (c === 0) return false;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    sorted.splice(lo, 0, s);
  }
  return true;
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

  private attachmentInputs: readonly unknown[] = [];
  private attached = new WeakMap<object, AttachmentEntry>();
  private listeners: ListenerState[] = [];
  private listenerIndex = new Map<ListenerState, number>();
  /** Routes whose attachment was reused, and attached afresh, since this cache was made (tests, benchmarks). */
  readonly attachmentCounts = { reused: 0, attached: 0 };

  /**
   * Starts a translation whose Gateways are `gateways`: attachments of earlier translations are kept while
   * everything attaching reads is the same objects (then the listener states are built the same, in the
   * same order, so an index names the same listener), and forgotten when anything of it changed.
   */
  beginAttachments(inputs: Inputs, addressFor: GatewayAddressFor | undefined, gateways: GatewayState[]): void {
    const world = attachmentWorld(inputs, addressFor);
    if (!sameObjects(world, this.attachmentInputs)) {
      this.attachmentInputs = world;
      this.attached = new WeakMap();
    }
    this.listeners = gateways.flatMap((g) => g.listeners);
    this.listenerIndex = new Map(this.listeners.map((l, i) => [l, i]));
  }

  /**
   * `attach()` (RouteAttacher.attach of `route`), or what it returned for the same route object last time, on
   * this translation's listeners. The parents are shared between translations: callers must not change them.
   */
  attachment(route: object, attach: () => { parents: ParentStatus[]; attachments: Attachment[] }): { parents: ParentStatus[]; attachments: Attachment[] } {
    const entry = this.attached.get(route);
    if (!entry) {
      this.attachmentCounts.attached++;
      const result = attach();
      const attachments = result.attachments.map((a) => ({ listener: this.listenerIndex.get(a.listener)!, hostnames: a.hostnames, parent: a.parent }));
      this.attached.set(route, { parents: result.parents, attachments });
      return result;
    }
    this.attachmentCounts.reused++;
    return { parents: entry.parents, attachments: entry.attachments.map((a) => ({ listener: this.listeners[a.listener], hostnames: a.hostnames, parent: a.parent })) };
  }

  /**
   * `build()`, or the status it returned for the same route object last time when its translation is the
   * same object (and no parent lost a hostname conflict, which callers check): the same status object,
   * which also spares `weft run`'s status log comparing it.
   */
  routeStatus(route: object, translated: object, build: () => ObjectStatus): ObjectStatus {
    const entry = this.attached.get(route);
    if (entry?.status?.translated === translated) return entry.status.status;
    const status = build();
    if (entry) entry.status = { translated, status };
    return status;
  }

  private sortedStatuses: ObjectStatus[] = [];

  /**
   * `statuses` sorted by `compare`, a total order (no two statuses compare equal), patched from the list this
   * returned last time: the statuses it had (the same objects, as kept by routeStatus) stay in their order, and
   * the others are inserted by binary search; sorting 3,000 route statuses is thousands of locale comparisons.
   * Kept statuses come in the same relative order every time (routes by age), so a stable sort orders them alike;
   * an inserted one comparing equal to another (names only a locale comparison cannot tell apart) sorts afresh.
   */
  sortStatuses(statuses: ObjectStatus[], compare: (a: ObjectStatus, b: ObjectStatus) => number): ObjectStatus[] {
    const now = new Set(statuses);
    const sorted = this.sortedStatuses.filter((s) => now.has(s));
    this.sortedStatuses = sorted.length >= statuses.length / 2 && insertSorted(sorted, statuses, compare) ? sorted : statuses.sort(compare);
    return this.sortedStatuses;
  }

  private orders = new Map<string, { ranked: RankedRoute[]; routes: HttpRouteIR[] }>();
  private nextOrders = new Map<string, { ranked: RankedRoute[]; routes: HttpRouteIR[] }>();

  /**
   * `order(ranked)`, or the list it returned for the same virtual host `key` last time when `ranked` holds
   * the same route objects in the same order (as it does when no route of that host changed). Returning
   * the same list also lets the xDS stage reuse that virtual host's encoding.
   */
  ordered(key: string, ranked: RankedRoute[], order: (ranked: readonly RankedRoute[]) => HttpRouteIR[]): HttpRouteIR[] {
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
