// Gateway API end-to-end tests: manifests as YAML strings, translated by the standalone pipeline and
// served by a real Envoy in front of echo backends on 127.0.0.1.
import http from 'node:http';
import type net from 'node:net';
import type { ExecutionContext } from 'ava';
import { translateYaml, type Translation } from '../../src/standalone/pipeline.js';
import type { EchoBackend, EchoReply } from './echo-backend.js';
import { meshFixture, type Mesh, type Protocol } from './mesh.js';
import { eventually } from './net.js';

export const GATEWAY_CLASS = 'weft';

/** A GatewayClass of Weft's and a Gateway `gw` in `default` with one HTTP listener per entry. */
export function gatewayYaml(port: number, listeners: Array<{ name?: string; hostname?: string; namespaces?: 'All' | 'Same' }> = [{}]): string {
  const ls = listeners
    .map(
      (l, i) => `
  - name: ${l.name ?? `http-${i}`}
    protocol: HTTP
    port: ${port}${l.hostname ? `\n    hostname: "${l.hostname}"` : ''}
    allowedRoutes:
      namespaces:
        from: ${l.namespaces ?? 'All'}`,
    )
    .join('');
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: ${GATEWAY_CLASS}
spec:
  controllerName: weft.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: ${GATEWAY_CLASS}
  listeners:${ls}
`;
}

/** A Service (port 8080 → the backend's port) and its EndpointSlice at 127.0.0.1, named after the backend. */
export function backendYaml(b: { name: string; port: number }, namespace = 'default'): string {
  return `---
apiVersion: v1
kind: Service
metadata:
  name: ${b.name}
  namespace: ${namespace}
spec:
  ports:
  - name: http
    port: 8080
    targetPort: ${b.port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${b.name}-1
  namespace: ${namespace}
  labels:
    kubernetes.io/service-name: ${b.name}
addressType: IPv4
ports:
- name: http
  port: ${b.port}
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
`;
}

/** Translates the manifests, failing the test on any manifest problem. */
export function translate(t: ExecutionContext, yaml: string): Translation {
  const out = translateYaml('test.yaml', yaml);
  t.deepEqual(out.problems, [], 'the manifests load without problems');
  return out;
}

type Conditions = Array<{ type: string; status: string; reason: string }>;

/** The conditions of an HTTPRoute's first parent (or of the named parent). */
export function routeConditions(tr: Translation, name: string, namespace = 'default'): Record<string, { status: string; reason: string }> {
  const s = tr.statuses.find((x) => x.kind === 'HTTPRoute' && x.name === name && (x.namespace ?? 'default') === namespace);
  if (!s) throw new Error(`no status for HTTPRoute ${namespace}/${name}`);
  const parents = (s.status.parents ?? []) as Array<{ conditions: Conditions }>;
  return Object.fromEntries((parents[0]?.conditions ?? []).map((c) => [c.type, { status: c.status, reason: c.reason }]));
}

export interface RequestOptions {
  path?: string;
  host?: string;
  method?: string;
  headers?: Record<string, string | string[]>;
}

export interface GatewayReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the echo backend saw, when an echo backend answered. */
  echo?: EchoReply;
  backend: string;
}

/** One request to 127.0.0.1:`port` with the given Host, method and headers; a fresh connection each time. */
export function request(port: number, opts: RequestOptions = {}, agent?: http.Agent): Promise<GatewayReply> {
  const path = opts.path ?? '/';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: agent ?? false, timeout: 20_000, setHost: false, headers: { host: opts.host ?? 'example.com', ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          let echo: EchoReply | undefined;
          try {
            const parsed = JSON.parse(body) as EchoReply;
            if (typeof parsed.backend === 'string') echo = parsed;
          } catch {
            // not an echo reply
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, echo, backend: echo?.backend ?? '' });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A header's values as the backend saw them: repeated lines and comma-joined values both split. */
export function headerValues(echo: EchoReply | undefined, name: string): string[] {
  const v = echo?.headers[name.toLowerCase()];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',').map((s) => s.trim()));
}

/** Sends `n` requests over a few keep-alive connections; counts replies by `classify` (default: backend, or the status when none answered). */
export async function distribution(
  port: number,
  n: number,
  opts: RequestOptions = {},
  classify: (r: GatewayReply) => string = (r) => r.backend || String(r.status),
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const loops = 5;
  let sent = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (sent < n) {
          sent++;
          const key = classify(await request(port, opts, agent));
          counts[key] = (counts[key] ?? 0) + 1;
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return counts;
}

/**
 * A mesh (real Envoy) and echo backends, started on the resources of `manifests(backends, port)`; waits
 * until Envoy ACKed them and the Gateway's listener answers.
 */
export async function gatewayFixture(
  t: ExecutionContext,
  backendNames: string[],
  manifests: (backends: EchoBackend[], port: number) => string,
  protocol: Protocol = 'delta',
): Promise<{ mesh: Mesh; backends: EchoBackend[]; port: number; translation: Translation }> {
  const { mesh, backends, port } = await meshFixture(t, { protocol }, backendNames);
  const translation = translate(t, manifests(backends, port));
  await mesh.start(translation.resources);
  await mesh.converged();
  await eventually(async () => (await request(port, { path: '/__weft_probe__' })).status > 0, 15_000, 'the Gateway listener to answer');
  return { mesh, backends, port, translation };
}

/** Applies new manifests to a running mesh and waits for Envoy to ACK them. */
export async function applyYaml(t: ExecutionContext, mesh: Mesh, yaml: string): Promise<Translation> {
  const tr = translate(t, yaml);
  mesh.set(tr.resources);
  await mesh.converged();
  return tr;
}

/** The assertions every test ends with: no NACK, nothing warming. */
export async function assertHealthy(t: ExecutionContext, mesh: Mesh): Promise<void> {
  const health = await mesh.healthy();
  t.deepEqual(health.nacks, [], 'Envoy NACKed nothing');
  t.deepEqual(health.warming, [], 'nothing left warming');
}

/** An HTTP backend that answers 200 only after `delayMs` (for request timeouts); closed with the test. */
export async function startSlowBackend(t: ExecutionContext, name: string, delayMs: number): Promise<{ name: string; port: number }> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ backend: name, method: req.method, path: req.url, host: req.headers.host, headers: req.headers }));
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { name, port: (server.address() as net.AddressInfo).port };
}

/** An HTTPRoute attached to gateway `gw`. `rules` is the YAML of the rules list, indented by 2. */
export function routeYaml(name: string, rules: string, opts: { namespace?: string; hostnames?: string[]; creationTimestamp?: string } = {}): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: ${opts.namespace ?? 'default'}${opts.creationTimestamp ? `\n  creationTimestamp: "${opts.creationTimestamp}"` : ''}
spec:
  parentRefs:
  - name: gw
    namespace: default${opts.hostnames ? `\n  hostnames: [${opts.hostnames.map((h) => `"${h}"`).join(', ')}]` : ''}
  rules:
${rules}
`;
}
