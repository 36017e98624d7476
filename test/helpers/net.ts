// Loopback-only networking helpers for tests.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range: a port bind(0) hands out
 * comes from that range, and an outgoing connection can take it before the test's server (an Envoy started
 * later) binds it (CI saw "Address already in use" once). Ports below it are never taken that way; one this process
 * handed out is not handed out again.
 */
export async function freePort(): Promise<number> {
  const low = Math.max(1024, Math.min(PORT_RANGE_LOW, ephemeralLow() - PORT_RANGE_SIZE));
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = low + Math.floor(Math.random() * PORT_RANGE_SIZE);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${low}-${low + PORT_RANGE_SIZE - 1} after 64 tries`);
}

const PORT_RANGE_LOW = 20_000;
const PORT_RANGE_SIZE = 10_000;
const handedOut = new Set<number>();

/** The first port of net.ipv4.ip_local_port_range (Linux's default 32768). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `promise`, or a rejection naming `what()` (evaluated then, for diagnostics) once `timeoutMs` pass first. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
