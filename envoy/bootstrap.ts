// The bootstrap of Weft's node proxy: node identity, ADS to the control plane (delta by default),
// admin on loopback only. Everything else arrives over xDS.
import type { Bootstrap } from '../src/generated/envoy/config/bootstrap/v3/Bootstrap.js';
import type { Any } from '../src/generated/google/protobuf/Any.js';
import type { Struct } from '../src/generated/google/protobuf/Struct.js';

export const XDS_CLUSTER = 'weft-xds';

export type XdsTarget = { unix: string } | { host: string; port: number };

export interface BootstrapOptions {
  nodeId: string;
  nodeCluster?: string;
  xds: XdsTarget;
  /** 'delta' (default) or 'sotw' (state of the world). */
  protocol?: 'delta' | 'sotw';
  /** Admin port on 127.0.0.1; 0 picks a free one (read it back through --admin-address-path). */
  adminPort?: number;
}

/** In a JSON bootstrap, a Struct is written as a plain object (an object literal would be checked against its `fields` form). */
function jsonStruct(fields: Record<string, unknown>): Struct {
  return fields;
}

/** In a JSON bootstrap, Any is written as the message with an "@type" field. */
function jsonAny(typeName: string, fields: Record<string, unknown>): Any {
  return { '@type': `type.googleapis.com/${typeName}`, ...fields };
}

export function nodeBootstrap(opts: BootstrapOptions): Bootstrap {
  const xdsAddress =
    'unix' in opts.xds
      ? { pipe: { path: opts.xds.unix } }
      : { socket_address: { address: opts.xds.host, port_value: opts.xds.port } };
  const ads = { ads: {}, resource_api_version: 'V3' as const };
  return {
    node: { id: opts.nodeId, cluster: opts.nodeCluster ?? 'weft' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: opts.adminPort ?? 0 } } },
    // Internal listeners (in-process, no port) serve fixed answers, e.g. the 500 of an invalid backend.
    bootstrap_extensions: [
      { name: 'envoy.bootstrap.internal_listener', typed_config: jsonAny('envoy.extensions.bootstrap.internal_listener.v3.InternalListener', {}) },
    ],
    // Envoy refuses a route whose regular expression compiles to more than 100 RE2 instructions by default, and
    // with it the whole route configuration (a NACK that holds back every other change on that listener); HTTPRoute
    // expressions the CRD allows exceed it (`/v[0-9]{1,200}`: 405). Istio's bootstrap raises it to 32,768 too. The
    // admin layer keeps /runtime_modify working, as without a layered runtime.
    layered_runtime: {
      layers: [
        { name: 'weft', static_layer: jsonStruct({ 're2.max_program_size.error_level': 32768 }) },
        { name: 'admin', admin_layer: {} },
      ],
    },
    dynamic_resources: {
      ads_config: {
        api_type: opts.protocol === 'sotw' ? 'GRPC' : 'DELTA_GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: ads,
      cds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STATIC',
          connect_timeout: { seconds: '1' },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: xdsAddress } }] }],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': jsonAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
              explicit_http_config: { http2_protocol_options: {} },
            }),
          },
        },
      ],
    },
  };
}
