// Mesh mTLS between node proxies → Envoy resources (a pure function of the node's mesh view).
//
// HTTP: TLS origination of HTTP/2 between the node Envoys. A pod's plaintext request reaches its node's Envoy (the
// outbound listener, an explicit proxy, or the transparent listener, where the datapath redirects connections to
// other nodes' pods' mesh ports and the original destination picks the service); the Envoy picks the SVID of the
// pod's workload by the pod's source address, opens (or reuses) an HTTP/2 connection over mutual TLS to the
// destination node's Envoy, presenting that workload's SVID and checking that the peer presents the destination
// workload's SPIFFE ID. The destination Envoy requires a client certificate chaining to the trust bundle with a
// URI SAN of the trust domain, and sets x-forwarded-client-cert from the verified certificate itself
// (SANITIZE_SET: whatever the client sent in that header is discarded), so L7 policy at the destination Envoy
// sees the request and the source workload's verified identity.
//
// Other TCP (the transparent listener only): an HTTP/2 CONNECT tunnel inside the same mutual TLS, as Istio's HBONE
// carries it. The listener's http_inspector tells HTTP from anything else; a non-HTTP connection goes through a
// tcp_proxy whose tunneling_config sends `CONNECT <destination ip:port>` over the same per-(source, service) cluster
// (the source's SVID, the destination's SPIFFE ID checked, ALPN h2). The destination node's inbound listener, on
// the same filter chain (SNI), terminates the CONNECT (a `connect_matcher` route with `connect_config`) and forwards
// the bytes to the pod: the RBAC filter (allowedIds) sees the verified peer certificate as for any request. A
// service served with the destination's L7 policy (routeConfig) has no CONNECT route: raw bytes would bypass its
// HTTP rules, so a tunnel to it is refused (404). Likewise a source whose own egress HTTP rules restrict the service
// (RemoteService.clientsEgress.clients) never takes the tunnel: its connections are always parsed as HTTP. HTTP stays off the tunnel: it keeps one HTTP layer fewer and
// per-request L7 policy and XFCC at the destination.
//
// Certificates arrive over SDS: one Secret per workload SVID (`svid:<spiffe id>`) and one for the
// trust bundle (`bundle:<trust domain>`); rotating either never touches listeners or clusters.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster.js';
import type { FilterChain } from '../generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener.js';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration.js';
import type { RBAC } from '../generated/envoy/extensions/filters/http/rbac/v3/RBAC.js';
import type { RBACPerRoute } from '../generated/envoy/extensions/filters/http/rbac/v3/RBACPerRoute.js';
import type { TcpProxy } from '../generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.js';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { CertificateValidationContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CertificateValidationContext.js';
import type { CommonTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CommonTlsContext.js';
import type { DownstreamTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js';
import type { UpstreamTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.js';
import { l7IngressAccessLog, l7MeshOutboundAccessLog, MESH_INBOUND_POLICY_FILTERS, MESH_OUTBOUND_POLICY_FILTERS, type MeshClientsEgress } from '../l7policy/envoy.js';
import { MESH_INBOUND_RBAC_FILTER, POLICY_REQUEST_HANDLING } from '../l7policy/http-hardening.js';
import { ADS_CONFIG_SOURCE } from '../xds/builders.js';
import { clusterResource, listenerResource, routeConfigurationResource, secretResource } from '../xds/envoy-resources.js';
import { packAny } from '../xds/protos.js';
import type { Resource } from '../xds/resource.js';
import { parseSpiffeId } from './spiffe-id.js';
import type { X509Svid } from './svid.js';

export interface SocketAddress {
  address: string;
  port: number;
}

/** A workload running on this node whose pods send through the outbound listener. */
export interface SourceWorkload {
  id: string;
  /** The pods' source addresses (exact IPs). */
  sources: string[];
}

/** A service on another node, reached through that node's inbound (mTLS) listener. */
export interface RemoteService {
  /** The name pods use (Host header / :authority, with or without a port); also the SNI. */
  host: string;
  node: SocketAddress;
  /** The SPIFFE ID the destination must present. */
  id: string;
  /**
   * Transparent entry: the pod's own address and port, which the datapath redirects into the transparent
   * listener (the connection's original destination picks the service).
   */
  destination?: SocketAddress;
  /**
   * The clients' egress rules towards this service (the L7 policy translator's, src/l7policy/envoy.ts): this node's
   * outbound and transparent listeners apply them, by the client's address, before the request crosses (Cilium
   * checks a client's egress rules at the client; the destination's node checks its ingress rules).
   */
  clientsEgress?: MeshClientsEgress;
}

/** A workload on this node served through the inbound listener. */
export interface LocalService {
  host: string;
  id: string;
  backend: SocketAddress;
  /**
   * The SPIFFE IDs that may call it (matched against the verified client certificate's URI SAN, never a
   * header); others get 403. Absent: every authenticated workload of the trust domain.
   */
  allowedIds?: string[];
  /**
   * The destination endpoint's L7 policy instead: the name of the route configuration the L7 policy translator
   * emits for this endpoint port (src/l7policy/envoy.ts, `mesh` option: meshRouteName), which decides by the
   * verified peer SPIFFE ID and routes to the application itself (`backend` is then not used).
   */
  routeConfig?: string;
  /**
   * The name of the route configuration the inbound listener serves this service with when no L7 policy does
   * (default `<prefix>-inbound|<host>`). Kubernetes gives the name of the L7 policy's route (routeConfig), so
   * that a policy starting or ending to cover the port changes a route configuration, not the listener: a
   * listener change drains the replaced filter chain, and for Envoy's drain time its open connections keep the
   * old route, then are closed under their requests.
   */
  routeName?: string;
}

export interface MeshNodeView {
  trustDomain: string;
  /** Where the node's pods send (the outbound listener); absent when none does. */
  outbound?: SocketAddress & {
    sources: SourceWorkload[];
    services: RemoteService[];
    /**
     * The transparent listener's port (all addresses), where the datapath redirects the sources' connections to the
     * services' destinations (Kubernetes with the datapath); absent: the explicit proxy only.
     */
    transparentPort?: number;
    /** Where the outbound and transparent listeners write the L7 policy's access log (the clients' egress verdicts); none when absent. */
    accessLogPath?: string;
  };
  /** Where other nodes connect (the inbound listener); absent when nothing is served. */
  inbound?: SocketAddress & {
    services: LocalService[];
    /** Where the inbound listener writes the L7 policy's access log (src/l7policy: one JSON line per request); none when absent. */
    accessLogPath?: string;
  };
  /** Plaintext between nodes (the benchmark's baseline only): no TLS, no identity. */
  plaintext?: boolean;
  /** Requests per node-to-node connection (1 makes every request a new handshake); unlimited by default. */
  maxRequestsPerConnection?: number;
  /** false: no TLS session resumption between nodes, every connection a full handshake (benchmarks). */
  sessionResumption?: boolean;
  /** Prefix of every resource name (default `mesh`), so that several views can share one Envoy (the benchmark's). */
  namePrefix?: string;
}

export const svidSecretName = (id: string): string => `svid:${id}`;
export const bundleSecretName = (trustDomain: string): string => `bundle:${trustDomain}`;
const prefixOf = (view: MeshNodeView): string => view.namePrefix ?? 'mesh';

const sds = (name: string): { name: string; sds_config: typeof ADS_CONFIG_SOURCE } => ({ name, sds_config: ADS_CONFIG_SOURCE });
const router = { name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}) };
const slug = (s: string): string => s.replace(/[^A-Za-z0-9.-]/g, '_');

function tlsContext(ownId: string, trustDomain: string, peer: { exact: string } | { prefix: string }): CommonTlsContext {
  const defaults: CertificateValidationContext = { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: peer }] };
  return {
    // TLS 1.3 only (Envoy's client default maximum is 1.2, so both ends are set).
    tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
    tls_certificate_sds_secret_configs: [sds(svidSecretName(ownId))],
    combined_validation_context: { default_validation_context: defaults, validation_context_sds_secret_config: sds(bundleSecretName(trustDomain)) },
    alpn_protocols: ['h2'],
  };
}

