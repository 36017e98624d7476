// Every metric family Weft registers, in one place: name, type, labels and meaning. The area modules
// (xds/metrics.ts, translation.ts, flows.ts, certificates.ts, datapath.ts, components.ts) create their
// prom-client objects from these entries, and a test holds the README's "Metrics" table to this list and
// this list to what the modules register.
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
  /** Which processes expose it (README only). */
  readonly where: string;
}

export const METRICS = {
  xdsStreams: { name: 'weft_xds_streams', type: 'gauge', labels: ['protocol'], help: 'Open ADS streams (protocol: delta or sotw).', where: 'agent, run' },
  xdsResponses: { name: 'weft_xds_responses_total', type: 'counter', labels: ['type', 'protocol'], help: 'xDS responses (pushes) sent, by resource type (Listener, Cluster, ...).', where: 'agent, run' },
  xdsAcks: { name: 'weft_xds_acks_total', type: 'counter', labels: ['type', 'protocol'], help: 'xDS responses ACKed by Envoy.', where: 'agent, run' },
  xdsNacks: { name: 'weft_xds_nacks_total', type: 'counter', labels: ['type', 'protocol'], help: 'xDS responses rejected (NACKed) by Envoy.', where: 'agent, run' },
  xdsAckSeconds: { name: 'weft_xds_response_ack_seconds', type: 'histogram', labels: ['type', 'protocol'], help: 'Time from sending an xDS response to its ACK (push latency).', where: 'agent, run' },
  translationSeconds: { name: 'weft_translation_duration_seconds', type: 'histogram', labels: [], help: 'Time to translate the inputs (manifests, API objects) into statuses and xDS resources.', where: 'operator, agent, run' },
  translationProblems: { name: 'weft_translation_problems', type: 'gauge', labels: [], help: 'Problems (invalid or unsupported objects and fields) in the last translation.', where: 'operator, agent, run' },
  translationResources: { name: 'weft_translation_resources', type: 'gauge', labels: ['type'], help: 'xDS resources of the last translation, by type.', where: 'operator, agent, run' },
  flows: { name: 'weft_flows_total', type: 'counter', labels: ['type', 'verdict', 'drop_reason'], help: 'Flows recorded (type L3_L4 or L7; verdict FORWARDED, DROPPED, REDIRECTED, ERROR; Cilium drop reason name or "").', where: 'flows-agent, run --flows-listen, relay' },
  l7Verdicts: { name: 'weft_l7_policy_verdicts_total', type: 'counter', labels: ['verdict', 'status_class'], help: 'HTTP requests through L7 policy listeners, by policy verdict (allowed, denied, error) and response status class (2xx ... 5xx).', where: 'flows-agent, run --flows-listen, relay' },
  flowRingFlows: { name: 'weft_flow_ring_flows', type: 'gauge', labels: [], help: 'Flows held in the in-memory ring.', where: 'flows-agent, run --flows-listen, relay' },
  certificateExpiry: { name: 'weft_certificate_expiry_seconds', type: 'gauge', labels: ['kind', 'name'], help: 'Seconds until a certificate expires (negative: expired). kind: gateway (a listener certificate from a Secret), svid (an X.509-SVID this process holds: its own, or an agent\'s with --mutual-auth for its node\'s workloads, named by SPIFFE ID), bundle (a trust bundle root).', where: 'operator, agent, run, flows-agent, relay' },
  datapathMapEntries: { name: 'weft_datapath_map_entries', type: 'gauge', labels: ['map'], help: 'Entries in each eBPF map of the datapath (endpoints, ipcache, policy, services, backends, conntrack).', where: 'flows-agent, run --flows-bpf-pin-root, agent --datapath' },
  datapathEndpointPrograms: { name: 'weft_datapath_endpoint_programs', type: 'gauge', labels: ['state'], help: 'Pods in the datapath\'s endpoint map whose veth has (attached) or lacks (missing) the datapath\'s tc program.', where: 'agent --datapath' },
  operatorLeader: { name: 'weft_operator_leader', type: 'gauge', labels: [], help: '1 while this replica holds the leader Lease.', where: 'operator' },
  statusWrites: { name: 'weft_status_writes_total', type: 'counter', labels: ['result'], help: 'Object statuses the operator wrote to the API server, by result (written, failed, conflict).', where: 'operator' },
  envoyRestarts: { name: 'weft_envoy_restarts_total', type: 'counter', labels: [], help: 'Times the supervised Envoy exited and was restarted.', where: 'agent, run' },
  relayAgents: { name: 'weft_relay_agents', type: 'gauge', labels: ['state'], help: 'Agents the relay follows, by state (connected, disconnected).', where: 'relay' },
} as const satisfies Record<string, MetricFamily>;

/** Prometheus's default process and Node.js metrics (collectDefaultMetrics): documented as a group. */
export const DEFAULT_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;
