// HTTP traffic through Envoy for tests: single requests and bounded keep-alive request loops, to 127.0.0.1 unless a
// test names an address inside network namespaces it created.
import http from 'node:http';
import type { EchoReply } from './echo-backend.js';

export interface Reply {
  status: number;
  /** The echo backend that answered, or '' when the reply did not come from one (e.g. an Envoy 503). */
  backend: string;
  body: string;
}

/** One GET to `host` (127.0.0.1 by default):`port`; rejects on a transport error or after `timeoutMs` idle. */
export function get(port: number, path: string, agent?: http.Agent, host = '127.0.0.1', timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: agent ?? false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let backend = '';
        try {
          backend = (JSON.parse(body) as EchoReply).backend ?? '';
        } catch {
          // not an echo reply
        }
        resolve({ status: res.statusCode ?? 0, backend, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
  });
}

export interface Failure {
  path: string;
  at: number;
  status?: number;
  error?: string;
  body?: string;
}

export interface LoadOptions {
  port: number;
  /** 127.0.0.1 by default; otherwise an address inside the test's own network namespaces. */
  host?: string;
  /** Concurrent loops; each has its own keep-alive connection. */
  concurrency: number;
  /** The path each request goes to; called per request, so the set of paths can change over time. */
  path: (loop: number, seq: number) => string;
  /** Upper bound on requests over all loops, so that a stuck test cannot flood anything. */
  maxRequests?: number;
  /** Pause between a loop's requests, to keep the load gentle on small CI machines. */
  pauseMs?: number;
}

/** Keep-alive request loops that run until stop(); every non-2xx reply or transport error is recorded. */
export class Load {
  requests = 0;
  completed = 0;
  readonly failures: Failure[] = [];
  /** path → backend → count of 2xx replies. */
  readonly served = new Map<string, Map<string, number>>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly agents: http.Agent[] = [];
  private readonly started = Date.now();

  constructor(private readonly opts: LoadOptions) {
    for (let i = 0; i < opts.concurrency; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.push(agent);
      this.loops.push(this.loop(i, agent));
    }
  }

  private async loop(index: number, agent: http.Agent): Promise<void> {
    const max = this.opts.maxRequests ?? 200_000;
    for (let seq = 0; !this.stopped && this.requests < max; seq++) {
      const path = this.opts.path(index, seq);
      this.requests++;
      try {
        const reply = await get(this.opts.port, path, agent, this.opts.host);
        if (reply.status < 200 || reply.status > 299) {
          this.failures.push({ path, at: Date.now() - this.started, status: reply.status, body: reply.body.slice(0, 200) });
        } else {
          let byBackend = this.served.get(path);
          if (!byBackend) this.served.set(path, (byBackend = new Map<string, number>()));
          byBackend.set(reply.backend, (byBackend.get(reply.backend) ?? 0) + 1);
        }
      } catch (err) {
        this.failures.push({ path, at: Date.now() - this.started, error: err instanceof Error ? err.message : String(err) });
        // Do not spin on a refused connection.
        await new Promise((r) => setTimeout(r, 5));
      }
      this.completed++;
      if (this.opts.pauseMs) await new Promise((r) => setTimeout(r, this.opts.pauseMs));
    }
  }

  /** Count of 2xx replies for `path` from `backend` (any backend when omitted). */
  count(path: string, backend?: string): number {
    const byBackend = this.served.get(path);
    if (!byBackend) return 0;
    if (backend !== undefined) return byBackend.get(backend) ?? 0;
    let n = 0;
    for (const c of byBackend.values()) n += c;
    return n;
  }

  /** Waits until at least `n` more requests completed (or the loops ended). */
  async atLeast(n: number, timeoutMs = 15_000): Promise<void> {
    const target = this.completed + n;
    const deadline = Date.now() + timeoutMs;
    while (this.completed < target && !this.stopped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const agent of this.agents) agent.destroy();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
