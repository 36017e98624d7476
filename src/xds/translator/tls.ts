// IR TLS → Envoy: SNI-selected filter chains (terminate or passthrough), their DownstreamTlsContext, the
// SDS Secrets holding certificates and CAs, and the UpstreamTlsContext of backends reached over TLS.
import type { Cluster } from '../../generated/envoy/config/cluster/v3/Cluster.js';
import type { TransportSocket } from '../../generated/envoy/config/core/v3/TransportSocket.js';
import type { Filter } from '../../generated/envoy/config/listener/v3/Filter.js';
import type { FilterChain } from '../../generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../../generated/envoy/config/listener/v3/Listener.js';
import type { TlsInspector } from '../../generated/envoy/extensions/filters/listener/tls_inspector/v3/TlsInspector.js';
import type { TcpProxy } from '../../generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.js';
import type { DownstreamTlsContext } from '../../generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js';
import type { UpstreamTlsContext } from '../../generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.js';
import type { ClusterIR, HttpListenerIR, TlsCertificateIR, TlsChainIR, TlsTerminateIR, TlsTrustIR, UpstreamTlsIR, WeightedBackendIR } from '../../ir/model.js';
import { ADS_CONFIG_SOURCE } from '../builders.js';
import { clusterResource, secretResource } from '../envoy-resources.js';
import { packAny } from '../protos.js';
import type { Resource } from '../resource.js';

/** Where the share of TCP connections of an invalid backendRef goes: a cluster without endpoints (refused). */
export const TCP_REFUSED_CLUSTER = 'weft/tcp-refused';

/** Where Envoy finds the system's CAs (Debian's ca-certificates), for backends validated against them. */
export const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

function sds(name: string): { name: string; sds_config: typeof ADS_CONFIG_SOURCE } {
  return { name, sds_config: ADS_CONFIG_SOURCE };
}

function downstreamTlsContext(t: TlsTerminateIR): DownstreamTlsContext {
  const v = t.clientValidation;
  return {
    common_tls_context: {
      tls_certificate_sds_secret_configs: t.certificates.map((c) => sds(c.name)),
      ...(t.alpn.length > 0 ? { alpn_protocols: t.alpn } : {}),
      ...(v
        ? v.mode === 'AllowValidOnly'
          ? { validation_context_sds_secret_config: sds(v.trust.name) }
          : // Fallback: a certificate is asked for and checked when given, but neither its absence nor
            // an untrusted one fails the handshake.
            { combined_validation_context: { default_validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' }, validation_context_sds_secret_config: sds(v.trust.name) } }
        : {}),
    },
    ...(v?.mode === 'AllowValidOnly' ? { require_client_certificate: { value: true } } : {}),
  };
}

function tlsTransportSocket(t: TlsTerminateIR): TransportSocket {
  return { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', downstreamTlsContext(t)) };
}

function tcpProxyFilter(statPrefix: string, backends: WeightedBackendIR[]): Filter {
  const named = backends.filter((b) => b.weight > 0).map((b) => ({ name: b.cluster?.name ?? TCP_REFUSED_CLUSTER, weight: b.weight }));
  const proxy: TcpProxy =
    named.length === 1 || named.length === 0
      ? { stat_prefix: statPrefix, cluster: named[0]?.name ?? TCP_REFUSED_CLUSTER }
      : { stat_prefix: statPrefix, weighted_clusters: { clusters: named } };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', proxy) };
}

function filterChain(listener: HttpListenerIR, chain: TlsChainIR, hcm: (chain: TlsChainIR) => Filter): FilterChain {
  return {
    name: chain.name,
    ...(chain.serverNames.length > 0 ? { filter_chain_match: { server_names: chain.serverNames } } : {}),
    ...(chain.terminate ? { transport_socket: tlsTransportSocket(chain.terminate) } : {}),
    filters: [chain.tcpBackends ? tcpProxyFilter(`${listener.name}/${chain.name}`, chain.tcpBackends) : hcm(chain)],
  };
}

/**
 * The TLS part of a listener: the TLS inspector (which reads the SNI) and one filter chain per IR chain,
 * terminating chains without `tcpBackends` carrying the HTTP connection manager `hcm` gives for them.
 */
export function tlsListenerParts(listener: HttpListenerIR, hcm: (chain: TlsChainIR) => Filter): Pick<Listener, 'listener_filters' | 'filter_chains'> {
  const chains = listener.tls?.chains ?? [];
  return {
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: packAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {} satisfies TlsInspector) }],
    filter_chains: chains.map((c) => filterChain(listener, c, hcm)),
  };
}

