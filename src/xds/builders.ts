// Common Envoy shapes: an HTTP listener fed by RDS over ADS, an EDS cluster, endpoints, a TLS secret.
// Translators compose these; tests and the demo use them directly.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster.js';
import type { ConfigSource } from '../generated/envoy/config/core/v3/ConfigSource.js';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener.js';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Router } from '../generated/envoy/extensions/filters/http/router/v3/Router.js';
import type { DownstreamTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js';
import { packAny } from './protos.js';

export const ADS_CONFIG_SOURCE: ConfigSource = { ads: {}, resource_api_version: 'V3' };

export interface HttpListenerOptions {
  name: string;
  address: string;
  port: number;
  routeConfigName: string;
  /** SDS secret names served on this listener; when set, the listener terminates TLS. */
  tlsSecretNames?: string[];
}

export function httpListener(opts: HttpListenerOptions): Listener & { name: string } {
  const hcm: HttpConnectionManager = {
    stat_prefix: opts.name,
    codec_type: 'AUTO',
    rds: { route_config_name: opts.routeConfigName, config_source: ADS_CONFIG_SOURCE },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {} satisfies Router) }],
  };
  const filterChain: NonNullable<Listener['filter_chains']>[number] = {
    filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm) }],
  };
  if (opts.tlsSecretNames?.length) {
    const tls: DownstreamTlsContext = {
      common_tls_context: {
        tls_certificate_sds_secret_configs: opts.tlsSecretNames.map((name) => ({ name, sds_config: ADS_CONFIG_SOURCE })),
      },
    };
    filterChain.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', tls) };
  }
  return {
    name: opts.name,
    address: { socket_address: { address: opts.address, port_value: opts.port } },
    filter_chains: [filterChain],
  };
}

export function edsCluster(name: string, connectTimeoutMs = 2000): Cluster & { name: string } {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
    connect_timeout: { seconds: String(Math.floor(connectTimeoutMs / 1000)), nanos: (connectTimeoutMs % 1000) * 1e6 },
  };
}

export interface Endpoint {
  address: string;
  port: number;
  weight?: number;
}

export function loadAssignment(clusterName: string, endpoints: Endpoint[]): ClusterLoadAssignment & { cluster_name: string } {
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        lb_endpoints: endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          ...(e.weight ? { load_balancing_weight: { value: e.weight } } : {}),
        })),
      },
    ],
  };
}
