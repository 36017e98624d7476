// Typed constructors for the five resource kinds Weft serves. Each infers the references that the
// make-before-break rule needs from the message itself, so callers cannot forget one.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster.js';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener.js';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration.js';
import type { RouteAction } from '../generated/envoy/config/route/v3/RouteAction.js';
import type { Secret } from '../generated/envoy/extensions/transport_sockets/tls/v3/Secret.js';
import { makeResource, type Resource, type ResourceRef } from './resource.js';
import { TypeUrl } from './type-urls.js';

/** `clusters`: the clusters the listener reaches directly (TCP proxying), which must be in place first. */
export function listenerResource(listener: Listener & { name: string }, clusters: string[] = []): Resource {
  return makeResource(TypeUrl.Listener, listener.name, listener, [...new Set(clusters)].map((name) => ({ typeUrl: TypeUrl.Cluster, name })));
}

export function clusterResource(cluster: Cluster & { name: string }): Resource {
  const refs: ResourceRef[] = [];
  if (cluster.type === 'EDS') {
    refs.push({ typeUrl: TypeUrl.ClusterLoadAssignment, name: cluster.eds_cluster_config?.service_name || cluster.name });
  }
  return makeResource(TypeUrl.Cluster, cluster.name, cluster, refs);
}

export function endpointsResource(assignment: ClusterLoadAssignment & { cluster_name: string }): Resource {
  return makeResource(TypeUrl.ClusterLoadAssignment, assignment.cluster_name, assignment);
}

export function secretResource(secret: Secret & { name: string }): Resource {
  return makeResource(TypeUrl.Secret, secret.name, secret);
}

export function routeConfigurationResource(config: RouteConfiguration & { name: string }): Resource {
  const clusters = new Set<string>();
  for (const vhost of config.virtual_hosts ?? []) {
    for (const route of vhost.routes ?? []) if (route.route) routeActionClusters(route.route, clusters);
  }
  const refs = [...clusters].map((name) => ({ typeUrl: TypeUrl.Cluster, name }));
  return makeResource(TypeUrl.RouteConfiguration, config.name, config, refs);
}

function routeActionClusters(action: RouteAction, into: Set<string>): void {
  if (action.cluster) into.add(action.cluster);
  for (const weighted of action.weighted_clusters?.clusters ?? []) if (weighted.name) into.add(weighted.name);
  for (const mirror of action.request_mirror_policies ?? []) if (mirror.cluster) into.add(mirror.cluster);
}
