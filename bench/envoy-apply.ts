// Envoy's CPU time to apply the RouteConfiguration of the propagation bench's 3,000 routes, for variants of what
// Weft sends and of how Envoy runs: which per-route config and which Envoy flag cost Envoy time per change?
//
//   node dist/bench/envoy-apply.js [--routes=3000] [--pushes=20] [--arms=weft,weft:check-fields,no-upgrade,no-name]
//
// Each arm is a real Envoy on the real xDS server; the directory's translation is pushed with one route added per
// push (a new path, as a new HTTPRoute would), the arms alternating push by push. Envoy's CPU time (every thread,
// from /proc/PID/task/TID/schedstat) from the push until 30 ms after its ACK. Arms: a variant of the
// RouteConfiguration (weft: as Weft sends it; no-upgrade: without routes' upgrade_configs; no-name: without route
// names), `:check-fields` runs Envoy without --ignore-unknown-dynamic-fields. Baseline, the same run: `weft`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeBootstrap } from '../envoy/bootstrap.js';
import { EnvoyProcess } from '../envoy/process.js';
import type { Route } from '../src/generated/envoy/config/route/v3/Route.js';
import type { RouteConfiguration } from '../src/generated/envoy/config/route/v3/RouteConfiguration.js';
import { translateDirectory } from '../src/standalone/pipeline.js';
import type { AckEvent } from '../src/xds/ads-stream.js';
import { InMemorySnapshotCache } from '../src/xds/cache.js';
import { routeConfigurationResource } from '../src/xds/envoy-resources.js';
import { decodeMessage } from '../src/xds/protos.js';
import { XdsServer } from '../src/xds/server.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { gatewayDocs, namespaceOf, serviceDocs, toYaml, treeState, type Doc } from './gateway-manifests.js';
import { freePort, machine, ms, parseArgs, stats, threadsCpuMs } from './lib.js';

const args = parseArgs();
const ROUTES = Number(args.get('routes') ?? 3000);
const PUSHES = Number(args.get('pushes') ?? 20);
const WARMUP = 2;
const SERVICES = 50;

type Config = RouteConfiguration & { name: string };
const VARIANTS: Record<string, (r: Route) => Route> = {
  weft: (r) => r,
  'no-upgrade': (r) => (r.route ? { ...r, route: { ...r.route, upgrade_configs: [] } } : r),
  'no-name': ({ name: _name, ...r }) => r,
};

