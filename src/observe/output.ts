// `weft observe` output: compact (one line per flow, as Hubble's), wide (with node, labels and identities
// spelled out) and JSON (one object per line, the wire record).
import type { Flow, FlowEndpoint } from './flow.js';

export type OutputFormat = 'compact' | 'wide' | 'json';

function time(ms: number): string {
  return new Date(ms).toISOString();
}

function who(e: FlowEndpoint): string {
  const name = e.pod ? `${e.namespace}/${e.pod}` : e.workload || e.ip;
  return e.port ? `${name}:${e.port}` : name;
}

function verdict(f: Flow): string {
  return f.drop_reason ? `${f.verdict} (${f.drop_reason})` : f.verdict;
}

function http(f: Flow): string {
  if (!f.http) return '';
  return ` ${f.http.protocol} ${f.http.method} ${f.http.host}${f.http.path} ${f.http.status}${f.http.latency_ms ? ` ${f.http.latency_ms.toFixed(1)}ms` : ''}`;
}

export function formatFlow(f: Flow, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(f);
  const arrow = f.traffic_direction === 'INGRESS' ? '->' : '=>';
  if (format === 'compact') return `${time(f.time_ms)} ${who(f.source)} (ID:${f.source.identity}) ${arrow} ${who(f.destination)} (ID:${f.destination.identity}) ${f.type} ${verdict(f)} ${f.protocol}${http(f)}`;
  const labels = (e: FlowEndpoint): string => (e.labels.length ? ` [${e.labels.join(',')}]` : '');
  const services = (e: FlowEndpoint): string => (e.services.length ? ` svc=${e.services.join(',')}` : '');
  return `${time(f.time_ms)} node=${f.node} ${f.source.ip}:${f.source.port} ${who(f.source)} (ID:${f.source.identity})${labels(f.source)}${services(f.source)} ${arrow} ${f.destination.ip}:${f.destination.port} ${who(f.destination)} (ID:${f.destination.identity})${labels(f.destination)}${services(f.destination)} ${f.type} ${f.traffic_direction} ${verdict(f)}${f.drop_reason_code ? ` code=${f.drop_reason_code}` : ''} ${f.protocol} IPv${f.ip_version}${http(f)} ${f.summary}`;
}
