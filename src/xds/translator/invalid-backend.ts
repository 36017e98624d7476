// The share of traffic that a route sends to an invalid backendRef must get a 500 (Gateway API), but a
// weighted cluster cannot answer by itself. So it goes to a cluster whose only endpoint is an Envoy
// internal listener (in-process, no port) that answers 500 (gRPC requests: 503, which Envoy sends as
// gRPC status UNAVAILABLE, the GRPCRoute spec's answer).
import type { Listener } from '../../generated/envoy/config/listener/v3/Listener.js';
import type { HttpConnectionManager } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Router } from '../../generated/envoy/extensions/filters/http/router/v3/Router.js';
import { clusterResource, listenerResource } from '../envoy-resources.js';
import { packAny } from '../protos.js';
import type { Resource } from '../resource.js';

export function invalidBackendResources(name: string): Resource[] {
  const hcm: HttpConnectionManager = {
    stat_prefix: name,
    route_config: {
      name,
      virtual_hosts: [
        {
          name,
          domains: ['*'],
          routes: [
            // GRPCRoute: UNAVAILABLE for gRPC requests (Envoy answers a gRPC request's 503 with grpc-status 14).
            { match: { prefix: '/', grpc: {} }, direct_response: { status: 503, body: { inline_string: 'invalid backend' } } },
            { match: { prefix: '/' }, direct_response: { status: 500, body: { inline_string: 'invalid backend\n' } } },
          ],
        },
      ],
    },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {} satisfies Router) }],
  };
  const listener: Listener & { name: string } = {
    name,
    internal_listener: {},
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm) }] }],
  };
  return [
    listenerResource(listener),
    clusterResource({
      name,
      type: 'STATIC',
      connect_timeout: { seconds: '1' },
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: name } } } }] }] },
    }),
  ];
}
