// An HTTP backend that answers with its own name and the request it saw (and its peer's address), on 127.0.0.1 or `address`.
import http from 'node:http';
import type net from 'node:net';

export interface EchoReply {
  backend: string;
  method: string;
  path: string;
  host: string;
  headers: Record<string, string | string[] | undefined>;
  /** The connection's source address (absent in replies other servers build in this shape). */
  peer?: string;
}

export interface EchoBackend {
  name: string;
  port: number;
  requests: number;
  close(): Promise<void>;
}

export async function startEchoBackend(name: string, address = '127.0.0.1'): Promise<EchoBackend> {
  const backend = { name, port: 0, requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    backend.requests++;
    const reply: EchoReply = { backend: name, method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '', headers: req.headers, peer: req.socket.remoteAddress ?? '' };
    res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
    res.end(JSON.stringify(reply));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return backend;
}