/** Clusters that the listener's TCP chains reach (for make-before-break and for the cluster list). */
export function tcpClusters(listener: HttpListenerIR): { clusters: ClusterIR[]; refused: boolean } {
  const clusters: ClusterIR[] = [];
  let refused = false;
  for (const c of listener.tls?.chains ?? []) {
    for (const b of c.tcpBackends ?? []) {
      if (b.cluster) clusters.push(b.cluster);
      else if (b.weight > 0) refused = true;
    }
    if (c.tcpBackends && c.tcpBackends.every((b) => b.weight === 0)) refused = true;
  }
  return { clusters, refused };
}

export function tcpRefusedCluster(): Resource {
  return clusterResource({ name: TCP_REFUSED_CLUSTER, type: 'STATIC', connect_timeout: { seconds: '1' }, load_assignment: { cluster_name: TCP_REFUSED_CLUSTER, endpoints: [] } });
}

/** Collects the Secrets (certificates and trust bundles) that listeners and clusters name, once each. */
export class SecretSet {
  private readonly certificates = new Map<string, TlsCertificateIR>();
  private readonly trusts = new Map<string, TlsTrustIR>();

  addListener(listener: HttpListenerIR): void {
    for (const c of listener.tls?.chains ?? []) {
      for (const cert of c.terminate?.certificates ?? []) this.certificates.set(cert.name, cert);
      const trust = c.terminate?.clientValidation?.trust;
      if (trust) this.trusts.set(trust.name, trust);
    }
  }

  addCluster(cluster: ClusterIR): void {
    if (cluster.tls?.trust) this.trusts.set(cluster.tls.trust.name, cluster.tls.trust);
    if (cluster.tls?.clientCertificate) this.certificates.set(cluster.tls.clientCertificate.name, cluster.tls.clientCertificate);
  }

  resources(): Resource[] {
    const out: Resource[] = [];
    for (const c of [...this.certificates.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(secretResource({ name: c.name, tls_certificate: { certificate_chain: { inline_string: c.certificateChain }, private_key: { inline_string: c.privateKey } } }));
    }
    for (const t of [...this.trusts.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(secretResource({ name: t.name, validation_context: { trusted_ca: { inline_string: t.caCertificates } } }));
    }
    return out;
  }
}

function upstreamTlsContext(t: UpstreamTlsIR): UpstreamTlsContext {
  const sans = t.subjectAltNames.length > 0 ? t.subjectAltNames : [{ type: 'Hostname' as const, value: t.sni }];
  const defaults = {
    match_typed_subject_alt_names: sans.map((s) => ({ san_type: s.type === 'URI' ? ('URI' as const) : ('DNS' as const), matcher: { exact: s.value } })),
    ...(t.trust ? {} : { trusted_ca: { filename: SYSTEM_CA_FILE } }),
  };
  return {
    sni: t.sni,
    common_tls_context: {
      ...(t.alpn?.length ? { alpn_protocols: t.alpn } : {}),
      ...(t.clientCertificate ? { tls_certificate_sds_secret_configs: [sds(t.clientCertificate.name)] } : {}),
      combined_validation_context: { default_validation_context: defaults, ...(t.trust ? { validation_context_sds_secret_config: sds(t.trust.name) } : {}) },
    },
  };
}

/** Sets the cluster's transport socket for a backend reached over TLS. */
export function applyUpstreamTls(cluster: Cluster, t: UpstreamTlsIR): void {
  cluster.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', upstreamTlsContext(t)) };
}