/** RBAC allowing only requests whose connection's verified peer certificate carries one of `ids` (Envoy's principal_name is the URI SAN when there is one). */
function spiffeRbac(ids: string[]): RBAC {
  return {
    rules: {
      action: 'ALLOW',
      policies: { 'spiffe-ids': { permissions: [{ any: true }], principals: ids.map((id) => ({ authenticated: { principal_name: { exact: id } } })) } },
    },
  };
}

export { MESH_INBOUND_RBAC_FILTER };

/**
 * The inbound HCM always has the RBAC filter (without rules it allows everything); each service's
 * allowed IDs ride in its route configuration over RDS (RBACPerRoute), so a change reaches the next
 * request on established connections instead of waiting for a listener drain.
 */
const inboundRbacFilter = { name: MESH_INBOUND_RBAC_FILTER, typed_config: packAny('envoy.extensions.filters.http.rbac.v3.RBAC', {} satisfies RBAC) };

type NamedFilter = { name: string; typed_config: ReturnType<typeof packAny> };

function hcm(statPrefix: string, route: RouteConfiguration | { rds: string }, inbound: boolean, accessLogPath?: string): NamedFilter {
  const config: HttpConnectionManager = {
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    ...('rds' in route ? { rds: { route_config_name: route.rds, config_source: ADS_CONFIG_SOURCE } } : { route_config: route }),
    // Outbound: the clients' egress rules, off unless a service's virtual host enables them (RemoteService.clientsEgress).
    // Inbound: the destination's header actions after its verdict, off unless its L7 policy's mesh route enables them.
    http_filters: inbound ? [inboundRbacFilter, ...MESH_INBOUND_POLICY_FILTERS, router] : [...MESH_OUTBOUND_POLICY_FILTERS, router],
    // Outbound: a pod's x-forwarded-client-cert is dropped. Inbound: replaced by what Envoy verified.
    forward_client_cert_details: inbound ? 'SANITIZE_SET' : 'SANITIZE',
    // L7 policy (the destination's inbound, the clients' egress outbound) sees the path the application will
    // see; refusals answer `Access denied`.
    ...(inbound ? { set_current_client_cert_details: { uri: true } } : {}),
    ...POLICY_REQUEST_HANDLING,
    ...(accessLogPath ? { access_log: [inbound ? l7IngressAccessLog(accessLogPath) : l7MeshOutboundAccessLog(accessLogPath)] } : {}),
  };
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', config) };
}

