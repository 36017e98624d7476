// The relay's web endpoint: the service map page, and the JSON it reads (/api/map, /api/flows) filtered
// with the same names as `weft observe`'s flags; with a registry also the relay's /metrics.
import http from 'node:http';
import type { Registry } from 'prom-client';
import { sendMetrics } from '../metrics/http.js';
import type { AddressInfo } from 'node:net';
import { compileFilter } from './filter.js';
import { filterFromParams, type FilterParam } from './filter-params.js';
import type { FlowRing } from './flow-ring.js';
import { SERVICE_MAP_PAGE } from './service-map-page.js';
import { serviceMap } from './service-map.js';

export async function serveServiceMap(ring: FlowRing, host: string, port: number, registry?: Registry): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return json(405, { error: 'only GET' });
    if (url.pathname === '/metrics' && registry) return sendMetrics(registry, res);
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(SERVICE_MAP_PAGE);
      return;
    }
    if (url.pathname !== '/api/map' && url.pathname !== '/api/flows') return json(404, { error: `no ${url.pathname}` });
    let match;
    try {
      match = compileFilter(filterFromParams((name: FilterParam) => url.searchParams.getAll(name)));
    } catch (err) {
      return json(400, { error: (err as Error).message });
    }
    if (url.pathname === '/api/map') return json(200, serviceMap(ring.recent(match)));
    const limit = Number(url.searchParams.get('limit') ?? 500);
    // Newest first, as a table of recent flows reads.
    return json(200, { flows: ring.recent(match, Number.isInteger(limit) && limit > 0 ? limit : 500).reverse() });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
