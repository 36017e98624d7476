// Readiness and liveness probes as the kubelet runs them: httpGet (200-399 succeeds), tcpSocket (a connection succeeds), exec
// (exit 0) inside the pod's namespace. The kubelet runs in the node's namespace, which routes to its pods.
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

function resolvePort(port: number | string | undefined, c: V1Container): number | undefined {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

export interface ProbeResult { ok: boolean; /** Why it failed, as the kubelet words it in Unhealthy events. */ message?: string }

export function runProbe(probe: V1Probe, c: V1Container, podIP: string, netns: string): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const g = probe.httpGet;
    const port = resolvePort(g.port, c);
    if (!port) return Promise.resolve({ ok: false, message: `port ${String(g.port)} names no port of container ${c.name}` });
    const request = g.scheme === 'HTTPS' ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/weft' };
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    const url = `${g.scheme === 'HTTPS' ? 'https' : 'http'}://${g.host || podIP}:${port}${g.path || '/'}`;
    return new Promise((resolve) => {
      const req = request({ host: g.host || podIP, port, path: g.path || '/', headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      });
      req.on('error', (e) => resolve({ ok: false, message: `Get "${url}": ${e.message}` }));
      req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (timeout ${timeoutMs / 1000}s)`)));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, c);
    if (!port) return Promise.resolve({ ok: false, message: `port ${String(probe.tcpSocket.port)} names no port of container ${c.name}` });
    const host = probe.tcpSocket.host || podIP;
    return new Promise((resolve) => {
      const s = connect({ host, port, timeout: timeoutMs });
      s.once('connect', () => { s.destroy(); resolve({ ok: true }); });
      s.once('error', (e) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
      s.once('timeout', () => { s.destroy(); resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }); });
    });
  }
  if (probe.exec?.command?.length) {
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', netns, ...probe.exec!.command!], { timeout: timeoutMs }, (err, stdout, stderr) => {
        if (!err) return resolve({ ok: true });
        const output = `${stdout}${stderr}`.trim();
        resolve({ ok: false, message: output || `command ${JSON.stringify(probe.exec!.command)} failed: ${err.message}` });
      });
    });
  }
  return Promise.resolve({ ok: false, message: 'grpc probes are not supported by the dev kubelet' }); // never passes, visibly
}

/** Consecutive results against the probe's thresholds, as the kubelet keeps them. */
export interface ProbeState { ready: boolean; successes: number; failures: number; lastRun: number }

export function probeDue(probe: V1Probe, state: ProbeState | undefined, startedAt: number, now: number): boolean {
  if (now < startedAt + (probe.initialDelaySeconds ?? 0) * 1000) return false;
  return !state || now >= state.lastRun + (probe.periodSeconds ?? 10) * 1000;
}

export function recordProbe(probe: V1Probe, state: ProbeState | undefined, ok: boolean, now: number): ProbeState {
  const s = state ?? { ready: false, successes: 0, failures: 0, lastRun: now };
  const successes = ok ? s.successes + 1 : 0;
  const failures = ok ? 0 : s.failures + 1;
  let ready = s.ready;
  if (ok && successes >= (probe.successThreshold ?? 1)) ready = true;
  if (!ok && failures >= (probe.failureThreshold ?? 3)) ready = false;
  return { ready, successes, failures, lastRun: now };
}