function staticCluster(name: string, to: SocketAddress, extra: Partial<Cluster> = {}): Cluster & { name: string } {
  return {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: '2' },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: to.address, port_value: to.port } } } }] }] },
    ...extra,
  };
}

/** The tunnel's `:authority`, the original destination (HBONE's form), brackets around an IPv6 address. */
export const tunnelAuthority = (to: SocketAddress): string => (to.address.includes(':') ? `[${to.address}]:${to.port}` : `${to.address}:${to.port}`);

/**
 * How long the transparent listener waits for a connection's first bytes to tell HTTP from other TCP; a protocol in
 * which the server speaks first (SMTP, MySQL) then goes through the tunnel after this delay.
 */
export const PROTOCOL_DETECTION_TIMEOUT_MS = 1000;

/** Non-HTTP TCP to `destination` through an HTTP/2 CONNECT tunnel over `cluster` (the per-source, per-service mTLS cluster). */
function tunnelFilter(statPrefix: string, cluster: string, destination: SocketAddress): NamedFilter {
  const proxy: TcpProxy = { stat_prefix: statPrefix, cluster, tunneling_config: { hostname: tunnelAuthority(destination) } };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', proxy) };
}

/** The inbound end of the tunnel: a CONNECT request is terminated and its payload sent to `cluster` as raw TCP. */
const connectRoute = (cluster: string) => ({ match: { connect_matcher: {} }, route: { cluster, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } });

/** What the transparent listener's http_inspector reports for HTTP/1.x and HTTP/2 with prior knowledge. */
const HTTP_PROTOCOLS = ['http/1.1', 'http/1.0', 'h2c'];

const hostPrefix = (a: string) => ({ address_prefix: a, prefix_len: { value: a.includes(':') ? 128 : 32 } });

