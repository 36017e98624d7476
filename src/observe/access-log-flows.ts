// Envoy's gRPC access log entries (envoy.data.accesslog.v3.HTTPAccessLogEntry, as proto-loader decodes them
// with keepCase) of the node proxy's L7 policy listeners → L7 flow records. The route's name names the endpoint
// whose rules apply (and, where the route table enforces, the peer and the decision); the custom tags are the ones
// src/l7policy/envoy.ts asks Envoy to copy (the direction, the RBAC filter's decision). Gateway and Ingress
// listeners (Kubernetes mode) send entries whose routes are not L7 policy's: their destination is the backend the
// request went to (the upstream host), or the listener when none was chosen.
import type { Flow, FlowEndpoint, FlowVerdict } from './flow.js';
import type { WorkloadDirectory } from './directory.js';
import { peerDecision, peerLabels, peerOf, refusingDecision, routeEnd } from '../l7policy/access-log.js';
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
  const sourceIp = from.address ?? '';
  const destinationIp = to.address ?? '';
  const routeDecision = route?.decision;
  const d = decision(entry.response?.response_code_details ?? '', routeDecision);
  return {
    time_ms: ms(common.start_time),
    node: directory.node,
    type: 'L7',
    verdict: d.verdict,
    drop_reason: d.reason,
    drop_reason_code: d.code,
    traffic_direction: egress ? 'EGRESS' : 'INGRESS',
    ip_version: sourceIp.includes(':') ? 6 : 4,
    protocol: 'HTTP',
    source: flowEnd(directory, sourceIp, from.port_value ?? 0, egress ? route?.identity : tags.source_identity || routeDecision),
    destination: flowEnd(directory, destinationIp, num(route?.port) || (to.port_value ?? 0), egress ? tags.destination_identity : route?.identity),
    http: {
      method: entry.request?.request_method ?? '',
      path: entry.request?.path ?? '',
      host: entry.request?.authority ?? '',
      status: entry.response?.response_code?.value ?? 0,
      latency_ms: ms(common.time_to_last_downstream_tx_byte),
      protocol: PROTOCOLS[entry.protocol_version ?? ''] ?? entry.protocol_version ?? '',
    },
    summary: d.summary,
  };
}
