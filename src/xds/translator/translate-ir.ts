// The IR → the xDS resources of one node: listeners, their route configurations, clusters and endpoints.
import type { Filter } from '../../generated/envoy/config/listener/v3/Filter.js';
import type { Listener } from '../../generated/envoy/config/listener/v3/Listener.js';
import type { HttpConnectionManager } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Cors } from '../../generated/envoy/extensions/filters/http/cors/v3/Cors.js';
import type { Router } from '../../generated/envoy/extensions/filters/http/router/v3/Router.js';
import type { ClusterIR, HttpListenerIR, HttpRouteIR, ProxyIR, TlsChainIR, VirtualHostIR } from '../../ir/model.js';
import { ADS_CONFIG_SOURCE } from '../builders.js';
import { listenerResource } from '../envoy-resources.js';
import { packAny } from '../protos.js';
import type { Resource } from '../resource.js';
import { clusterResources } from './cluster-resources.js';
import { accessLogServiceResources, grpcAccessLog, type AccessLogServiceTarget } from './access-log-service.js';
import { CORS_FILTER, INVALID_BACKEND_CLUSTER } from './http-routes.js';
import { invalidBackendResources } from './invalid-backend.js';
import { RouteEncodingCache, routeConfigurationFromRoutes, type XdsEncodingCache, type VirtualHostRoutes } from './route-config-bytes.js';
import { SecretSet, tcpClusters, tcpRefusedCluster, tlsListenerParts } from './tls.js';

function httpConnectionManager(listener: HttpListenerIR, routeConfigName: string, accessLog: boolean): HttpConnectionManager {
  return {
    stat_prefix: listener.name,
    ...(accessLog ? { access_log: [grpcAccessLog([])] } : {}),
    codec_type: 'AUTO',
    rds: { route_config_name: routeConfigName, config_source: ADS_CONFIG_SOURCE },
    // Virtual hosts match without the port (the RouteConfiguration's ignore_port_in_host_matching), and Host
    // reaches the backend as the client sent it, port included (HTTPRouteListenerPortMatching,
    // HTTPRouteHostnameIntersection); redirects to a default port handle a Host with a port (envoyRoutes).
    upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: false } }],
    // CORS is always in the chain: inert on routes without a CorsPolicy, and keeping it there means a
    // route gaining or losing CORS changes only the route configuration (RDS), not the Listener (whose
    // update would drain its connections).
    http_filters: [
      { name: CORS_FILTER, typed_config: packAny('envoy.extensions.filters.http.cors.v3.Cors', {} satisfies Cors) },
      { name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {} satisfies Router) },
    ],
  };
}

function httpListener(l: HttpListenerIR, perChain: boolean, accessLog: boolean): Listener & { name: string } {
  const hcm = (routeConfigName: string): Filter => ({
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', httpConnectionManager(l, routeConfigName, accessLog)),
  });
  const shared = hcm(l.name);
  return {
    name: l.name,
    address: { socket_address: { address: l.address, port_value: l.port } },
    ...(l.tls ? tlsListenerParts(l, (chain) => (perChain ? hcm(chainRouteConfigName(l, chain)) : shared)) : { filter_chains: [{ filters: [shared] }] }),
  };
}

const chainRouteConfigName = (l: HttpListenerIR, chain: TlsChainIR): string => `${l.name}/${chain.name}`;

/**
 * The Gateway listener hostnames of a TLS socket's HTTP chains. Any: each chain has a RouteConfiguration of its
 * own (also when it is the only one, so that adding or removing another listener changes route configurations
 * only, never the existing chains, whose connections would be drained).
 */
function httpChainListeners(l: HttpListenerIR): Set<string> {
  return new Set((l.tls?.chains ?? []).filter((c) => !c.tcpBackends && c.listenerHostname !== undefined).map((c) => c.listenerHostname!));
}

/** One route object for every misdirected host, so that its encoding is cached across virtual hosts and reloads. */
const MISDIRECTED: HttpRouteIR = {
  name: 'misdirected-request',
  match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
  action: { kind: 'direct', status: 421 },
};

/**
 * The virtual hosts of the chain of Gateway listener `own` (GatewayHTTPSListenerDetectMisdirectedRequests):
 * its own hosts as on the shared configuration; a host that belongs to another listener of the socket (a virtual
 * host of that listener, or the other listener's hostname itself) answers 421, so that a request whose Host
 * another listener's certificate serves is not served on this connection. A host no listener has is a 404.
 */
function chainVirtualHosts(l: HttpListenerIR, own: string, listeners: Set<string>): VirtualHostRoutes[] {
  const out: VirtualHostRoutes[] = l.virtualHosts.map((vh) =>
    vh.listenerHostname === own ? { name: vh.name, domains: [vh.hostname], routes: routesServing(vh, l.virtualHosts) } : { name: `${vh.name}/misdirected`, domains: [vh.hostname], routes: [MISDIRECTED] },
  );
  const hosts = new Set(l.virtualHosts.map((vh) => vh.hostname));
  for (const other of listeners) {
    if (other !== own && !hosts.has(other)) out.push({ name: `${l.name}/${other}/misdirected`, domains: [other], routes: [MISDIRECTED] });
  }
  return out;
}

