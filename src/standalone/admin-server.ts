// Weft's own admin endpoint on loopback: Prometheus metrics (Weft's and, passed through, Envoy's), what each
// node ACKed or rejected, and for `weft run` its readiness, status and translation (what `weft status` and
// `weft sysdump` read) and a few read-only pages of Envoy's admin interface.
import http from 'node:http';
import type { Registry } from 'prom-client';
import { relayEnvoyAdmin, sendMetrics } from '../metrics/http.js';
import type { XdsServer } from '../xds/server.js';
import { shortTypeName } from '../xds/type-urls.js';

export function xdsStatusJson(server: XdsServer): unknown {
  return server.status.all().map((node) => ({
    nodeId: node.nodeId,
    nodeKey: node.nodeKey,
    connectedStreams: node.connectedStreams,
    types: Object.fromEntries(
      [...node.types].map(([type, ts]) => [
        shortTypeName(type),
        { responses: ts.responses, acks: ts.acks, nacks: ts.nacks, ackedVersion: ts.ackedVersion, resources: Object.fromEntries(ts.acked), lastNack: ts.lastNack },
      ]),
    ),
  }));
}

/** Read-only pages of Envoy's admin interface passed through under /debug/envoy/ (never its POST actions). */
export const ENVOY_ADMIN_PAGES = ['config_dump', 'clusters', 'stats', 'stats/prometheus', 'server_info', 'ready', 'listeners', 'certs', 'runtime'] as const;

export interface AdminSources {
  /** Default: the xDS server's registry. */
  registry?: Registry;
  envoyAdminUrl?: () => string | undefined;
  ready?: () => boolean;
  /** JSON for /debug/status. */
  status?: () => unknown;
  /** JSON for /debug/translation (statuses and problems; `xds=1`: also the resources, keys redacted). */
  translation?: (withXds: boolean) => unknown;
}

export async function startAdminServer(server: XdsServer, port: number, sources: AdminSources = {}): Promise<http.Server> {
  const registry = sources.registry ?? server.metrics.registry;
  const admin = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const json = (body: unknown): void => send(200, 'application/json', JSON.stringify(body, null, 2) + '\n');
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (path === '/metrics') sendMetrics(registry, res);
    else if (path === '/debug/xds') json(xdsStatusJson(server));
    else if (path === '/metrics/envoy' && sources.envoyAdminUrl) relayEnvoyAdmin(sources.envoyAdminUrl(), '/stats/prometheus', res);
    else if (path === '/readyz' && sources.ready) {
      if (sources.ready()) send(200, 'text/plain', 'ready\n');
      else send(503, 'text/plain', 'not ready\n');
    } else if (path === '/debug/status' && sources.status) json(sources.status());
    else if (path === '/debug/translation' && sources.translation) json(sources.translation(url.searchParams.get('xds') === '1'));
    else if (path.startsWith('/debug/envoy/') && sources.envoyAdminUrl && (ENVOY_ADMIN_PAGES as readonly string[]).includes(path.slice('/debug/envoy/'.length))) {
      relayEnvoyAdmin(sources.envoyAdminUrl(), `/${path.slice('/debug/envoy/'.length)}${url.search}`, res);
    } else {
      const pages = ['/metrics', '/debug/xds', ...(sources.envoyAdminUrl ? ['/metrics/envoy', '/debug/envoy/{' + ENVOY_ADMIN_PAGES.join(',') + '}'] : []), ...(sources.ready ? ['/readyz'] : []), ...(sources.status ? ['/debug/status'] : []), ...(sources.translation ? ['/debug/translation'] : [])];
      send(404, 'text/plain', `try ${pages.join(', ')}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(port, '127.0.0.1', resolve);
  });
  return admin;
}
