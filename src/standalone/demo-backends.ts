// The quickstart's two demo backends: plain HTTP servers on loopback that answer with their name and
// the request path, so that each routing behaviour shows in one curl.
import http from 'node:http';

export interface DemoBackend {
  name: string;
  port: number;
  server: http.Server;
}

export const QUICKSTART_BACKENDS: Record<string, number> = { blue: 18081, green: 18082 };

export async function startDemoBackends(backends: Record<string, number> = QUICKSTART_BACKENDS): Promise<DemoBackend[]> {
  const started: DemoBackend[] = [];
  try {
    for (const [name, port] of Object.entries(backends)) {
      const server = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
        res.end(`${name} ${req.url ?? '/'}\n`);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new Error(`demo backend ${name} cannot listen on 127.0.0.1:${port}: ${err.message}`)));
        server.listen(port, '127.0.0.1', resolve);
      });
      started.push({ name, port, server });
    }
  } catch (err) {
    await stopDemoBackends(started);
    throw err;
  }
  return started;
}

export async function stopDemoBackends(backends: DemoBackend[]): Promise<void> {
  await Promise.all(
    backends.map(
      (b) =>
        new Promise<void>((resolve) => {
          b.server.closeAllConnections();
          b.server.close(() => resolve());
        }),
    ),
  );
}
