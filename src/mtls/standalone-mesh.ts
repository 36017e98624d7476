// Standalone mode's mesh on one node: when a CiliumNetworkPolicy asks for mutual authentication, `weft run`
// serves the mesh on its own Envoy. Every pod is a source workload (its addresses, its SPIFFE ID from namespace
// and service account); every endpoint port the L7 policy polices is a service reached through the outbound
// listener with Host `<port>.<pod>.<namespace>` (also the SNI), served by the inbound listener with the L7
// policy's mesh route (deciding by the verified SPIFFE ID). Pure: the L7 translation → the node's mesh view.
import type { L7Translation } from '../l7policy/translate.js';
import type { Policy } from '../l7policy/types.js';
import type { LocalService, MeshNodeView, RemoteService, SocketAddress, SourceWorkload } from './mesh-resources.js';
import { workloadId } from './spiffe-id.js';

export interface StandaloneMeshOptions {
  trustDomain: string;
  /** Where pods send (the outbound listener). */
  outbound: SocketAddress;
  /** Where the outbound listener's mutual TLS arrives (the inbound listener; the same Envoy). */
  inbound: SocketAddress;
  /** The L7 access log the inbound listener (and the outbound one, for the clients' egress rules) writes too. */
  accessLogPath?: string;
}

/** Whether some policy has a rule whose peers must authenticate (`authentication.mode` other than `disabled`). */
export function policiesRequireAuthentication(policies: readonly Policy[]): boolean {
  return policies.some((p) => p.rules.some((r) => r.authentication !== undefined && r.authentication !== 'disabled'));
}

/** The mesh's name for an endpoint port (`ns/name`, port): Host header and SNI. */
export function meshServiceHost(endpoint: string, port: number): string {
  const [namespace, name] = endpoint.split('/');
  return `${port}.${name}.${namespace}`;
}

/** The node's mesh view; pods whose namespace or service account no SPIFFE ID can carry are left out, as `problems`. */
export function standaloneMeshView(l7: L7Translation, o: StandaloneMeshOptions): { view: MeshNodeView; problems: string[] } {
  const problems: string[] = [];
  const ids = new Map<string, string>();
  const sources = new Map<string, SourceWorkload>();
  for (const e of l7.table.endpoints) {
    let id: string;
    try {
      id = workloadId(o.trustDomain, e.namespace, e.serviceAccount).uri;
    } catch (err) {
      problems.push(`Pod ${e.name}: no SPIFFE ID (${(err as Error).message}); it is not in the mesh`);
      continue;
    }
    ids.set(e.name, id);
    if (e.ips.length === 0) continue;
    const s = sources.get(id) ?? sources.set(id, { id, sources: [] }).get(id)!;
    s.sources.push(...e.ips);
  }
  const remote: RemoteService[] = [];
  const local: LocalService[] = [];
  for (const l of l7.listeners) {
    const id = ids.get(l.endpoint);
    if (!l.meshRoute || !id) continue;
    const host = meshServiceHost(l.endpoint, l.port);
    remote.push({ host, node: o.inbound, id, ...(l.meshEgress ? { clientsEgress: l.meshEgress } : {}) });
    local.push({ host, id, backend: l.backend, routeConfig: l.meshRoute });
  }
  const view: MeshNodeView = {
    trustDomain: o.trustDomain,
    ...(sources.size ? { outbound: { ...o.outbound, sources: [...sources.values()], services: remote, ...(o.accessLogPath ? { accessLogPath: o.accessLogPath } : {}) } } : {}),
    ...(local.length ? { inbound: { ...o.inbound, services: local, ...(o.accessLogPath ? { accessLogPath: o.accessLogPath } : {}) } } : {}),
  };
  return { view, problems };
}
