// The API resources Weft reads from the API server, with what an informer needs to list and watch them.
export interface WatchedKind {
  apiVersion: string;
  kind: string;
  /** Plural resource name in the URL. */
  plural: string;
  namespaced: boolean;
  /** Only objects matching this field selector (e.g. Secrets of one type). */
  fieldSelector?: string;
  /** Only objects with these labels (e.g. the pods of one DaemonSet). */
  labelSelector?: string;
  /** Only objects of this namespace (namespaced kinds); every namespace when omitted. */
  namespace?: string;
  /** Copies of objects of other namespaces, each read as its source (tls-secret-mirror.ts). */
  mirrored?: boolean;
}

function kind(apiVersion: string, kindName: string, plural: string, namespaced = true, fieldSelector?: string): WatchedKind {
  return { apiVersion, kind: kindName, plural, namespaced, ...(fieldSelector ? { fieldSelector } : {}) };
}

const GATEWAY_V1 = 'gateway.networking.k8s.io/v1';

/** What the Gateway API translator consumes (src/gateway/). */
export const GATEWAY_API_KINDS: WatchedKind[] = [
  kind(GATEWAY_V1, 'GatewayClass', 'gatewayclasses', false),
  kind(GATEWAY_V1, 'Gateway', 'gateways'),
  kind(GATEWAY_V1, 'ListenerSet', 'listenersets'),
  kind(GATEWAY_V1, 'HTTPRoute', 'httproutes'),
  kind(GATEWAY_V1, 'GRPCRoute', 'grpcroutes'),
  kind('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant', 'referencegrants'),
  kind('v1', 'Service', 'services'),
  kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices'),
  kind('v1', 'Namespace', 'namespaces', false),
  kind(GATEWAY_V1, 'TLSRoute', 'tlsroutes'),
  kind(GATEWAY_V1, 'BackendTLSPolicy', 'backendtlspolicies'),
  // Certificates and CA bundles that listeners and policies reference. Only TLS Secrets are read: Weft has no
  // business with the cluster's other Secrets (and RBAC can say so).
  kind('v1', 'Secret', 'secrets', true, 'type=kubernetes.io/tls'),
  kind('v1', 'ConfigMap', 'configmaps'),
];

/** What the Ingress translator consumes (src/ingress/) besides Services, EndpointSlices and TLS Secrets. */
export const INGRESS_KINDS: WatchedKind[] = [
  kind('networking.k8s.io/v1', 'Ingress', 'ingresses'),
  kind('networking.k8s.io/v1', 'IngressClass', 'ingressclasses', false),
];

export const POD_KIND: WatchedKind = kind('v1', 'Pod', 'pods');

/** What L7 policy and the datapath consume (src/l7policy/, src/datapath/): the node agent reads these with --datapath. */
export const POLICY_KINDS: WatchedKind[] = [
  POD_KIND,
  kind('cilium.io/v2', 'CiliumNetworkPolicy', 'ciliumnetworkpolicies'),
  kind('cilium.io/v2', 'CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies', false),
  kind('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'),
];

/**
 * Everything the operator and the node agents translate. Ingress addresses are a pure function of the set of
 * Ingresses and the --ingress-* options (src/ingress/addresses.ts), so the operator and every agent, given the
 * same options, agree on them without talking to each other.
 */
export const TRANSLATED_KINDS: WatchedKind[] = [...GATEWAY_API_KINDS, ...INGRESS_KINDS];

/** TRANSLATED_KINDS with TLS Secrets read from their copies in `secretsNamespace` instead of from every namespace. */
export function translatedKinds(secrets?: WatchedKind): WatchedKind[] {
  return secrets ? TRANSLATED_KINDS.map((k) => (k.kind === 'Secret' && k.apiVersion === 'v1' ? secrets : k)) : TRANSLATED_KINDS;
}

/** URL path of the collection, across all namespaces unless the kind names one. */
export function collectionPath(k: WatchedKind): string {
  const prefix = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`;
  return k.namespace ? `${prefix}/namespaces/${encodeURIComponent(k.namespace)}/${k.plural}` : `${prefix}/${k.plural}`;
}

export function objectKey(kindName: string, namespace: string | undefined, name: string): string {
  return namespace ? `${kindName}/${namespace}/${name}` : `${kindName}/${name}`;
}
