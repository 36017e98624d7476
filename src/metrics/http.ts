// Serving metrics over HTTP: Weft's registry in the Prometheus text format, and the node Envoy's own stats
// (its admin /stats/prometheus, which listens on loopback only) passed through as they are.
import type http from 'node:http';
import type { Registry } from 'prom-client';

export function sendMetrics(registry: Registry, res: http.ServerResponse): void {
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${String(err)}\n`);
    },
  );
}

/** GET `path` of Envoy's admin endpoint, relayed with its status; 503 when there is no Envoy (yet). */
export function relayEnvoyAdmin(adminUrl: string | undefined, path: string, res: http.ServerResponse): void {
  if (!adminUrl) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('no Envoy running\n');
    return;
  }
  fetch(adminUrl + path, { signal: AbortSignal.timeout(10_000) }).then(
    async (r) => {
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
      res.end(body);
    },
    (err: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`Envoy admin ${path}: ${(err as Error).message}\n`);
    },
  );
}
