// Manifests for TLS end-to-end tests: a Gateway with the listeners given, a Secret per certificate.
import { caConfigMapYaml, tlsSecretYaml, type CertKey } from './tls.js';

export interface ListenerYaml {
  name: string;
  port: number;
  protocol: 'HTTP' | 'HTTPS' | 'TLS';
  hostname?: string;
  mode?: 'Terminate' | 'Passthrough';
  /** Secret names in namespace default. */
  certs?: string[];
  kinds?: string[];
}

export function classYaml(): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: weft }
spec: { controllerName: weft.dev/gateway-controller }
`;
}

export function tlsGatewayYaml(listeners: ListenerYaml[], extraSpec = ''): string {
  const ls = listeners.map((l) => {
    const tls = l.protocol === 'HTTP' ? '' : `, tls: { mode: ${l.mode ?? 'Terminate'}${l.certs ? `, certificateRefs: [${l.certs.map((c) => `{ name: ${c} }`).join(', ')}]` : ''} }`;
    const kinds = l.kinds ? `, allowedRoutes: { kinds: [${l.kinds.map((k) => `{ kind: ${k} }`).join(', ')}] }` : '';
    return `  - { name: ${l.name}, port: ${l.port}, protocol: ${l.protocol}${l.hostname ? `, hostname: "${l.hostname}"` : ''}${tls}${kinds} }`;
  });
  return `${classYaml()}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: weft
${extraSpec}  listeners:
${ls.join('\n')}
`;
}

export function secretsYaml(secrets: Record<string, CertKey>): string {
  return Object.entries(secrets).map(([name, c]) => tlsSecretYaml('default', name, c)).join('---\n');
}

export { caConfigMapYaml };

/** A Service `name` port `port` whose endpoint is 127.0.0.1:`target`. */
export function loopbackServiceYaml(name: string, port: number, target: number, appProtocol?: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  ports: [{ name: p, port: ${port}${appProtocol ? `, appProtocol: ${appProtocol}` : ''} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}, namespace: default, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: p, port: ${target} }]
endpoints: [{ addresses: [127.0.0.1] }]
`;
}
