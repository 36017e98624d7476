// The manifests the standalone connectivity test serves to its Envoy: a Gateway on the node's address with an
// HTTPRoute to the echo Service, and the L7 policy: Pods at standalone (node loopback) addresses and a
// CiliumNetworkPolicy with one HTTP rule.

export const TEST_NAMESPACE = 'weft-connectivity';
export const ALLOWED_PATH = '/allowed';
export const DENIED_PATH = '/private';

export interface ManifestPlan {
  gateway: { address: string; port: number };
  /** The echo pod's real address and port (what the Service and the L7 backend annotation point at). */
  echo: { ip: string; port: number };
  l7: { server: string; client: string; port: number };
  /** Fault injection for testing the test: the HTTP rule allows every path. */
  l7AllowAll?: boolean;
}

export function gatewayManifests(p: ManifestPlan): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: weft-connectivity }
spec: { controllerName: weft.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: connectivity, namespace: ${TEST_NAMESPACE} }
spec:
  gatewayClassName: weft-connectivity
  addresses: [{ type: IPAddress, value: ${p.gateway.address} }]
  listeners:
  - { name: http, protocol: HTTP, port: ${p.gateway.port} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo, namespace: ${TEST_NAMESPACE} }
spec:
  parentRefs: [{ name: connectivity }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: / } }]
    backendRefs: [{ name: echo, port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: ${TEST_NAMESPACE} }
spec:
  ports: [{ name: http, port: 80, targetPort: ${p.echo.port} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo
  namespace: ${TEST_NAMESPACE}
  labels: { kubernetes.io/service-name: echo }
addressType: IPv4
ports: [{ name: http, port: ${p.echo.port} }]
endpoints: [{ addresses: [${p.echo.ip}] }]
`;
}

export function l7PolicyManifests(p: ManifestPlan): string {
  const http = `
      rules:
        http:
        - method: GET
          path: "${p.l7AllowAll ? '/.*' : ALLOWED_PATH}"`;
  return `apiVersion: v1
kind: Pod
metadata:
  name: echo
  namespace: ${TEST_NAMESPACE}
  labels: { app: echo }
  annotations: { weft.dev/standalone-backends: "${p.l7.port}=${p.echo.ip}:${p.echo.port}" }
spec:
  containers:
  - name: echo
    ports: [{ name: http, containerPort: ${p.l7.port} }]
status: { podIP: ${p.l7.server} }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: ${TEST_NAMESPACE}, labels: { app: client } }
status: { podIP: ${p.l7.client} }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: echo-l7, namespace: ${TEST_NAMESPACE} }
spec:
  endpointSelector: { matchLabels: { app: echo } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${p.l7.port}", protocol: TCP }]${http}
`;
}