type VirtualHost = NonNullable<RouteConfiguration['virtual_hosts']>[number];

/** A service's virtual host on the outbound side: to its cluster, with the clients' egress rules when it has some. */
function outboundHost(svc: RemoteService, cluster: string): VirtualHost {
  const policy = svc.clientsEgress;
  return {
    name: slug(svc.host),
    domains: [svc.host, `${svc.host}:*`],
    routes: [{ match: { prefix: '/' }, route: { cluster }, ...(policy ? { name: policy.routeName } : {}) }],
    ...(policy ? { typed_per_filter_config: policy.typedPerFilterConfig } : {}),
  };
}

function outboundResources(view: MeshNodeView, out: NonNullable<MeshNodeView['outbound']>): Resource[] {
  const resources: Resource[] = [];
  const chains: FilterChain[] = [];
  const transparentChains: FilterChain[] = [];
  for (const src of out.sources) {
    const vhosts = out.services.map((svc) => {
      const cluster = `${prefixOf(view)}-out|${slug(src.id)}|${slug(svc.host)}`;
      const tls: UpstreamTlsContext = {
        common_tls_context: tlsContext(src.id, view.trustDomain, { exact: svc.id }),
        sni: svc.host,
        ...(view.sessionResumption === false ? { max_session_keys: { value: 0 } } : {}),
      };
      resources.push(
        clusterResource(
          staticCluster(cluster, svc.node, {
            ...(view.plaintext ? {} : { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', tls) } }),
            typed_extension_protocol_options: {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': packAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
                explicit_http_config: { http2_protocol_options: {} },
                ...(view.maxRequestsPerConnection ? { common_http_protocol_options: { max_requests_per_connection: { value: view.maxRequestsPerConnection } } } : {}),
              }),
            },
          }),
        ),
      );
      if (out.transparentPort !== undefined && svc.destination) {
        // One chain per (source workload, destination): the original destination picks the service whatever the
        // Host header says, the source address the SVID; the request crosses as through the explicit proxy.
        // HTTP (what http_inspector recognises) is originated as requests; anything else takes the CONNECT tunnel.
        const match = { destination_port: { value: svc.destination.port }, prefix_ranges: [hostPrefix(svc.destination.address)] };
        const http = hcm(`${prefixOf(view)}-transparent`, { name: `${prefixOf(view)}-transparent|${src.id}|${svc.host}`, virtual_hosts: [{ ...outboundHost(svc, cluster), domains: ['*'] }] }, false, out.accessLogPath);
        transparentChains.push({ name: `from|${src.id}|to|${svc.host}`, filter_chain_match: { ...match, source_prefix_ranges: src.sources.map(hostPrefix), application_protocols: HTTP_PROTOCOLS }, filters: [http] });
        // Sources whose egress HTTP rules restrict this port never take the tunnel: as Cilium's proxy does on a port
        // under HTTP rules, their connections are parsed as HTTP whatever the inspector saw (HTTP sent after the
        // detection timeout meets the rules; anything else fails HTTP parsing), so raw bytes cannot escape the rules.
        const policed = new Set(svc.clientsEgress?.clients ?? []);
        const [httpOnly, tunnelled] = [src.sources.filter((a) => policed.has(a)), src.sources.filter((a) => !policed.has(a))];
        if (httpOnly.length > 0) transparentChains.push({ name: `http-only|from|${src.id}|to|${svc.host}`, filter_chain_match: { ...match, source_prefix_ranges: httpOnly.map(hostPrefix) }, filters: [http] });
        if (tunnelled.length > 0) transparentChains.push({ name: `tunnel|from|${src.id}|to|${svc.host}`, filter_chain_match: { ...match, source_prefix_ranges: tunnelled.map(hostPrefix) }, filters: [tunnelFilter(`${prefixOf(view)}-tunnel`, cluster, svc.destination)] });
      }
      return outboundHost(svc, cluster);
    });
    // The services over RDS: a pod coming or going anywhere changes this route configuration, not the listener's
    // chain (a changed chain is drained: its open connections closed under their requests after the drain time).
    const routes: RouteConfiguration & { name: string } = { name: `${prefixOf(view)}-outbound|${src.id}`, virtual_hosts: vhosts };
    resources.push(routeConfigurationResource(routes));
    chains.push({
      name: `from|${src.id}`,
      filter_chain_match: { source_prefix_ranges: src.sources.map(hostPrefix) },
      filters: [hcm(`${prefixOf(view)}-outbound`, { rds: routes.name }, false, out.accessLogPath)],
    });
  }
  const listener: Listener & { name: string } = { name: `${prefixOf(view)}-outbound`, address: { socket_address: { address: out.address, port_value: out.port } }, filter_chains: chains };
  resources.push(listenerResource(listener));
  // Envoy refuses a listener without filter chains; with no destination the datapath redirects nothing here.
  if (transparentChains.length > 0) {
    resources.push(listenerResource({
      name: `${prefixOf(view)}-transparent`,
      // All addresses: the datapath assigns connections addressed to other pods to this socket (bpf_sk_assign).
      address: { socket_address: { address: '0.0.0.0', port_value: out.transparentPort } },
      transparent: { value: true },
      listener_filters: [
        { name: 'envoy.filters.listener.original_dst', typed_config: packAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) },
        { name: 'envoy.filters.listener.http_inspector', typed_config: packAny('envoy.extensions.filters.listener.http_inspector.v3.HttpInspector', {}) },
      ],
      // A connection whose first bytes never come (the server speaks first) is not closed: it takes the tunnel.
      listener_filters_timeout: { seconds: String(Math.floor(PROTOCOL_DETECTION_TIMEOUT_MS / 1000)), nanos: (PROTOCOL_DETECTION_TIMEOUT_MS % 1000) * 1e6 },
      continue_on_listener_filters_timeout: true,
      filter_chains: transparentChains,
    }));
  }
  return resources;
}

