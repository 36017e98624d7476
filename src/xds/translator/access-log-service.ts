// Envoy's gRPC access log service (envoy.service.accesslog.v3) towards the node agent: the HCM access log
// entry that streams every request to it, and the cluster it streams over. The agent turns the entries into
// L7 flow records (src/observe). Pure.
import type { Cluster } from '../../generated/envoy/config/cluster/v3/Cluster.js';
import type { HttpGrpcAccessLogConfig } from '../../generated/envoy/extensions/access_loggers/grpc/v3/HttpGrpcAccessLogConfig.js';
import type { HttpProtocolOptions } from '../../generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions.js';
import type { AccessLog } from '../../generated/envoy/config/accesslog/v3/AccessLog.js';
import { edsCluster, loadAssignment } from '../builders.js';
import { clusterResource, endpointsResource } from '../envoy-resources.js';
import { packAny } from '../protos.js';
import type { Resource } from '../resource.js';

export const ACCESS_LOG_CLUSTER = 'weft/access-log-service';
/** The log_name every entry carries; the agent's receiver only accepts streams that declare it. */
export const ACCESS_LOG_NAME = 'weft-l7';

export interface AccessLogServiceTarget {
  /** Where the node agent's access log service listens (loopback). */
  address: string;
  port: number;
}

/** Values copied into each entry's custom_tags, by tag name: request (dynamic) or route metadata, or a literal. */
export type AccessLogTag = { tag: string; kind: 'request' | 'route'; key: string; path: string } | { tag: string; literal: string };

/** The HCM access_log entry that streams every request (after it completes) to the agent. */
export function grpcAccessLog(tags: AccessLogTag[]): AccessLog {
  const config: HttpGrpcAccessLogConfig = {
    common_config: {
      log_name: ACCESS_LOG_NAME,
      transport_api_version: 'V3',
      // :authority defaults to the cluster name, whose '/' Node's HTTP/2 server refuses (the stream is reset).
      grpc_service: { envoy_grpc: { cluster_name: ACCESS_LOG_CLUSTER, authority: 'weft-access-log-service' } },
      // Flows should show up within a fraction of a second, not Envoy's default 1 s.
      buffer_flush_interval: { nanos: 100_000_000 },
      custom_tags: tags.map((t) => ('literal' in t ? { tag: t.tag, literal: { value: t.literal } } : { tag: t.tag, metadata: { kind: { [t.kind]: {} }, metadata_key: { key: t.key, path: [{ key: t.path }] } } })),
    },
  };
  return { name: 'envoy.access_loggers.http_grpc', typed_config: packAny('envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig', config) };
}

/** The HTTP/2 cluster (and its endpoint) the access log streams over. */
export function accessLogServiceResources(target: AccessLogServiceTarget): Resource[] {
  const options: HttpProtocolOptions = { explicit_http_config: { http2_protocol_options: {} } };
  const cluster: Cluster & { name: string } = {
    ...edsCluster(ACCESS_LOG_CLUSTER),
    typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': packAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', options) },
  };
  return [clusterResource(cluster), endpointsResource(loadAssignment(ACCESS_LOG_CLUSTER, [{ address: target.address, port: target.port }]))];
}
