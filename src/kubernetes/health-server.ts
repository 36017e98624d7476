// The operator's and agent's probe and metrics endpoint in a cluster (what the Helm chart's probes and metrics
// Services use): /healthz answers while the process serves, /readyz once the component is ready (its own notion),
// /metrics in the Prometheus text format, and for a component with an Envoy, /metrics/envoy: Envoy's own stats.
// The flow agent serves the same endpoint (`weft flows-agent --metrics-listen`).
import http from 'node:http';
import type { Registry } from 'prom-client';
import { relayEnvoyAdmin, sendMetrics } from '../metrics/http.js';

export interface HealthSource {
  ready(): boolean;
  registry: Registry;
  /** The node Envoy's admin URL (loopback), when the component runs one. */
  envoyAdminUrl?: () => string | undefined;
}

export async function startHealthServer(source: HealthSource, port: number, host = '0.0.0.0'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') send(200, 'text/plain', 'ok\n');
    else if (path === '/readyz') {
      if (source.ready()) send(200, 'text/plain', 'ready\n');
      else send(503, 'text/plain', 'not ready\n');
    } else if (path === '/metrics') sendMetrics(source.registry, res);
    else if (path === '/metrics/envoy' && source.envoyAdminUrl) relayEnvoyAdmin(source.envoyAdminUrl(), '/stats/prometheus', res);
    else send(404, 'text/plain', `try /healthz, /readyz, /metrics${source.envoyAdminUrl ? ' or /metrics/envoy' : ''}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