function inboundResources(view: MeshNodeView, inb: NonNullable<MeshNodeView['inbound']>): Resource[] {
  const resources: Resource[] = [];
  const chains: FilterChain[] = [];
  for (const svc of inb.services) {
    let routeName = svc.routeConfig;
    if (!routeName) {
      const cluster = `${prefixOf(view)}-in|${slug(svc.host)}`;
      resources.push(clusterResource(staticCluster(cluster, svc.backend)));
      const allowed = !view.plaintext && svc.allowedIds ? { typed_per_filter_config: { [MESH_INBOUND_RBAC_FILTER]: packAny('envoy.extensions.filters.http.rbac.v3.RBACPerRoute', { rbac: spiffeRbac(svc.allowedIds) } satisfies RBACPerRoute) } } : {};
      const route: RouteConfiguration & { name: string } = {
        name: svc.routeName ?? `${prefixOf(view)}-inbound|${svc.host}`,
        // The CONNECT route (the tunnel's end) first: a CONNECT request has no path for the prefix route to match.
        virtual_hosts: [{ name: slug(svc.host), domains: ['*'], routes: [...(view.plaintext ? [] : [connectRoute(cluster)]), { match: { prefix: '/' }, route: { cluster } }], ...allowed }],
      };
      resources.push(routeConfigurationResource(route));
      routeName = route.name;
    }
    const tls: DownstreamTlsContext = { common_tls_context: tlsContext(svc.id, view.trustDomain, { prefix: `spiffe://${view.trustDomain}/` }), require_client_certificate: { value: true } };
    chains.push({
      name: `to|${svc.id}`,
      ...(view.plaintext ? {} : { filter_chain_match: { server_names: [svc.host] } }),
      ...(view.plaintext ? {} : { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', tls) } }),
      filters: [hcm(`${prefixOf(view)}-inbound`, { rds: routeName }, !view.plaintext, inb.accessLogPath)],
    });
  }
  resources.push(
    listenerResource({
      name: `${prefixOf(view)}-inbound`,
      address: { socket_address: { address: inb.address, port_value: inb.port } },
      ...(view.plaintext ? {} : { listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: packAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}) }] }),
      filter_chains: chains,
    }),
  );
  return resources;
}

