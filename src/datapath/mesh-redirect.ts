// Transparent mesh entry (Kubernetes, `weft agent --mutual-auth --datapath`): a local pod's connections to the mesh
// ports of pods on other nodes are redirected into the node Envoy's transparent mesh listener (src/mtls/mesh-resources.ts,
// `mesh-transparent`), which sends them over mutual TLS to the destination node. Pure: one endpoint identity's policy
// entries in, the same entries with the mesh redirects added out.
//
// The redirect is an egress entry (peer identity, port, TCP) whose verdict is `redirect`, so it also *allows*: it is
// only added where the endpoint's own egress policy would let the connection through, computed as the kernel's
// lookup does (bpf/datapath.c policy_verdict: any matching deny wins, else the most specific entry, else allow
// unless egress is enforced), and where the destination pod's own ingress policy would let the source in: on the
// destination node the connection reaches the pod from that node's Envoy (the host), so the destination's L3/L4
// rules are checked here, by identity, before the connection enters the mesh. An egress L7 redirect of the endpoint's own policy (its HTTP rules) keeps the port:
// the connection then goes through the L7 policy's listener, in plaintext.
import type { PolicyEntry } from './policy.js';

/** A mesh destination as the datapath sees it: the destination pod's identity, the port it serves, its ingress policy. */
export interface MeshPeer {
  identity: number;
  port: number;
  ingress: { entries: readonly PolicyEntry[]; enforced: boolean };
}

/** The entry the kernel would apply to a TCP connection with (peer, port) in `direction`, or 'deny'/'none'. */
function verdictOf(entries: readonly PolicyEntry[], direction: PolicyEntry['direction'], peer: number, port: number): PolicyEntry | 'deny' | 'none' {
  const candidates: Array<Pick<PolicyEntry, 'peerIdentity' | 'port' | 'protocol'>> = [];
  for (const peerIdentity of [peer, 0]) {
    candidates.push({ peerIdentity, port, protocol: 'tcp' }, { peerIdentity, port: 0, protocol: 'tcp' }, { peerIdentity, port: 0, protocol: 'any' });
  }
  let found: PolicyEntry | undefined;
  for (const c of candidates) {
    const e = entries.find((x) => x.direction === direction && x.peerIdentity === c.peerIdentity && x.port === c.port && x.protocol === c.protocol);
    if (!e) continue;
    if (e.verdict === 'deny') return 'deny';
    found ??= e;
  }
  return found ?? 'none';
}

/** `entries` with an egress redirect to `proxyPort` for every mesh peer the endpoint may reach. */
export function withMeshRedirects(identity: number, entries: readonly PolicyEntry[], egressEnforced: boolean, peers: readonly MeshPeer[], proxyPort: number): PolicyEntry[] {
  const out = [...entries];
  for (const peer of peers) {
    const inbound = verdictOf(peer.ingress.entries, 'ingress', identity, peer.port);
    if (inbound === 'deny' || (inbound === 'none' && peer.ingress.enforced)) continue;
    const v = verdictOf(entries, 'egress', peer.identity, peer.port);
    if (v === 'deny' || (v === 'none' && egressEnforced)) continue;
    if (v !== 'none' && v.verdict === 'redirect') continue;
    const redirect: PolicyEntry = { direction: 'egress', peerIdentity: peer.identity, port: peer.port, protocol: 'tcp', verdict: 'redirect', proxyPort };
    const same = out.findIndex((x) => x.direction === 'egress' && x.peerIdentity === peer.identity && x.port === peer.port && x.protocol === 'tcp');
    if (same >= 0) out[same] = redirect;
    else out.push(redirect);
  }
  return out;
}