/** Whether the virtual host name `general` (`*`, `*.suffix` or exact) covers every host `specific` does. */
function hostCovers(general: string, specific: string): boolean {
  if (general === specific) return false;
  if (general === '*') return true;
  if (!general.startsWith('*.')) return false;
  return specific.endsWith(general.slice(1)) && specific.length > general.length - 1;
}

/**
 * Envoy serves a request from one virtual host only (the most specific domain match), but a Gateway API
 * route without hostnames (or with a wildcard) also serves hosts that other routes name: a request for
 * foo.example.com must still reach a route attached for `*` when no foo.example.com route matches it.
 * So each virtual host ends with the routes of the less specific ones covering it, most specific first
 * (hostname specificity comes before the rule precedence within a host). Only virtual hosts of the same
 * Gateway listener are combined: a request never reaches a less specific listener's routes.
 */
function routesServing(vh: VirtualHostIR, all: VirtualHostIR[]): HttpRouteIR[] {
  // No less specific host covers it: its own routes (unique by name within the listener, as the IR has them).
  if (!all.some((other) => other.listenerHostname === vh.listenerHostname && hostCovers(other.hostname, vh.hostname))) return vh.routes;
  const out = new Map<string, HttpRouteIR>();
  for (const r of vh.routes) out.set(r.name, r);
  for (const other of all) {
    if (other.listenerHostname !== vh.listenerHostname || !hostCovers(other.hostname, vh.hostname)) continue;
    for (const r of other.routes) if (!out.has(r.name)) out.set(r.name, r);
  }
  return [...out.values()];
}

/** Orders as String.prototype.localeCompare does, at a fraction of its cost per call. */
const byName = new Intl.Collator();

/**
 * `cache`: encodings earlier translations made; the output is the same with or without it. `accessLog`: every
 * HTTP connection manager also streams each request to the node's flow agent (Kubernetes mode's flows).
 */
export function translateIrToXds(ir: ProxyIR, cache?: XdsEncodingCache, accessLog?: AccessLogServiceTarget): Resource[] {
  // Without a cache to keep, routes are still encoded once per translation (a route serves several virtual hosts),
  // and clusters are built directly: keying them by content would be work for nothing.
  const routeCache = cache?.routes ?? new RouteEncodingCache();
  const resources: Resource[] = [];
  const clusters = new Map<string, ClusterIR>();
  let needsInvalidBackend = false;
  const secrets = new SecretSet();
  let needsTcpRefused = false;
  for (const l of ir.httpListeners) {
    const tcp = tcpClusters(l);
    for (const c of tcp.clusters) clusters.set(c.name, c);
    needsTcpRefused ||= tcp.refused;
    secrets.addListener(l);
    const chainListeners = httpChainListeners(l);
    const perChain = chainListeners.size > 0;
    resources.push(listenerResource(httpListener(l, perChain, accessLog !== undefined), tcp.clusters.map((c) => c.name)));
    // Every route of a virtual host's own list is also in its serving list, so these name every cluster.
    const routeConfigurations = perChain
      ? l.tls!.chains.filter((c) => !c.tcpBackends).map((c) => routeConfigurationFromRoutes(chainRouteConfigName(l, c), l.port, chainVirtualHosts(l, c.listenerHostname ?? '*', chainListeners), routeCache))
      : [routeConfigurationFromRoutes(l.name, l.port, l.virtualHosts.map((vh) => ({ name: vh.name, domains: [vh.hostname], routes: routesServing(vh, l.virtualHosts) })), routeCache)];
    for (const routeConfiguration of routeConfigurations) {
      for (const c of routeConfiguration.upstreams) clusters.set(c.name, c);
      needsInvalidBackend ||= routeConfiguration.invalidBackend;
    }
    // A TLS socket whose chains all proxy TCP has no HTTP connection manager to feed.
    if (l.tls && l.tls.chains.every((c) => c.tcpBackends)) continue;
    resources.push(...routeConfigurations.map((r) => r.resource));
  }
  for (const c of [...clusters.values()].sort((a, b) => byName.compare(a.name, b.name))) {
    secrets.addCluster(c);
    resources.push(...(cache ? cache.clusterResources(c, clusterResources) : clusterResources(c)));
  }
  if (needsInvalidBackend) resources.push(...invalidBackendResources(INVALID_BACKEND_CLUSTER));
  if (needsTcpRefused) resources.push(tcpRefusedCluster());
  resources.push(...secrets.resources());
  if (accessLog && ir.httpListeners.length > 0) resources.push(...accessLogServiceResources(accessLog));
  cache?.endTranslation();
  return resources;
}
