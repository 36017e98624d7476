// withMeshRedirects (src/datapath/mesh-redirect.ts): the egress redirects into the transparent mesh listener are added
// only where both the source's egress policy and the destination's ingress policy let the connection through, as
// the kernel's lookup would decide it.
import test from 'ava';
import { withMeshRedirects, type MeshPeer } from '../src/datapath/mesh-redirect.js';
import type { PolicyEntry } from '../src/datapath/policy.js';

const SRC = 100;
const DST = 200;
const MESH = 15003;
const open: MeshPeer['ingress'] = { entries: [], enforced: false };
const peer = (ingress = open): MeshPeer => ({ identity: DST, port: 3000, ingress });
const redirect: PolicyEntry = { direction: 'egress', peerIdentity: DST, port: 3000, protocol: 'tcp', verdict: 'redirect', proxyPort: MESH };

test('no policy on either side: the connection is redirected into the mesh listener', (t) => {
  t.deepEqual(withMeshRedirects(SRC, [], false, [peer()], MESH), [redirect]);
});

test('source egress enforced: redirected only where an entry allows it, the allow replaced', (t) => {
  t.deepEqual(withMeshRedirects(SRC, [], true, [peer()], MESH), [], 'denied by default: no redirect that would allow it');
  const allowPort: PolicyEntry = { direction: 'egress', peerIdentity: DST, port: 3000, protocol: 'tcp', verdict: 'allow' };
  t.deepEqual(withMeshRedirects(SRC, [allowPort], true, [peer()], MESH), [redirect]);
  const allowAny: PolicyEntry = { direction: 'egress', peerIdentity: 0, port: 0, protocol: 'any', verdict: 'allow' };
  t.deepEqual(withMeshRedirects(SRC, [allowAny], true, [peer()], MESH), [allowAny, redirect]);
});

test('a deny rule (even a wildcard one) wins; an egress L7 redirect of the policy keeps the port', (t) => {
  const deny: PolicyEntry = { direction: 'egress', peerIdentity: 0, port: 3000, protocol: 'tcp', verdict: 'deny' };
  const allow: PolicyEntry = { direction: 'egress', peerIdentity: DST, port: 0, protocol: 'tcp', verdict: 'allow' };
  t.deepEqual(withMeshRedirects(SRC, [allow, deny], false, [peer()], MESH), [allow, deny]);
  const l7: PolicyEntry = { direction: 'egress', peerIdentity: DST, port: 3000, protocol: 'tcp', verdict: 'redirect', proxyPort: 15001 };
  t.deepEqual(withMeshRedirects(SRC, [l7], true, [peer()], MESH), [l7]);
});

test('the destination\'s ingress policy is checked for the source: the destination node would see its own Envoy', (t) => {
  t.deepEqual(withMeshRedirects(SRC, [], false, [peer({ entries: [], enforced: true })], MESH), [], 'ingress enforced without a rule for the source');
  const otherPeer: PolicyEntry = { direction: 'ingress', peerIdentity: 999, port: 3000, protocol: 'tcp', verdict: 'allow' };
  t.deepEqual(withMeshRedirects(SRC, [], false, [peer({ entries: [otherPeer], enforced: true })], MESH), []);
  const fromSrc: PolicyEntry = { direction: 'ingress', peerIdentity: SRC, port: 3000, protocol: 'tcp', verdict: 'allow' };
  t.deepEqual(withMeshRedirects(SRC, [], false, [peer({ entries: [fromSrc], enforced: true })], MESH), [redirect]);
  const denySrc: PolicyEntry = { direction: 'ingress', peerIdentity: SRC, port: 0, protocol: 'any', verdict: 'deny' };
  t.deepEqual(withMeshRedirects(SRC, [], false, [peer({ entries: [denySrc], enforced: false })], MESH), []);
});
