// The clients' egress HTTP rules for the mesh's outbound side on every destination port they name, not only on
// the ports the L7 translation polices (a listener or chain of its own: ingress rules, authentication). Cilium
// applies a client's egress rules to every connection it opens; over the mesh the client's node does that
// (src/mtls/mesh-resources.ts, RemoteService.clientsEgress), so a request through the explicit proxy to a port no
// ingress rule names must meet them too.
import { clientsWithEgressRules, egressL7Ports, meshClientsEgress, meshClientsEgressRefusingAll, routeLogName, type MeshClientsEgress } from './envoy.js';
import { HeaderActionsError } from './header-actions.js';
import type { Endpoint } from './identities.js';
import type { PolicyModel } from './model.js';

/** One destination endpoint port and the clients' egress rules towards it. */
export interface MeshEgressTarget {
  /** `namespace/name` of the destination pod. */
  endpoint: string;
  port: number;
  egress: MeshClientsEgress;
}

/**
 * The clients' egress rules towards every endpoint port that some client's egress HTTP rules name (each port of
 * their ranges; of a pod that declares container ports, only those), leaving out `covered` (`endpoint/port` keys
 * already served with them). Ports where every client may send anything are left out.
 */
export function meshEgressTargets(model: PolicyModel, secrets: ReadonlyMap<string, string>, covered: ReadonlySet<string>): { targets: MeshEgressTarget[]; problems: Array<{ endpoint: Endpoint; message: string }> } {
  const named = new Set<number>();
  for (const dp of clientsWithEgressRules(model).values()) for (const p of egressL7Ports(dp).ports) named.add(p);
  const targets: MeshEgressTarget[] = [];
  const problems: Array<{ endpoint: Endpoint; message: string }> = [];
  if (named.size === 0) return { targets, problems };
  // The clients' verdicts depend on the destination's identity and port only: computed once per pair, named per endpoint.
  const byIdentity = new Map<string, { egress: MeshClientsEgress | undefined; problem?: string }>();
  for (const endpoint of model.table.endpoints) {
    const declared = endpoint.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort);
    const ports = declared.length > 0 ? declared.filter((p) => named.has(p)) : [...named];
    for (const port of [...new Set(ports)].sort((a, b) => a - b)) {
      if (covered.has(`${endpoint.name}/${port}`)) continue;
      const key = `${endpoint.identity}/${port}`;
      let shared = byIdentity.get(key);
      if (!shared) {
        try {
          shared = { egress: meshClientsEgress(model, endpoint, port, secrets) };
        } catch (err) {
          if (!(err instanceof HeaderActionsError)) throw err;
          // Fail closed: without its clients' rules the port would be open to them over the mesh.
          shared = { egress: meshClientsEgressRefusingAll(model, endpoint, port), problem: `requests over the mesh to port ${port} are refused: clients' egress rules: ${err.message}` };
        }
        byIdentity.set(key, shared);
      }
      if (shared.problem) problems.push({ endpoint, message: shared.problem });
      if (shared.egress) targets.push({ endpoint: endpoint.name, port, egress: { ...shared.egress, routeName: routeLogName(endpoint, port) } });
    }
  }
  return { targets, problems };
}
