// Generated Gateway API inputs for the translation and propagation benchmarks: one GatewayClass, one
// Gateway, N HTTPRoutes, M GRPCRoutes, S Services with an EndpointSlice each. Deterministic, so runs compare.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { stringify } from 'yaml';
import type { Manifest } from '../src/sources/manifests.js';

export type Doc = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [field: string]: unknown } };

export const NAMESPACES = 5;
export const GATEWAY = { name: 'bench', namespace: 'infra' };

export function namespaceOf(i: number): string {
  return `team-${i % NAMESPACES}`;
}

export function gatewayDocs(port: number): Doc[] {
  return [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: 'weft.dev/gateway-controller' } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { ...GATEWAY },
      spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port, allowedRoutes: { namespaces: { from: 'All' } } }] },
    },
  ];
}

/** Service `i` (namespace team-(i mod 5)): an HTTP port and an h2c (gRPC) port; its EndpointSlice has `addresses`. */
export function serviceDocs(i: number, addresses: string[], targetPort = 8080, grpcPort = 9000): Doc[] {
  const name = `svc-${i}`;
  const namespace = namespaceOf(i);
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: {
        selector: { app: name },
        ports: [
          { name: 'http', port: 80, targetPort },
          { name: 'grpc', port: 9000, targetPort: grpcPort, appProtocol: 'kubernetes.io/h2c' },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-abc12`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [
        { name: 'http', port: targetPort, protocol: 'TCP' },
        { name: 'grpc', port: grpcPort, protocol: 'TCP' },
      ],
      endpoints: addresses.map((a, e) => ({ addresses: [a], conditions: { ready: true }, nodeName: `node-${e}` })),
    },
  ];
}

/** Three endpoints in 10/8 per Service, for translation (nothing is sent traffic). */
export function syntheticAddresses(i: number): string[] {
  return [1, 2, 3].map((e) => `10.${(i >> 8) & 255}.${i & 255}.${e}`);
}

/** Two backends of route `j` among `services` Services, in the route's namespace. */
function backendsOf(j: number, services: number): [string, string] {
  // Services i ≡ j (mod 5) share the route's namespace; with fewer than 5 Services, Service 0 (team-0).
  if (services < NAMESPACES) return ['svc-0', 'svc-0'];
  const inNs = Math.floor(services / NAMESPACES);
  const ns = j % NAMESPACES;
  const a = ns + NAMESPACES * (Math.floor(j / NAMESPACES) % inNs);
  const b = ns + NAMESPACES * ((Math.floor(j / NAMESPACES) + 1) % inNs);
  return [`svc-${a}`, `svc-${b}`];
}

/**
 * HTTPRoute `j` as a team would write it: two hostnames (from a pool of 50 shared by all routes), five
 * rules with path, header and method matches, a 90/10 weighted split, header modifiers, a rewrite, a
 * redirect and a timeout; 5 Envoy routes per hostname.
 */
export function httpRouteDoc(j: number, services: number): Doc {
  const ns = services < NAMESPACES ? 'team-0' : namespaceOf(j);
  const [a, b] = backendsOf(j, services);
  const p = `/r${j}`;
  const host = j % 50;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: `route-${j}`, namespace: ns, creationTimestamp: new Date(Date.UTC(2026, 0, 1) + j * 1000).toISOString() },
    spec: {
      parentRefs: [{ name: GATEWAY.name, namespace: GATEWAY.namespace }],
      hostnames: [`app-${host}.example.com`, `app-${host}.example.org`],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: `${p}/api` }, headers: [{ name: 'x-canary', value: 'true' }] }],
          filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: `route-${j}-canary` }], remove: ['x-debug'] } }],
          backendRefs: [{ name: b, port: 80 }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: `${p}/api` } }],
          backendRefs: [
            { name: a, port: 80, weight: 90 },
            { name: b, port: 80, weight: 10 },
          ],
          timeouts: { request: '10s' },
        },
        {
          matches: [{ path: { type: 'Exact', value: `${p}/healthz` }, method: 'GET' }],
          filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'cache-control', value: 'no-store' }] } }],
          backendRefs: [{ name: a, port: 80 }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: `${p}/v1` } }, { path: { type: 'PathPrefix', value: `${p}/legacy` }, queryParams: [{ name: 'compat', value: '1' }] }],
          filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }],
          backendRefs: [{ name: a, port: 80 }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: `${p}/old` } }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: `${p}/api` }, statusCode: 301 } }],
        },
      ],
    },
  };
}

/** GRPCRoute `k`: one hostname from a pool of 10, a service/method match with a header, and a whole-service rule. */
export function grpcRouteDoc(k: number, services: number): Doc {
  const ns = services < NAMESPACES ? 'team-0' : namespaceOf(k);
  const [a, b] = backendsOf(k, services);
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GRPCRoute',
    metadata: { name: `grpc-${k}`, namespace: ns },
    spec: {
      parentRefs: [{ name: GATEWAY.name, namespace: GATEWAY.namespace }],
      hostnames: [`grpc-${k % 10}.example.com`],
      rules: [
        {
          matches: [{ method: { service: `bench.v1.Service${k}`, method: 'Get' }, headers: [{ name: 'x-tenant', value: `t${k % 7}` }] }],
          backendRefs: [{ name: b, port: 9000 }],
        },
        {
          matches: [{ method: { service: `bench.v1.Service${k}` } }],
          backendRefs: [
            { name: a, port: 9000, weight: 80 },
            { name: b, port: 9000, weight: 20 },
          ],
        },
      ],
    },
  };
}

export interface InputSize {
  name: string;
  httpRoutes: number;
  grpcRoutes: number;
  services: number;
}

export const INPUT_SIZES: InputSize[] = [
  { name: 'small', httpRoutes: 1, grpcRoutes: 0, services: 1 },
  { name: 'medium', httpRoutes: 50, grpcRoutes: 25, services: 50 },
  { name: 'large', httpRoutes: 500, grpcRoutes: 250, services: 500 },
];

export function inputDocs(size: InputSize, port = 8080): Doc[] {
  const docs: Doc[] = gatewayDocs(port);
  for (let i = 0; i < size.services; i++) docs.push(...serviceDocs(i, syntheticAddresses(i)));
  for (let j = 0; j < size.httpRoutes; j++) docs.push(httpRouteDoc(j, size.services));
  for (let k = 0; k < size.grpcRoutes; k++) docs.push(grpcRouteDoc(k, size.services));
  return docs;
}

/** The documents as the YAML loader would hand them over (a structured copy, with a source each). */
export function asManifests(docs: Doc[], file = 'bench.yaml'): Manifest[] {
  return docs.map((d, i): Manifest => ({ ...structuredClone(d), source: { file, line: 1 + i } }));
}

export function toYaml(docs: Doc[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

/** The commit measured, whether src/ differs from it (other work in progress shares the tree), and the load. */
export function treeState(): string {
  const git = (...a: string[]): string => {
    const r = spawnSync('git', a, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  };
  const head = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'src');
  return `commit ${head}${dirty ? ' + uncommitted changes in src/' : ''}  loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`;
}
