// The flow record: one observed connection (datapath, L3/L4) or request (node proxy, L7), enriched with
// what the agent knows of both ends. Field names are the wire names of proto/weft/observe/v1 (loaded with
// keepCase), so a record goes onto the wire without conversion.
export type FlowType = 'L3_L4' | 'L7';
export type FlowVerdict = 'FORWARDED' | 'DROPPED' | 'REDIRECTED' | 'ERROR';

export interface FlowEndpoint {
  ip: string;
  port: number;
  identity: number;
  namespace: string;
  pod: string;
  /** "key=value", without Cilium's "k8s:" prefix. */
  labels: string[];
  /** "namespace/name" of the services selecting the pod (or addressed). */
  services: string[];
  /** What the service map groups by: app label, else pod name, else a reserved name or the address. */
  workload: string;
}

export interface FlowHttp {
  method: string;
  path: string;
  host: string;
  status: number;
  latency_ms: number;
  protocol: string;
}

export interface Flow {
  time_ms: number;
  node: string;
  type: FlowType;
  verdict: FlowVerdict;
  drop_reason: string;
  drop_reason_code: number;
  traffic_direction: 'INGRESS' | 'EGRESS';
  ip_version: number;
  protocol: string;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  http: FlowHttp | null;
  summary: string;
}

/**
 * Cilium's drop reasons (names and numbers of its flow API) for what Weft's datapath reports; the key is
 * the REASON_* number of bpf/datapath.c.
 */
export const DATAPATH_DROP_REASONS: Readonly<Record<number, { name: string; code: number }>> = {
  1: { name: 'POLICY_DENIED', code: 133 },
  2: { name: 'POLICY_DENY', code: 181 },
  3: { name: 'SERVICE_BACKEND_NOT_FOUND', code: 158 },
  4: { name: 'INVALID_SOURCE_IP', code: 132 },
  5: { name: 'PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL', code: 167 },
};

export const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };
