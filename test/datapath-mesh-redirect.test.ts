// meshEntries (src/datapath/mesh-redirect.ts): which local sources' connections the datapath redirects into the
// transparent mesh listener, by destination address and port: every remote destination whose ingress policy lets
// the source in over the mesh; a local destination only where its policy requires the source to authenticate.
import test from 'ava';
import { meshEntries, type MeshDestination } from '../src/datapath/mesh-redirect.js';
import type { DirectionPolicy, PolicyEntry } from '../src/l7policy/model.js';
import type { AuthenticationMode } from '../src/l7policy/types.js';

const SRC = 100;
const OTHER = 999;
const open: DirectionPolicy = { direction: 'ingress', enforced: false, entries: [], policies: [] };
const allowFrom = (identity: number, extra: Partial<PolicyEntry> = {}): PolicyEntry => ({
  policy: 'p', verdict: 'allow', peers: { any: false, identities: new Set([identity]), cidrs: [] }, protocol: 'TCP', port: 3000, endPort: 3000, ...extra,
});
const enforced = (...entries: PolicyEntry[]): DirectionPolicy => ({ direction: 'ingress', enforced: true, entries, policies: ['p'] });
const requiring = (mode: AuthenticationMode, identity = SRC) => enforced(allowFrom(identity, { authentication: mode }));
const dest = (address: string, local: boolean, ingress = open): MeshDestination => ({ address, port: 3000, local, ingress });
const entry = (address: string) => ({ sourceIdentity: SRC, address, port: 3000 });

test('replicas of one identity on both nodes: the remote one is tunnelled by its address, the local one keeps its path', (t) => {
  // Same labels (same ingress policy), different nodes: entries are per address, so only the remote replica's.
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false), dest('10.244.1.5', true)]), [entry('10.244.2.5')]);
});

test('a remote destination: only where its ingress policy lets the source in over the mesh (its node sees its Envoy)', (t) => {
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, enforced())]), [], 'ingress enforced without a rule for the source');
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, enforced(allowFrom(OTHER)))]), []);
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, enforced(allowFrom(SRC)))]), [entry('10.244.2.5')]);
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, { ...open, entries: [allowFrom(SRC, { verdict: 'deny', protocol: 'ANY', port: 0, endPort: 65535 })] })]), [], 'a deny rule wins');
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, requiring('required'))]), [entry('10.244.2.5')], 'authentication required: the mesh satisfies it');
  t.deepEqual(meshEntries([SRC], [dest('10.244.2.5', false, requiring('test-always-fail'))]), [], 'never authenticates: left to the destination\'s proxy, which refuses it');
});

test('a local destination enters the mesh only on ports that require the source to authenticate', (t) => {
  t.deepEqual(meshEntries([SRC], [dest('10.244.1.5', true, enforced(allowFrom(SRC)))]), [], 'allowed in plaintext: same-node traffic stays on the node');
  t.deepEqual(meshEntries([SRC], [dest('10.244.1.5', true, requiring('required'))]), [entry('10.244.1.5')]);
  t.deepEqual(meshEntries([SRC], [dest('10.244.1.5', true, requiring('required', OTHER))]), [], 'a source the rule does not select is refused at L3/L4');
  t.deepEqual(meshEntries([SRC], [dest('10.244.1.5', true, requiring('disabled'))]), []);
  t.deepEqual(meshEntries([SRC], [dest('10.244.1.5', true, requiring('test-always-fail'))]), []);
  t.deepEqual(meshEntries([SRC, OTHER], [dest('10.244.1.5', true, requiring('required'))]), [entry('10.244.1.5')], 'per source identity');
});
