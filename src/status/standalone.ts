// `weft status --admin`: the health of a `weft run` from its admin endpoint: its configuration (every Gateway
// programmed, Envoy holding the current snapshot), Envoy (running, its admin /ready LIVE, restarts), xDS per
// node (streams, ACKs, NACKs with the last error), translation problems and certificate expiry.
import type { RunnerStatus } from '../standalone/runner.js';
import { parseSamples } from './kubernetes.js';
import { certificateCheck, type Check } from './report.js';

interface XdsNode {
  nodeId: string;
  connectedStreams: number;
  types: Record<string, { responses: number; acks: number; nacks: number; lastNack?: { errorMessage: string; at: string } }>;
}

async function get(base: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

export async function standaloneChecks(admin: string): Promise<Check[]> {
  const base = admin.includes('://') ? admin : `http://${admin}`;
  let status: RunnerStatus;
  let nodes: XdsNode[];
  try {
    const s = await get(base, '/debug/status');
    if (s.status !== 200) throw new Error(`/debug/status: HTTP ${s.status} (not a weft run admin endpoint?)`);
    status = JSON.parse(s.body) as RunnerStatus;
    nodes = JSON.parse((await get(base, '/debug/xds')).body) as XdsNode[];
  } catch (err) {
    return [{ subject: 'weft run', state: 'fail', detail: `admin endpoint ${base} unreachable: ${(err as Error).message}` }];
  }
  const checks: Check[] = [];
  const notes: string[] = [];
  if (status.unprogrammedGateways.length) notes.push(`Gateways not programmed: ${status.unprogrammedGateways.join(', ')}`);
  if (status.divergence) notes.push(`Envoy does not hold the current configuration: ${status.divergence}`);
  checks.push({
    subject: 'configuration', state: status.ready ? 'ok' : 'fail',
    detail: status.ready ? `generation ${status.generation}, version ${status.version}: served and ACKed` : `generation ${status.generation}, version ${status.version}: ${notes.join('; ') || 'not ready'}`,
  });
  if (status.problems > 0) checks.push({ subject: 'translation', state: 'warn', detail: `${status.problems} problem(s) in the manifests (weft translate shows them)` });

  let envoyReady = '';
  if (status.envoy.running) {
    try {
      const r = await get(base, '/debug/envoy/ready');
      envoyReady = r.status === 200 ? r.body.trim() : `not ready (HTTP ${r.status}: ${r.body.trim()})`;
    } catch (err) {
      envoyReady = `admin unreachable: ${(err as Error).message}`;
    }
  }
  const envoyOk = status.envoy.running && envoyReady === 'LIVE';
  checks.push({
    subject: 'envoy', state: envoyOk ? (status.envoy.restarts > 0 ? 'warn' : 'ok') : 'fail',
    detail: status.envoy.running ? `pid ${status.envoy.pid}, ${envoyReady}, ${status.envoy.restarts} restart(s)` : 'not running',
  });

  const node = nodes.find((n) => n.nodeId === status.nodeId);
  for (const n of node ? [node] : [{ nodeId: status.nodeId, connectedStreams: 0, types: {} }]) {
    const types = Object.entries(n.types);
    const nacked = types.filter(([, t]) => t.lastNack);
    const counts = types.map(([name, t]) => `${name} ${t.acks}/${t.nacks}`).join(', ');
    const lastNack = nacked.map(([name, t]) => `${name}: ${t.lastNack!.errorMessage.split('\n')[0]}`).join('; ');
    // A NACK that the current configuration no longer carries is history (a warning); one it does is a failure.
    const state = n.connectedStreams === 0 ? 'fail' : nacked.length === 0 ? 'ok' : status.divergence ? 'fail' : 'warn';
    checks.push({
      subject: `xds ${n.nodeId}`, state,
      detail: `${n.connectedStreams} stream(s); ACKs/NACKs ${counts || 'none yet'}${lastNack ? `; last NACK ${lastNack}` : ''}`,
    });
  }
  for (const c of status.certificates) checks.push(certificateCheck(c));
  checks.push(...(await datapathChecks(base)));
  return checks;
}

/** With a datapath (`--flows-bpf-pin-root`): its maps' sizes, from the metrics. */
async function datapathChecks(base: string): Promise<Check[]> {
  try {
    const samples = parseSamples((await get(base, '/metrics')).body).filter((s) => s.name === 'weft_datapath_map_entries');
    if (samples.length === 0) return [];
    return [{ subject: 'datapath', state: 'ok', detail: `map entries ${samples.map((s) => `${s.labels.map} ${s.value}`).join(', ')}` }];
  } catch (err) {
    return [{ subject: 'datapath', state: 'warn', detail: `metrics unreadable: ${(err as Error).message}` }];
  }
}
