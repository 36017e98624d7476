// Transparent mesh entry (Kubernetes, `weft agent --mutual-auth --datapath`): which of a local pod's connections the
// datapath redirects into the node Envoy's transparent mesh listener (src/mtls/mesh-resources.ts, `mesh-transparent`),
// which sends them over mutual TLS to the destination's node. Pure: source identities and destinations in, the mesh
// map's entries (src/datapath/mesh-map.ts, bpf/datapath.c weft_mesh) out.
//
// The entries are keyed by the destination pod's *address* and port, not its identity: pods of one label set (a
// Deployment's replicas) may be on this node and on others, and only the remote ones are tunnelled.
//   - A pod on another node: its mesh ports, for every source its ingress policy lets in over the mesh (the
//     destination pod sees its node's Envoy, the host, as the peer, so its ingress policy is checked here, with
//     the source authenticated). test-always-fail never authenticates: no entry, the connection stays plaintext
//     and the destination's proxy refuses it.
//   - A pod on this node: only ports where the destination's ingress policy requires authentication of that
//     source (Cilium's `authentication.mode: required`); other same-node traffic keeps its plaintext path.
// The source's own egress policy is the kernel's: it denies first, and its own egress L7 redirect (HTTP rules)
// keeps precedence over the mesh (the connection then goes through the L7 policy's listener, in plaintext).
import { decide, type DirectionPolicy } from '../l7policy/model.js';
import type { MeshEntry } from './mesh-map.js';

/** A mesh destination: the destination pod's address, a port it serves, whether it is on this node, its ingress policy. */
export interface MeshDestination {
  address: string;
  port: number;
  local: boolean;
  ingress: DirectionPolicy;
}

/** Whether a connection of `source` to `d` enters the mesh. */
export function entersMesh(source: number, d: MeshDestination): boolean {
  if (decide(d.ingress, { identity: source }, d.port, 'TCP', { authenticated: true }).verdict !== 'allow') return false;
  if (!d.local) return true;
  const plaintext = decide(d.ingress, { identity: source }, d.port, 'TCP');
  return plaintext.verdict === 'deny' && plaintext.reason === 'authentication-required';
}

/** The mesh map's entries for this node's source identities. */
export function meshEntries(sources: Iterable<number>, destinations: readonly MeshDestination[]): MeshEntry[] {
  const out: MeshEntry[] = [];
  for (const sourceIdentity of sources) {
    for (const d of destinations) if (entersMesh(sourceIdentity, d)) out.push({ sourceIdentity, address: d.address, port: d.port });
  }
  return out;
}
