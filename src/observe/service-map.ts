// The service dependency graph of a set of flows: nodes are workloads (namespace/app), edges the traffic
// between them with request rates and error / deny counts. Pure.
import type { Flow, FlowEndpoint } from './flow.js';

export interface MapNode {
  id: string;
  namespace: string;
  workload: string;
  pods: string[];
  identity: number;
}

export interface MapEdge {
  source: string;
  destination: string;
  /** Flow records on this edge (connections and requests). */
  flows: number;
  /** HTTP requests (L7 flows). */
  requests: number;
  /** Requests per second over the window the flows span. */
  requestRate: number;
  /** HTTP 5xx answers and flows with verdict ERROR. */
  errors: number;
  /** Connections or requests policy dropped. */
  denied: number;
  protocols: string[];
  ports: number[];
}

export interface ServiceMap {
  nodes: MapNode[];
  edges: MapEdge[];
  windowSeconds: number;
}

const nodeId = (e: FlowEndpoint): string => (e.namespace ? `${e.namespace}/${e.workload}` : e.workload);

export function serviceMap(flows: readonly Flow[], windowSeconds?: number): ServiceMap {
  const nodes = new Map<string, MapNode>();
  const edges = new Map<string, MapEdge & { protocolSet: Set<string>; portSet: Set<number> }>();
  let first = Infinity;
  let last = -Infinity;
  const addNode = (e: FlowEndpoint): string => {
    const id = nodeId(e);
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { id, namespace: e.namespace, workload: e.workload, pods: [], identity: e.identity }));
    if (e.pod && !n.pods.includes(e.pod)) n.pods.push(e.pod);
    return id;
  };
  for (const f of flows) {
    // A redirect to the node proxy is the same connection the L7 record will show; counting both would double it.
    if (f.verdict === 'REDIRECTED') continue;
    first = Math.min(first, f.time_ms);
    last = Math.max(last, f.time_ms);
    const s = addNode(f.source);
    const d = addNode(f.destination);
    const key = `${s}\u0000${d}`;
    let e = edges.get(key);
    if (!e) edges.set(key, (e = { source: s, destination: d, flows: 0, requests: 0, requestRate: 0, errors: 0, denied: 0, protocols: [], ports: [], protocolSet: new Set(), portSet: new Set() }));
    e.flows++;
    if (f.http) e.requests++;
    if (f.verdict === 'DROPPED') e.denied++;
    else if (f.verdict === 'ERROR' || (f.http && f.http.status >= 500)) e.errors++;
    e.protocolSet.add(f.protocol);
    if (f.destination.port) e.portSet.add(f.destination.port);
  }
  const window = windowSeconds ?? (flows.length > 0 ? Math.max(1, (last - first) / 1000) : 1);
  return {
    nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    edges: [...edges.values()]
      .map(({ protocolSet, portSet, ...e }) => ({ ...e, requestRate: e.requests / window, protocols: [...protocolSet].sort(), ports: [...portSet].sort((a, b) => a - b) }))
      .sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination)),
    windowSeconds: window,
  };
}