/** What is wrong with a mesh view, each problem naming its field; empty when nothing is. */
export function meshViewProblems(view: MeshNodeView): string[] {
  const problems: string[] = [];
  const id = (field: string, value: string): void => {
    try {
      const parsed = parseSpiffeId(value);
      if (parsed.trustDomain !== view.trustDomain) problems.push(`${field}: ${value} is not in trust domain ${view.trustDomain}`);
      else if (parsed.path === '') problems.push(`${field}: ${value} has no path (a workload's SPIFFE ID needs one)`);
    } catch (err) {
      problems.push(`${field}: ${(err as Error).message}`);
    }
  };
  const port = (field: string, p: number): void => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(`${field}: ${p} is not a port (1-65535)`);
  };
  view.outbound?.sources.forEach((s, i) => {
    id(`outbound.sources[${i}].id`, s.id);
    if (s.sources.length === 0) problems.push(`outbound.sources[${i}].sources: no source address`);
  });
  view.outbound?.services.forEach((s, i) => {
    id(`outbound.services[${i}].id`, s.id);
    port(`outbound.services[${i}].node.port`, s.node.port);
    if (s.destination) port(`outbound.services[${i}].destination.port`, s.destination.port);
  });
  view.inbound?.services.forEach((s, i) => {
    id(`inbound.services[${i}].id`, s.id);
    s.allowedIds?.forEach((a, j) => id(`inbound.services[${i}].allowedIds[${j}]`, a));
    if (view.plaintext && s.allowedIds) problems.push(`inbound.services[${i}].allowedIds: plaintext carries no identity to check`);
    if (view.plaintext && s.routeConfig) problems.push(`inbound.services[${i}].routeConfig: plaintext carries no identity for the L7 policy to check`);
    if (s.routeConfig !== undefined && s.allowedIds) problems.push(`inbound.services[${i}].allowedIds: the service's L7 policy (routeConfig) decides who may call; give one of the two`);
    if (s.routeConfig !== undefined && s.routeConfig.trim() === '') problems.push(`inbound.services[${i}].routeConfig: empty`);
    if (s.routeName !== undefined && s.routeName.trim() === '') problems.push(`inbound.services[${i}].routeName: empty`);
    port(`inbound.services[${i}].backend.port`, s.backend.port);
  });
  if (view.outbound) port('outbound.port', view.outbound.port);
  if (view.outbound?.transparentPort !== undefined) port('outbound.transparentPort', view.outbound.transparentPort);
  if (view.inbound) port('inbound.port', view.inbound.port);
  if (view.plaintext && (view.inbound?.services.length ?? 0) > 1) problems.push('inbound.services: a plaintext inbound listener serves one service (there is no SNI to choose by)');
  return problems;
}

/** The listeners and clusters of a node's mesh view (Secrets come from meshSecrets); throws, naming every bad field, on a bad view. */
export function meshResources(view: MeshNodeView): Resource[] {
  const problems = meshViewProblems(view);
  if (problems.length > 0) throw new Error(`mesh view of trust domain ${view.trustDomain}: ${problems.join('; ')}`);
  return [...(view.outbound ? outboundResources(view, view.outbound) : []), ...(view.inbound ? inboundResources(view, view.inbound) : [])];
}

/** The SPIFFE IDs whose SVIDs a node's Envoy needs. */
export function meshIdentities(view: MeshNodeView): string[] {
  return [...new Set([...(view.outbound?.sources.map((s) => s.id) ?? []), ...(view.inbound?.services.map((s) => s.id) ?? [])])];
}

/** The SDS Secrets: the SVID (chain and key) of each identity the node's config names, and the trust bundle. */
export function meshSecrets(trustDomain: string, svids: ReadonlyMap<string, X509Svid>, bundlePem: string): Resource[] {
  return [
    ...[...svids].map(([id, s]) =>
      secretResource({ name: svidSecretName(id), tls_certificate: { certificate_chain: { inline_string: s.chainPem() }, private_key: { inline_string: s.privateKeyPem() } } }),
    ),
    secretResource({ name: bundleSecretName(trustDomain), validation_context: { trusted_ca: { inline_string: bundlePem } } }),
  ];
}
