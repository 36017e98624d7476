// The node proxy's access logs → L7 flow records: the JSON lines of the L7 policy listeners' file (the flow agent
// tails it, access-log-tail.ts), and the gRPC access log entries (envoy.data.accesslog.v3.HTTPAccessLogEntry, as
// proto-loader decodes them with keepCase) of Gateway and Ingress listeners in Kubernetes mode, whose destination is
// the backend the request went to (the upstream host), or the listener when none was chosen. An L7 policy route's
// name names the endpoint whose rules apply (and, where the route table enforces, the peer and the decision).
import type { Flow, FlowEndpoint, FlowVerdict } from './flow.js';
import type { WorkloadDirectory } from './directory.js';
import { peerDecision, peerLabels, peerOf, policyDecision, refusingDecision, routeEnd, text } from '../l7policy/access-log.js';
import { UNLISTED } from '../l7policy/envoy.js';
import { RESERVED_WORLD } from '../l7policy/identities.js';

interface SocketAddress { socket_address?: { address?: string; port_value?: number } | null }
interface Duration { seconds?: string | number; nanos?: number }

export interface HttpAccessLogEntry {
  common_properties?: {
    downstream_remote_address?: SocketAddress | null;
    downstream_direct_remote_address?: SocketAddress | null;
    downstream_local_address?: SocketAddress | null;
    upstream_remote_address?: SocketAddress | null;
    start_time?: Duration | null;
    time_to_last_downstream_tx_byte?: Duration | null;
    custom_tags?: Record<string, string>;
    route_name?: string;
  } | null;
  protocol_version?: string;
  request?: { request_method?: string; path?: string; authority?: string } | null;
  response?: { response_code?: { value?: number } | null; response_code_details?: string } | null;
}

const PROTOCOLS: Readonly<Record<string, string>> = { HTTP10: 'HTTP/1.0', HTTP11: 'HTTP/1.1', HTTP2: 'HTTP/2', HTTP3: 'HTTP/3' };

const ms = (d: Duration | null | undefined): number => (d ? Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6 : 0);
const num = (v: string | undefined): number => (v !== undefined && /^\d+$/.test(v) ? Number(v) : 0);

/**
 * The enforcing decision → verdict and Cilium drop reason: `dropped:deny-rule` is an explicit deny (POLICY_DENY).
 * An RBAC filter's refusal is in the response details; where the route table enforces, a refusal is the route's
 * direct response and its decision the route's (`routeDecision`, `<peer>|<decision>`).
 */
function decision(details: string, routeDecision: string | undefined): { verdict: FlowVerdict; reason: string; code: number; summary: string } {
  const refused = refusingDecision(details, routeDecision);
  if (refused !== undefined) {
    const name = peerDecision(refused).decision;
    // A client's egress rules name their decisions `egress:…` (src/l7policy/envoy.ts).
    return name.replace(/^egress:/, '') === 'dropped:deny-rule' ? { verdict: 'DROPPED', reason: 'POLICY_DENY', code: 181, summary: name } : { verdict: 'DROPPED', reason: 'POLICY_DENIED', code: 133, summary: name };
  }
  if (details === 'via_upstream') return { verdict: 'FORWARDED', reason: '', code: 0, summary: details };
  return { verdict: 'ERROR', reason: '', code: 0, summary: details };
}

/**
 * One end of the flow; a world address the proxy named by a policy CIDR keeps Cilium's CIDR labels. A peer the
 * proxy left `unlisted` (the port's rules do not name it) that is no address the directory knows is outside the
 * cluster: the world, as Hubble names it.
 */
function flowEnd(directory: WorkloadDirectory, ip: string, port: number, decisionTag: string | undefined): FlowEndpoint {
  // The tag is the enforcing decision, `<peer>|<decision>` (src/l7policy/envoy.ts PEER_SEPARATOR).
  const identityTag = decisionTag === undefined ? undefined : peerOf(decisionTag);
  const identity = num(identityTag) || directory.identityOf(ip) || (identityTag === UNLISTED ? RESERVED_WORLD : 0);
  const end = directory.endpoint(ip, port, identity);
  const labels = peerLabels(identityTag);
  return end.pod === '' && labels.length > 1 ? { ...end, labels, workload: 'world' } : end;
}

/** One request as Envoy logged it (a gRPC access log entry or a file line), before the directory names its ends. */
interface LoggedRequest {
  timeMs: number;
  egress: boolean;
  /** Each end's address, port and what the log names it by: an identity, `unlisted`, a CIDR label, or the
   *  enforcing decision `<peer>|<decision>` (flowEnd reads the peer); undefined where nothing names it. */
  source: { ip: string; port: number; tag: string | undefined };
  destination: { ip: string; port: number; tag: string | undefined };
  /** The response details and, where the route table enforces, the route's decision (`<peer>|<decision>`). */
  details: string;
  routeDecision: string | undefined;
  method: string;
  path: string;
  host: string;
  status: number;
  latencyMs: number;
  protocol: string;
}