/** The propagation bench's directory (bench/propagation.ts): a Gateway, 50 Services, ROUTES one-rule HTTPRoutes. */
function writeDirectory(dir: string, port: number): void {
  writeFileSync(path.join(dir, 'gateway.yaml'), toYaml(gatewayDocs(port)));
  const services: Doc[] = [];
  for (let i = 0; i < SERVICES; i++) services.push(...serviceDocs(i, ['127.0.0.1'], 9, 9));
  writeFileSync(path.join(dir, 'services.yaml'), toYaml(services));
  const routes: Doc[] = [];
  for (let j = 0; j < ROUTES; j++) {
    routes.push({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: `route-${j}`, namespace: namespaceOf(j) },
      spec: { parentRefs: [{ name: 'bench', namespace: 'infra' }], hostnames: [`app-${j % SERVICES}.example.com`], rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/r${j}` } }], backendRefs: [{ name: `svc-${j % SERVICES}`, port: 80 }] }] },
    });
  }
  writeFileSync(path.join(dir, 'routes.yaml'), toYaml(routes));
}

/** `config` with one more route (path /new-i) first in its first virtual host. */
function withNewRoute(config: Config, i: number): Config {
  const [first, ...rest] = config.virtual_hosts ?? [];
  const template = first.routes![0];
  const added: Route = { ...template, match: { path_separated_prefix: `/new-${i}` }, ...(template.name ? { name: `new-${i}` } : {}) };
  return { ...config, virtual_hosts: [{ ...first, routes: [added, ...first.routes!] }, ...rest] };
}

interface Arm {
  name: string;
  config: Config;
  envoy: EnvoyProcess;
  nodeId: string;
  cpu: number[];
}

async function main(): Promise<void> {
  console.log(`# envoy-apply  routes=${ROUTES}  pushes=${PUSHES}  ${treeState()}  ${machine()}  ${new Date().toISOString()}`);
  const work = mkdtempSync(path.join(tmpdir(), 'weft-bench-apply-'));
  const dir = path.join(work, 'manifests');
  mkdirSync(dir);
  writeDirectory(dir, await freePort());
  const translation = translateDirectory(dir);
  const base = translation.resources.filter((r) => r.typeUrl !== TypeUrl.RouteConfiguration);
  const sent = translation.resources.find((r) => r.typeUrl === TypeUrl.RouteConfiguration)!;
  const weft = decodeMessage('envoy.config.route.v3.RouteConfiguration', sent.body) as unknown as Config;

  const cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  const server = new XdsServer({ cache });
  const waiting = new Map<string, (e: AckEvent) => void>();
  server.on('ack', (e) => waiting.get(e.nodeId)?.(e));
  let nack: string | undefined;
  server.on('nack', (e) => (nack ??= `${e.nodeId}: ${e.errorMessage}`));
  await server.listen({ unix: path.join(work, 'xds.sock') });
  const arms: Arm[] = [];
  try {
    for (const [k, name] of (args.get('arms') ?? 'weft,weft:check-fields,no-upgrade,no-name').split(',').entries()) {
      const [variant, flag] = name.split(':');
      const change = VARIANTS[variant];
      if (!change || (flag !== undefined && flag !== 'check-fields')) throw new Error(`unknown arm ${name} (variants: ${Object.keys(VARIANTS).join(', ')}; flag: check-fields)`);
      const config: Config = { ...weft, virtual_hosts: (weft.virtual_hosts ?? []).map((vh) => ({ ...vh, routes: (vh.routes ?? []).map(change) })) };
      const nodeId = `apply-${k}`;
      const envoy = new EnvoyProcess({ bootstrap: nodeBootstrap({ nodeId, protocol: 'delta', xds: { unix: path.join(work, 'xds.sock') } }), checkDynamicFields: flag === 'check-fields' });
      arms.push({ name, config, envoy, nodeId, cpu: [] });
      await envoy.start();
    }
    const push = async (arm: Arm, config: Config): Promise<void> => {
      const resource = routeConfigurationResource(config);
      const acked = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${arm.name}: no ACK within 30 s${nack ? ` (NACK ${nack})` : ''}`)), 30_000);
        waiting.set(arm.nodeId, (e) => {
          if (e.typeUrl !== TypeUrl.RouteConfiguration || e.versions.get(resource.name) !== resource.version) return;
          clearTimeout(timer);
          resolve();
        });
      });
      cache.setSnapshot(arm.nodeId, Snapshot.of([...base, resource]));
      await acked;
    };
    for (const arm of arms) await push(arm, arm.config);
    for (let i = 0; i < PUSHES + WARMUP; i++) {
      for (const arm of arms) {
        const config = withNewRoute(arm.config, i);
        await sleep(30);
        const c0 = threadsCpuMs(arm.envoy.pid);
        await push(arm, config);
        await sleep(30);
        if (i >= WARMUP) arm.cpu.push(threadsCpuMs(arm.envoy.pid) - c0);
      }
    }
    if (nack) throw new Error(`NACK ${nack}`);
    const baseline = stats(arms[0].cpu).p50;
    console.log(`\narm | RouteConfiguration KiB | Envoy CPU per apply p50 / p99 / min (ms) | × ${arms[0].name} (p50)`);
    for (const arm of arms) {
      const s = stats(arm.cpu);
      console.log(`${arm.name} | ${(routeConfigurationResource(arm.config).body.byteLength / 1024).toFixed(0)} | ${ms(s.p50)} / ${ms(s.p99)} / ${ms(Math.min(...arm.cpu))} | ${(s.p50 / baseline).toFixed(2)}`);
    }
    console.log(`RESULT envoy-apply ${JSON.stringify(arms.map((a) => ({ arm: a.name, cpu: stats(a.cpu) })))}`);
  } finally {
    for (const arm of arms) await arm.envoy.stop();
    await server.shutdown(0);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
