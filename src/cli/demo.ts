// `weft demo`: the control plane, a supervised local Envoy, two demo backends and a small routing
// table, all on loopback. The Gateway API quickstart replaces this with `weft run -c DIR`.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { EnvoySupervisor } from '../../envoy/process.js';
import { createLogger } from '../log/logger.js';
import { edsCluster, httpListener, loadAssignment } from '../xds/builders.js';
import { InMemorySnapshotCache } from '../xds/cache.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../xds/envoy-resources.js';
import { XdsServer } from '../xds/server.js';
import { Snapshot } from '../xds/snapshot.js';
import { startAdminServer } from '../standalone/admin-server.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  protocol: 'delta' | 'sotw';
}

const NODE_ID = 'weft-demo-node';

async function startDemoBackend(name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${name}: ${req.method} ${req.url} (host ${req.headers.host})\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function demoSnapshot(port: number, backends: Record<string, number>): Snapshot {
  return Snapshot.of([
    ...Object.entries(backends).flatMap(([name, backendPort]) => [
      clusterResource(edsCluster(name)),
      endpointsResource(loadAssignment(name, [{ address: '127.0.0.1', port: backendPort }])),
    ]),
    routeConfigurationResource({
      name: 'demo',
      virtual_hosts: [
        {
          name: 'demo',
          domains: ['*'],
          routes: [
            { match: { prefix: '/blue' }, route: { cluster: 'blue' } },
            { match: { prefix: '/', headers: [{ name: 'x-color', string_match: { exact: 'blue' } }] }, route: { cluster: 'blue' } },
            { match: { prefix: '/' }, route: { cluster: 'green' } },
          ],
        },
      ],
    }),
    listenerResource(httpListener({ name: 'demo', address: '127.0.0.1', port, routeConfigName: 'demo' })),
  ]);
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const log = createLogger('weft');
  const workDir = mkdtempSync(path.join(tmpdir(), 'weft-demo-'));
  const socket = path.join(workDir, 'xds.sock');
  const blue = await startDemoBackend('blue');
  const green = await startDemoBackend('green');
  const ports = { blue: (blue.address() as net.AddressInfo).port, green: (green.address() as net.AddressInfo).port };

  const cache = new InMemorySnapshotCache();
  const server = new XdsServer({ cache, logger: log });
  await server.listen({ unix: socket });
  const admin = await startAdminServer(server, opts.adminPort);
  cache.setSnapshot(NODE_ID, demoSnapshot(opts.port, ports));

  const envoy = new EnvoySupervisor({ bootstrap: nodeBootstrap({ nodeId: NODE_ID, xds: { unix: socket }, protocol: opts.protocol }) }, log.child({ component: 'envoy' }));
  const proc = await envoy.start();

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('stopping');
    await envoy.stop();
    await server.shutdown(1000);
    admin.close();
    blue.close();
    green.close();
    rmSync(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());

  const ack = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    const check = (): void => {
      const listeners = server.nodeStatus(NODE_ID)?.types.get('type.googleapis.com/envoy.config.listener.v3.Listener');
      if (listeners?.acked.has('demo')) {
        clearTimeout(timer);
        server.off('ack', check);
        resolve(true);
      }
    };
    server.on('ack', check);
    check();
  });
  if (!ack) {
    log.error({ envoyLog: proc.log() }, 'Envoy did not ACK the demo configuration within 30 s');
    await stop();
    process.exitCode = 1;
    return;
  }
  const base = `http://127.0.0.1:${opts.port}`;
  process.stdout.write(
    [
      '',
      `Weft is ready: Envoy ${proc.pid} took the demo configuration over ${opts.protocol} ADS.`,
      'Try:',
      `  curl ${base}/                      # -> green (default route)`,
      `  curl ${base}/blue/anything         # -> blue  (path prefix /blue)`,
      `  curl -H 'x-color: blue' ${base}/   # -> blue  (header match)`,
      `  curl http://127.0.0.1:${opts.adminPort}/debug/xds   # what Envoy ACKed or rejected, per type`,
      `  curl http://127.0.0.1:${opts.adminPort}/metrics     # Prometheus metrics`,
      `  curl ${proc.adminUrl}/config_dump  # Envoy's own view`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}
