// Manifest directories and a StandaloneRunner fixture for the `weft run` tests.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { StandaloneRunner, type ReadyInfo, type RunnerEvents } from '../../src/standalone/runner.js';
import { startEchoBackend, type EchoBackend } from './echo-backend.js';
import { freePort, withDeadline } from './net.js';

export function gatewayYaml(port: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: weft }
spec: { controllerName: weft.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: weft
  listeners:
  - { name: http, protocol: HTTP, port: ${port} }
`;
}

export function serviceYaml(backends: EchoBackend[]): string {
  return backends
    .map(
      (b) => `apiVersion: v1
kind: Service
metadata: { name: ${b.name}, namespace: default }
spec:
  ports: [{ name: http, port: 80, targetPort: ${b.port} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${b.name}
  namespace: default
  labels: { kubernetes.io/service-name: ${b.name} }
addressType: IPv4
ports: [{ name: http, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`,
    )
    .join('---\n');
}

/** One HTTPRoute per entry: requests under `prefix` go to Service `backend`. */
export function routesYaml(routes: Array<{ name: string; prefix: string; backend: string }>): string {
  return routes
    .map(
      (r) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${r.name}, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: ${r.prefix} } }]
    backendRefs: [{ name: ${r.backend}, port: 80 }]
`,
    )
    .join('---\n');
}

/** Writes a file the way editors do: a temporary file renamed over the old one. */
export function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export interface RunnerFixture {
  dir: string;
  port: number;
  backends: EchoBackend[];
  runner: StandaloneRunner;
  /** Every log line the runner wrote (pino JSON). */
  logs: Array<{ level: number; msg?: string; [k: string]: unknown }>;
}

/** A temp dir with a Gateway on a free port, Services for echo backends and these routes; not started. */
export async function runnerFixture(t: ExecutionContext, backendNames: string[], routes: Array<{ name: string; prefix: string; backend: string }>, protocol: 'delta' | 'sotw' = 'delta', debounceMs?: number): Promise<RunnerFixture> {
  const backends = await Promise.all(backendNames.map((n) => startEchoBackend(n)));
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-run-test-'));
  writeFileSync(path.join(dir, 'gateway.yaml'), gatewayYaml(port));
  writeFileSync(path.join(dir, 'backends.yaml'), serviceYaml(backends));
  writeFileSync(path.join(dir, 'routes.yaml'), routesYaml(routes));
  const logs: RunnerFixture['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as RunnerFixture['logs'][number]) });
  const runner = new StandaloneRunner({ dir, protocol, logger, print: () => {}, ...(debounceMs === undefined ? {} : { debounceMs }), nodeId: `weft-run-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  t.teardown(async () => {
    await runner.stop();
    await Promise.all(backends.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, port, backends, runner, logs };
}

/** The first event `name` for which `accept` holds; rejects after `timeoutMs` with `explain()`. */
export function waitFor<K extends keyof RunnerEvents>(
  runner: StandaloneRunner,
  name: K,
  accept: (...args: RunnerEvents[K]) => boolean,
  timeoutMs = 20_000,
  explain: () => string = () => '',
): Promise<RunnerEvents[K]> {
  return new Promise((resolve, reject) => {
    const on = (...args: RunnerEvents[K]): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      runner.off(name, on as never);
      resolve(args);
    };
    const timer = setTimeout(() => {
      runner.off(name, on as never);
      reject(new Error(`timed out waiting for runner event ${name} ${explain()}`));
    }, timeoutMs);
    runner.on(name, on as never);
  });
}

/** Waits for the runner to be ready on a generation after `after`. */
export async function readyAfter(runner: StandaloneRunner, after: number): Promise<ReadyInfo> {
  const [info] = await waitFor(runner, 'ready', (i) => i.generation > after, 20_000, () => `(generation ${runner.generation}, divergence: ${runner.divergence()}, unprogrammed: ${runner.unprogrammedGateways().join(', ')})`);
  return info;
}

/** After start(): waits until the first generation is ready. */
export async function startedAndReady(runner: StandaloneRunner, timeoutMs = 30_000): Promise<ReadyInfo> {
  return withDeadline(runner.ready(), timeoutMs, () => `the runner to be ready (divergence: ${runner.divergence()}, unprogrammed: ${runner.unprogrammedGateways().join(', ')})`);
}
