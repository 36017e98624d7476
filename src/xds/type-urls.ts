// The xDS resource types Weft serves, by type URL, and the order in which Envoy must receive them.

export const TYPE_PREFIX = 'type.googleapis.com/';

export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

export const ALL_TYPE_URLS: readonly TypeUrl[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

/**
 * Types that must be in place (ACKed) before anything referencing them is sent, and removed only after
 * nothing references them any more: the make-before-break rule (envoy issues 13910, 5174).
 */
export const WARM_FIRST_TYPES: ReadonlySet<TypeUrl> = new Set([
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
]);

/** Types for which an empty resource_names list in state-of-the-world means "everything" (wildcard). */
export const WILDCARD_TYPES: ReadonlySet<TypeUrl> = new Set([TypeUrl.Listener, TypeUrl.Cluster]);

export function isKnownTypeUrl(url: string): url is TypeUrl {
  return (ALL_TYPE_URLS as readonly string[]).includes(url);
}

export function shortTypeName(url: string): string {
  const name = url.slice(url.lastIndexOf('.') + 1);
  return name || url;
}