function flowOf(r: LoggedRequest, directory: WorkloadDirectory): Flow {
  const d = decision(r.details, r.routeDecision);
  return {
    time_ms: r.timeMs,
    node: directory.node,
    type: 'L7',
    verdict: d.verdict,
    drop_reason: d.reason,
    drop_reason_code: d.code,
    traffic_direction: r.egress ? 'EGRESS' : 'INGRESS',
    ip_version: r.source.ip.includes(':') ? 6 : 4,
    protocol: 'HTTP',
    source: flowEnd(directory, r.source.ip, r.source.port, r.source.tag),
    destination: flowEnd(directory, r.destination.ip, r.destination.port, r.destination.tag),
    http: { method: r.method, path: r.path, host: r.host, status: r.status, latency_ms: r.latencyMs, protocol: r.protocol },
    summary: d.summary,
  };
}

/**
 * A gRPC access log entry (Gateway and Ingress listeners in Kubernetes mode) → a flow. An entry naming an L7 policy
 * route (as those listeners streamed until 2026-12-04; bench/l7-flow-sources.ts measures against it) is read as the
 * file line is: the route names one end, the custom tags the direction and the RBAC filter's decision.
 */
export function flowFromAccessLog(entry: HttpAccessLogEntry, directory: WorkloadDirectory): Flow {
  const common = entry.common_properties ?? {};
  const tags = common.custom_tags ?? {};
  // An L7 policy route names the endpoint whose rules apply (the destination on ingress, the client on its egress
  // chain), its identity and the port; where the route table enforces an ingress chain, also the peer and the
  // decision (envoy.ts routeLogName, routeDecisions).
  const route = routeEnd(common.route_name);
  const egress = tags.direction === 'egress';
  const from = (common.downstream_direct_remote_address ?? common.downstream_remote_address)?.socket_address ?? {};
  const upstream = route === undefined ? common.upstream_remote_address?.socket_address : undefined;
  const to = (upstream?.address ? upstream : common.downstream_local_address?.socket_address) ?? {};
  return flowOf({
    timeMs: ms(common.start_time),
    egress,
    source: { ip: from.address ?? '', port: from.port_value ?? 0, tag: egress ? route?.identity : tags.source_identity || route?.decision },
    destination: { ip: to.address ?? '', port: num(route?.port) || (to.port_value ?? 0), tag: egress ? tags.destination_identity : route?.identity },
    details: entry.response?.response_code_details ?? '',
    routeDecision: route?.decision,
    method: entry.request?.request_method ?? '',
    path: entry.request?.path ?? '',
    host: entry.request?.authority ?? '',
    status: entry.response?.response_code?.value ?? 0,
    latencyMs: ms(common.time_to_last_downstream_tx_byte),
    protocol: PROTOCOLS[entry.protocol_version ?? ''] ?? entry.protocol_version ?? '',
  }, directory);
}

/** `10.0.0.1:5000`, `[fd00::1]:5000` → address and port. */
function hostPort(v: string): { ip: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(v);
  return m ? { ip: m[1], port: Number(m[2]) } : { ip: v, port: 0 };
}

/**
 * A line of the L7 policy listeners' access log file (src/l7policy/envoy.ts accessLog, translated with
 * `accessLogForFlows`) → a flow; undefined for a line that is not one (a partial or foreign line). The route names
 * one end (`destination` on ingress and the mesh's outbound side, `source` in a client's egress chain), the
 * enforcing decision in `policy` (or, where the route table enforces, in the route's name) the other.
 */
export function flowFromL7AccessLogLine(line: string, directory: WorkloadDirectory): Flow | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.time !== 'string') return undefined;
  const routeIsDestination = raw.destination !== undefined;
  const route = routeEnd(routeIsDestination ? raw.destination : raw.source);
  const policyPeer = policyDecision(raw.policy);
  const peer = policyPeer ?? route?.decision;
  const from = hostPort(text(raw.source_address));
  const code = Number(raw.response_code);
  const durationUs = Number(raw.duration_us);
  return flowOf({
    timeMs: Date.parse(raw.time) || 0,
    egress: raw.direction === 'egress',
    source: { ...from, tag: routeIsDestination ? peer : route?.identity },
    // Over the mesh the connection's local address is the mesh listener's: the route names the pod.
    destination: { ip: text(raw.destination_address) || (routeIsDestination && route ? (directory.ipOf(route.endpoint) ?? '') : ''), port: num(route?.port), tag: routeIsDestination ? route?.identity : peer },
    details: text(raw.response_code_details),
    routeDecision: route?.decision,
    method: text(raw.method),
    path: text(raw.path),
    host: text(raw.host),
    status: Number.isFinite(code) ? code : 0,
    latencyMs: Number.isFinite(durationUs) ? durationUs / 1000 : 0,
    protocol: text(raw.protocol),
  }, directory);
}
