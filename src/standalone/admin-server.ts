// Weft's own admin endpoint on loopback: Prometheus metrics and what each node ACKed or rejected.
import http from 'node:http';
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

export async function startAdminServer(server: XdsServer, port: number): Promise<http.Server> {
  const admin = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.url === '/metrics') {
      server.metrics.registry.metrics().then(
        (text) => send(200, server.metrics.registry.contentType, text),
        (err: unknown) => send(500, 'text/plain', String(err)),
      );
    } else if (req.url === '/debug/xds') {
      send(200, 'application/json', JSON.stringify(xdsStatusJson(server), null, 2) + '\n');
    } else {
      send(404, 'text/plain', 'try /metrics or /debug/xds\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(port, '127.0.0.1', resolve);
  });
  return admin;
}
