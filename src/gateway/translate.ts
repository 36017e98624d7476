// Gateway API → IR + statuses: a pure function of the inputs.
import type { HttpListenerIR, HttpRouteIR, ProxyIR, TlsChainIR } from '../ir/model.js';
import type { IGRPCRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { Inputs, Obj } from '../sources/kinds.js';
import type { ObjectMeta } from '../sources/manifests.js';
import { RouteAttacher, type ParentStatus, type RouteLike } from './attachment.js';
import { BackendClientCertificates } from './backend-client-certificate.js';
import { BackendResolver } from './backends.js';
import { condition, CONTROLLER_NAME, GATEWAY_GROUP, generationOf, type Condition, type ObjectStatus } from './conditions.js';
import { compareHostSpecificity, listenerHostnameCovers } from './hostnames.js';
import { compareRouteAge, CrossKindHostnames, sortByPrecedence, translateGrpcRoute } from './grpcroute.js';
import { compareCreated, timestampMs, translateHttpRoute, type RankedRoute, type TranslatedHttpRoute } from './httproute.js';
import { listenerSetStatus } from './listener-sets.js';
import { OrderedLists } from './ordered-lists.js';
import type { GatewayTranslationCache } from './translation-cache.js';
import { buildGatewayStates, gatewayClassStatus, gatewayStatus, isOurClass, socketName, type GatewayAddressFor, type GatewayState, type ListenerState } from './listeners.js';
import { dedupeServerNames, listenerChains, translateTlsRoute, type PlacedTlsRoute } from './tlsroute.js';

/** The Gateway API features Weft implements, as the conformance suite names them; listed on the GatewayClass. */
export const SUPPORTED_FEATURES = [
  'Gateway',
  'GatewayHTTPListenerIsolation',
  'GRPCRoute',
  'HTTPRoute',
  'ReferenceGrant',
  'HTTPRouteHostRewrite',
  'HTTPRouteMethodMatching',
  'HTTPRoutePathRedirect',
  'HTTPRoutePathRewrite',
  'HTTPRoutePortRedirect',
  'HTTPRouteQueryParamMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRouteSchemeRedirect',
  'HTTPRouteRequestTimeout',
  'HTTPRouteBackendTimeout',
  'HTTPRouteRequestMirror',
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  'HTTPRouteCORS',
  'HTTPRouteBackendProtocolH2C',
  'HTTPRouteBackendProtocolWebSocket',
  // Issue 9, each seen passing in the upstream suite before it was added.
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteNamedRouteRule',
  'GRPCRouteNamedRouteRule',
  'HTTPRouteBackendRequestHeaderModification',
  'HTTPRouteParentRefPort',
  'HTTPRouteDestinationPortMatching',
  'GatewayPort8080',
  'GatewayStaticAddresses',
  'GatewayAddressEmpty',
  'GatewayHTTPSListenerDetectMisdirectedRequests',
  'GatewayBackendClientCertificate',
  'ListenerSet',
  // Retry: the upstream HTTPRouteRetry test passes; `backoff` is approximate (Envoy's back-off is fully jittered,
  // see docs/conformance-coverage.md). The other two have no test in v1.6.1 and are covered by Weft's own e2e test.
  'HTTPRouteRetry',
  'HTTPRouteRetryBackendTimeout',
  'HTTPRouteRetryConnectionError',
  // Kubernetes mode: the operator's per-Gateway headless Service and EndpointSlices (src/kubernetes/gateway-infrastructure.ts).
  'GatewayInfrastructurePropagation',
  // TLS (the tls issue): HTTPS listeners are core; these are the named features.
  'TLSRoute',
  'TLSRouteModeTerminate',
  'TLSRouteModeMixed',
  'GatewayFrontendClientCertificateValidation',
  'GatewayFrontendClientCertificateValidationInsecureFallback',
  'BackendTLSPolicy',
  'BackendTLSPolicySANValidation',
].sort();

export interface GatewayTranslation {
  ir: ProxyIR;
  statuses: ObjectStatus[];
}

/** `cache`: route translations of earlier calls; the result is the same with or without it. */
export function translateGatewayApi(inputs: Inputs, cache?: GatewayTranslationCache, addressFor?: GatewayAddressFor): GatewayTranslation {
  const statuses: ObjectStatus[] = [];
  for (const gc of inputs.gatewayClasses) if (isOurClass(gc)) statuses.push(gatewayClassStatus(gc, SUPPORTED_FEATURES));

  const gateways = buildGatewayStates(inputs, addressFor);
  const attacher = new RouteAttacher(gateways, inputs);
  const backends = cache ? cache.backends(inputs) : new BackendResolver(inputs);
  const translateOnce = (input: RouteInput): TranslatedHttpRoute =>
    input.kind === 'HTTPRoute' ? translateHttpRoute(input.route as Obj<IHTTPRoute>, backends) : translateGrpcRoute(input.route as Obj<IGRPCRoute>, backends);
  const translate = (input: RouteInput): TranslatedHttpRoute => (cache ? cache.route(input.route, () => translateOnce(input)) : translateOnce(input));
  /** listener → hostname → routes */
  const placed = new Map<ListenerState, Map<string, RankedRoute[]>>();

  // Oldest first: the older wins a cross-kind hostname conflict (compareRouteAge, on keys made once).
  const routeInputs: RouteInput[] = [];
  for (const route of inputs.httpRoutes) routeInputs.push(routeInput('HTTPRoute', route));
  for (const route of inputs.grpcRoutes) routeInputs.push(routeInput('GRPCRoute', route));
  routeInputs.sort((a, b) => compareCreated(a.created, b.created) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const crossKind = new CrossKindHostnames();
  // Only routes of both kinds can conflict over a hostname; with one kind, nothing need be recorded.
  const bothKinds = inputs.httpRoutes.length > 0 && inputs.grpcRoutes.length > 0;
  cache?.beginAttachments(inputs, addressFor, gateways);
  /** Whether a route attached to one listener twice (two parentRefs): its routes are then placed twice. */
  let attachedTwice = false;
  for (const input of routeInputs) {
    const { kind, route } = input;
    const { parents, attachments } = cache ? cache.attachment(route, () => attacher.attach(input)) : attacher.attach(input);
    if (parents.length === 0) continue; // no parent of Weft's: not ours to report on
    const translated = translate(input);
    const admitted = translated.invalid ? { kept: [] } : bothKinds ? crossKind.admit(kind, route.metadata, attachments) : { kept: attachments };
    const attached = admitted.kept;
    const rejected = 'rejected' in admitted ? admitted.rejected : undefined;
    const status = (): ObjectStatus => routeStatus(kind, route, parentStatuses(parents, translated, rejected, generationOf(route.metadata)));
    statuses.push(cache && !rejected ? cache.routeStatus(route, translated, status) : status());
    if (!translated.invalid) {
      // Only Accepted routes count in attachedRoutes; attachments come from Accepted parents only.
      attacher.countAttached(attached);
      attachedTwice ||= attached.some((a, i) => attached.findIndex((b) => b.listener === a.listener) !== i);
      for (const a of attached) {
        const byHost = placed.get(a.listener) ?? new Map<string, RankedRoute[]>();
        placed.set(a.listener, byHost);
        for (const host of a.hostnames) {
          const list = byHost.get(host);
          if (list) list.push(...translated.routes);
          else byHost.set(host, [...translated.routes]);
        }
      }
    }
  }
  const placedTls = attachTlsRoutes(inputs, attacher, backends, statuses);

  const ir: ProxyIR = { httpListeners: [] };
  const bySocket = new Map<string, HttpListenerIR>();
  /** The Gateway listener hostname each TLS chain comes from (`*`: none), for SNI precedence. */
  const chainListenerHost = new Map<TlsChainIR, string>();
  /** socket → virtual host hostname → hostname of the listener the routes came through (`*`: none) → routes */
  const routesBySocketHost = new Map<string, Map<string, Map<string, RankedRoute[]>>>();
  const listenerHostnames = new Map<string, Set<string>>();
  /** Lists of routes placed through more than one listener. */
  const merged = new Set<RankedRoute[]>();
  const clientCertificates = new BackendClientCertificates();
  for (const state of gateways) {
    for (const l of state.listeners) {
      if (!l.usable || l.refsBroken) continue;
      const listenerHostname = l.spec.hostname ?? '*';
      for (const address of state.addresses) {
        const name = socketName(address, l.spec.port);
        if (!bySocket.has(name)) {
          bySocket.set(name, { name, address, port: l.spec.port, virtualHosts: [], ...(l.tls ? { tls: { chains: [] } } : {}) });
          routesBySocketHost.set(name, new Map());
          listenerHostnames.set(name, new Set());
        }
        for (const chain of listenerChains(l, placedTls.get(l) ?? [])) {
          bySocket.get(name)!.tls?.chains.push(chain);
          chainListenerHost.set(chain, l.spec.hostname ?? '*');
        }
        listenerHostnames.get(name)!.add(listenerHostname);
        const hosts = routesBySocketHost.get(name)!;
        for (const [host, placedRoutes] of placed.get(l) ?? []) {
          const routes = clientCertificates.apply(placedRoutes, state.backendClientCertificate);
          const byListener = hosts.get(host) ?? new Map<string, RankedRoute[]>();
          hosts.set(host, byListener);
          const earlier = byListener.get(listenerHostname);
          // Placed lists are not changed from here on: one listener's is used as it is.
          const list = earlier ? [...earlier, ...routes] : routes;
          byListener.set(listenerHostname, list);
          // Routes of two listeners in one list: a route attached to both is in it twice.
          if (earlier) merged.add(list);
        }
      }
    }
  }
  const orderedLists = new OrderedLists();
  for (const [name, listener] of bySocket) {
    const hosts = routesBySocketHost.get(name)!;
    // Listener isolation: a request belongs to the most specific listener whose hostname matches it, and
    // only that listener's routes may serve it. Envoy picks the most specific virtual host, so every
    // listener hostname that a less specific one covers gets one (empty if need be: a 404, never the less
    // specific listener's routes).
    const ownHostnames = [...listenerHostnames.get(name)!].sort(compareHostSpecificity);
    for (const h of ownHostnames) {
      if (!hosts.has(h) && ownHostnames.some((other) => other !== h && listenerHostnameCovers(other, h))) hosts.set(h, new Map());
    }
    for (const host of [...hosts.keys()].sort(compareHostSpecificity)) {
      const owner = ownHostnames.find((h) => listenerHostnameCovers(h, host))!;
      const ranked = hosts.get(host)!.get(owner) ?? [];
      const order = (r: readonly RankedRoute[]): HttpRouteIR[] => inPrecedenceOrder(r, attachedTwice || merged.has(r as RankedRoute[]));
      const routes = cache ? cache.ordered(`${name}/${host}`, ranked, (r) => orderedLists.ordered(r, order)) : orderedLists.ordered(ranked, order);
      listener.virtualHosts.push({ name: `${name}/${host}`, hostname: host, listenerHostname: owner, routes });
    }
    if (listener.tls) {
      // HTTPS listeners' chains keep their SNI names before TLSRoutes' (see dedupeServerNames).
      // When routes of two TLS listeners name the same host, the most specific listener keeps it (GEP-2643).
      const rank = (c: TlsChainIR): string => chainListenerHost.get(c) ?? '*';
      listener.tls.chains = dedupeServerNames([...listener.tls.chains].sort((a, b) => Number(!!a.tcpBackends) - Number(!!b.tcpBackends) || compareHostSpecificity(rank(a), rank(b))));
      if (listener.tls.chains.length === 0) continue; // a TLS listener without routes has nothing to serve
    }
    ir.httpListeners.push(listener);
  }
  ir.httpListeners.sort((a, b) => a.name.localeCompare(b.name));
  statuses.push(...gateways.map(gatewayStatus));
  statuses.push(...gateways.flatMap((g) => g.listenerSets.map(listenerSetStatus)));
  statuses.push(...backends.tlsPolicies.statuses(policyAncestors(inputs, gateways)));
  cache?.endTranslation();
  return { ir, statuses: cache ? cache.sortStatuses(statuses, compareStatuses) : statuses.sort(compareStatuses) };
}

/**
 * A virtual host's routes in match order; a route attached through two listeners of one socket (or twice to one
 * listener) appears once. `mayRepeat`: whether that can be the case (route names are only hashed then).
 */
function inPrecedenceOrder(ranked: readonly RankedRoute[], mayRepeat: boolean): HttpRouteIR[] {
  if (!mayRepeat) return sortByPrecedence(ranked).map((r) => r.route);
  const unique = new Map<string, RankedRoute>();
  for (const r of ranked) unique.set(r.route.name, r);
  return sortByPrecedence([...unique.values()]).map((r) => r.route);
}

/**
 * A route's parents as its status reports them, with every condition: Accepted (False when the route is invalid,
 * or `rejected` for a hostname conflict), ResolvedRefs, and PartiallyInvalid while Accepted. New objects:
 * `parents` are left as they are.
 */
function parentStatuses(parents: ParentStatus[], translated: TranslatedHttpRoute, rejected: Map<ParentStatus, Condition> | undefined, gen: number): ParentStatus[] {
  const { invalid, backendProblem, partiallyInvalid } = translated;
  const resolvedRefs = backendProblem
    ? condition('ResolvedRefs', false, backendProblem.reason, backendProblem.message, gen)
    : condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen);
  return parents.map((p) => {
    let accepted = rejected?.get(p) ?? p.conditions[0];
    if (invalid && accepted.status === 'True') accepted = condition('Accepted', false, invalid.reason, invalid.message, gen);
    const partially = partiallyInvalid && accepted.status === 'True' ? condition('PartiallyInvalid', true, partiallyInvalid.reason, partiallyInvalid.message, gen) : undefined;
    // Arrays of their final size (a status is kept for as long as the translation: no spare capacity from push).
    const conditions = p.conditions.length === 1 ? (partially ? [accepted, resolvedRefs, partially] : [accepted, resolvedRefs]) : [accepted, ...p.conditions.slice(1), resolvedRefs, ...(partially ? [partially] : [])];
    return { parentRef: p.parentRef, controllerName: CONTROLLER_NAME, conditions };
  });
}

/** `parents`: as the status reports them (parentStatuses), or the attacher's (TLSRoutes: their controllerName is Weft's too). */
function routeStatus(kind: string, route: { metadata: { name: string; namespace?: string }; source: ObjectStatus['source'] }, parents: ParentStatus[]): ObjectStatus {
  const meta = route.metadata;
  return { kind, namespace: meta.namespace, name: meta.name, source: route.source, status: { parents } };
}

/** Gateways (of Weft's) that routes naming Service ns/name have as parents: a BackendTLSPolicy's ancestors. */
function policyAncestors(inputs: Inputs, gateways: GatewayState[]): (namespace: string, service: string) => Array<{ namespace: string; name: string }> {
  // Built on first use: without BackendTLSPolicies (the common case) nobody asks, and the index walks every route.
  let lookup: ((namespace: string, service: string) => Array<{ namespace: string; name: string }>) | undefined;
  return (namespace, service) => (lookup ??= ancestorIndex(inputs, gateways))(namespace, service);
}

function ancestorIndex(inputs: Inputs, gateways: GatewayState[]): (namespace: string, service: string) => Array<{ namespace: string; name: string }> {
  const ours = new Set(gateways.map((g) => `${g.gateway.metadata.namespace}/${g.gateway.metadata.name}`));
  const index = new Map<string, Map<string, { namespace: string; name: string }>>();
  const routes = [...inputs.httpRoutes, ...inputs.grpcRoutes, ...inputs.tlsRoutes] as Array<{ metadata: { namespace?: string }; spec: { parentRefs?: Array<{ group?: string; kind?: string; namespace?: string; name: string }>; rules?: Array<{ backendRefs?: Array<{ group?: string; kind?: string; namespace?: string; name: string }> }> } }>;
  for (const r of routes) {
    const ns = r.metadata.namespace ?? 'default';
    const parents = (r.spec.parentRefs ?? [])
      .filter((p) => (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (p.kind ?? 'Gateway') === 'Gateway' && ours.has(`${p.namespace ?? ns}/${p.name}`))
      .map((p) => ({ namespace: p.namespace ?? ns, name: p.name }));
    for (const rule of r.spec.rules ?? []) {
      for (const b of rule.backendRefs ?? []) {
        if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') continue;
        const key = `${b.namespace ?? ns}/${b.name}`;
        const m = index.get(key) ?? new Map<string, { namespace: string; name: string }>();
        index.set(key, m);
        for (const p of parents) m.set(`${p.namespace}/${p.name}`, p);
      }
    }
  }
  return (namespace, service) => [...(index.get(`${namespace}/${service}`)?.values() ?? [])];
}

/** TLSRoutes: attached like the other routes; returns the placed ones per listener and adds their statuses. */
function attachTlsRoutes(inputs: Inputs, attacher: RouteAttacher, backends: BackendResolver, statuses: ObjectStatus[]): Map<ListenerState, PlacedTlsRoute[]> {
  const placed = new Map<ListenerState, PlacedTlsRoute[]>();
  for (const route of [...inputs.tlsRoutes].sort((a, b) => compareRouteAge(a.metadata, b.metadata))) {
    const gen = generationOf(route.metadata);
    const routeLike = { kind: 'TLSRoute' as const, metadata: route.metadata, spec: route.spec };
    const { parents, attachments } = attacher.attach(routeLike);
    if (parents.length === 0) continue;
    const translated = translateTlsRoute(route, backends);
    const p = translated.backendProblem;
    const resolvedRefs = p ? condition('ResolvedRefs', false, p.reason, p.message, gen) : condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen);
    for (const parent of parents) parent.conditions.push(resolvedRefs);
    attacher.countAttached(attachments);
    const key = `tlsroute/${route.metadata.namespace}/${route.metadata.name}`;
    for (const a of attachments) placed.set(a.listener, [...(placed.get(a.listener) ?? []), { key, hostnames: a.hostnames, backends: translated.backends }]);
    statuses.push(routeStatus('TLSRoute', route, parents.map((p) => ({ ...p, controllerName: CONTROLLER_NAME }))));
  }
  return placed;
}

const KIND_ORDER = ['GatewayClass', 'Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'BackendTLSPolicy'];

/** The order localeCompare gives (it compares through a default Intl.Collator), without building one per call. */
const collator = new Intl.Collator();

function compareStatuses(a: ObjectStatus, b: ObjectStatus): number {
  // Equal strings compare equal: no locale comparison of a namespace with itself (most pairs share one).
  return KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.namespace === b.namespace ? 0 : collator.compare(a.namespace ?? '', b.namespace ?? '')) || collator.compare(a.name, b.name);
}

/** An HTTPRoute or GRPCRoute to attach and translate, with its age and "{namespace}/{name}" for ordering. */
interface RouteInput {
  kind: 'HTTPRoute' | 'GRPCRoute';
  route: Obj<IHTTPRoute> | Obj<IGRPCRoute>;
  metadata: ObjectMeta;
  spec: RouteLike['spec'];
  key: string;
  /** timestampMs of its creationTimestamp. */
  created: number;
}

function routeInput(kind: RouteInput['kind'], route: RouteInput['route']): RouteInput {
  const m = route.metadata;
  return { kind, route, metadata: m, spec: route.spec, key: `${m.namespace ?? 'default'}/${m.name}`, created: timestampMs(m.creationTimestamp ?? '') };
}
