// A ClusterIR → its Cluster and ClusterLoadAssignment resources. A translation has one of each per Service port (a
// thousand at the large bench size), so both are encoded without building the message objects each time: a Cluster
// without TLS is the same message for every cluster but its name (field 1, written first), so the rest is encoded
// once per protocol; the endpoints are written field by field (the message of builders.ts's loadAssignment).
import type { Cluster } from '../../generated/envoy/config/cluster/v3/Cluster.js';
import type { Any } from '../../generated/google/protobuf/Any.js';
import type { HttpProtocolOptions } from '../../generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions.js';
import type { ClusterIR } from '../../ir/model.js';
import { edsCluster } from '../builders.js';
import { clusterResource } from '../envoy-resources.js';
import { encodeFields } from '../message-encoder.js';
import { encodeMessage, packAny } from '../protos.js';
import { encodedResource, type Resource } from '../resource.js';
import { TypeUrl } from '../type-urls.js';
import { applyUpstreamTls } from './tls.js';

/** Field numbers (envoy/config/cluster/v3/cluster.proto, envoy/config/endpoint/v3/endpoint*.proto, envoy/config/core/v3/address.proto); test/xds-route-fields checks them. */
export const CLUSTER_FIELDS = {
  'envoy.config.cluster.v3.Cluster': { name: 1 },
  'envoy.config.endpoint.v3.ClusterLoadAssignment': { cluster_name: 1, endpoints: 2 },
  'envoy.config.endpoint.v3.LocalityLbEndpoints': { lb_endpoints: 2 },
  'envoy.config.endpoint.v3.LbEndpoint': { endpoint: 1 },
  'envoy.config.endpoint.v3.Endpoint': { address: 1 },
  'envoy.config.core.v3.Address': { socket_address: 1 },
  'envoy.config.core.v3.SocketAddress': { address: 2, port_value: 3 },
} as const;

const CLUSTER = CLUSTER_FIELDS['envoy.config.cluster.v3.Cluster'];
const ASSIGNMENT = CLUSTER_FIELDS['envoy.config.endpoint.v3.ClusterLoadAssignment'];
const LOCALITY = CLUSTER_FIELDS['envoy.config.endpoint.v3.LocalityLbEndpoints'];
const LB_ENDPOINT = CLUSTER_FIELDS['envoy.config.endpoint.v3.LbEndpoint'];
const ENDPOINT = CLUSTER_FIELDS['envoy.config.endpoint.v3.Endpoint'];
const ADDRESS = CLUSTER_FIELDS['envoy.config.core.v3.Address'];
const SOCKET_ADDRESS = CLUSTER_FIELDS['envoy.config.core.v3.SocketAddress'];

/** The same for every HTTP/2 cluster: packed once (messages are only read by the encoder). */
let http2Options: Any | undefined;

function packHttp2Options(): Any {
  const options: HttpProtocolOptions = { explicit_http_config: { http2_protocol_options: {} } };
  return packAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', options);
}

/** The Cluster message of `c`: EDS over ADS, TLS to the backend if it has some, HTTP/2 if the backend speaks it. */
function clusterMessage(c: ClusterIR): Cluster & { name: string } {
  const cluster = edsCluster(c.name);
  if (c.tls) applyUpstreamTls(cluster, c.tls);
  if (c.protocol === 'http2') cluster.typed_extension_protocol_options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': (http2Options ??= packHttp2Options()) };
  return cluster;
}

/** The encoded fields after the name of a Cluster without TLS, by protocol. */
const unnamedClusters = new Map<ClusterIR['protocol'], Uint8Array>();

function unnamedCluster(c: ClusterIR): Uint8Array {
  let rest = unnamedClusters.get(c.protocol);
  if (!rest) {
    // Without the name: absent fields are not written.
    const message: Cluster = { ...clusterMessage(c), name: undefined };
    unnamedClusters.set(c.protocol, (rest = encodeMessage('envoy.config.cluster.v3.Cluster', message)));
  }
  return rest;
}

/** The Cluster resource of `c`: the same as clusterResource(clusterMessage(c)). */
function clusterResourceOf(c: ClusterIR): Resource {
  if (c.tls || !c.name) return clusterResource(clusterMessage(c));
  const rest = unnamedCluster(c);
  const body = encodeFields((w) => {
    w.string(CLUSTER.name, c.name);
    w.raw(rest);
  });
  return encodedResource(TypeUrl.Cluster, c.name, body, [{ typeUrl: TypeUrl.ClusterLoadAssignment, name: c.name }]);
}

/** The ClusterLoadAssignment resource of `c`: one locality with every endpoint. */
function endpointsResourceOf(c: ClusterIR): Resource {
  const body = encodeFields((w) => {
    w.string(ASSIGNMENT.cluster_name, c.name);
    const locality = w.begin(ASSIGNMENT.endpoints);
    for (const e of c.endpoints) {
      const lbEndpoint = w.begin(LOCALITY.lb_endpoints);
      const endpoint = w.begin(LB_ENDPOINT.endpoint);
      const address = w.begin(ENDPOINT.address);
      const socketAddress = w.begin(ADDRESS.socket_address);
      w.string(SOCKET_ADDRESS.address, e.address);
      w.uint32(SOCKET_ADDRESS.port_value, e.port);
      w.end(socketAddress);
      w.end(address);
      w.end(endpoint);
      w.end(lbEndpoint);
    }
    w.end(locality);
  });
  return encodedResource(TypeUrl.ClusterLoadAssignment, c.name, body);
}

export function clusterResources(c: ClusterIR): Resource[] {
  return [clusterResourceOf(c), endpointsResourceOf(c)];
}
