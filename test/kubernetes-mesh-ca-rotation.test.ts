// The operator's CA rotation steps as a pure function of the Secret, the agents' reports and the clock: nothing
// happens without the annotation; staging generates a root (or keeps the user's); the switch waits for every node's
// report and names the nodes it waits for; the old root is retired only retireAfterMs after the switch.
import test from 'ava';
import type * as k8s from '@kubernetes/client-node';
import { CertificateAuthority } from '../src/mtls/ca.js';
import { rootsFromSecret } from '../src/kubernetes/mesh-ca.js';
import { nextRotationStep, PHASE_ANNOTATION, ROTATE_ANNOTATION, SWITCHED_AT_ANNOTATION, WAITING_ANNOTATION, type RotationInput, type RotationStep } from '../src/kubernetes/mesh-ca-rotation.js';

const TD = 'cluster.local';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const active = CertificateAuthority.generate({ trustDomain: TD });

function secretOf(data: Record<string, string>, annotations: Record<string, string> = {}): k8s.V1Secret {
  return { metadata: { name: 'weft-mtls-ca', namespace: 'sys', annotations, resourceVersion: '7' }, type: 'Opaque', data };
}
const base = { 'tls.crt': b64(active.root.pem), 'tls.key': b64(active.root.privateKeyPem()) };

function step(secret: k8s.V1Secret, over: Partial<RotationInput> = {}): Promise<RotationStep> {
  return nextRotationStep({
    secret, roots: rootsFromSecret(secret, { trustDomain: TD }), now: new Date('2026-01-01T00:00:00Z'), trustDomain: TD, retireAfterMs: 60_000,
    nodes: () => Promise.resolve(['node-1', 'node-2']), reported: () => undefined, ...over,
  });
}
const written = (s: RotationStep): k8s.V1Secret => {
  if (!('write' in s)) throw new Error(`no write: ${JSON.stringify(s)}`);
  return s.write;
};

test('without the annotation nothing happens; with it, a new root of the trust domain is staged (or the user\'s kept)', async (t) => {
  t.deepEqual(await step(secretOf(base)), {});
  const staged = written(await step(secretOf(base, { [ROTATE_ANNOTATION]: 'now' })));
  t.is(staged.metadata?.annotations?.[PHASE_ANNOTATION], 'staged');
  t.is(staged.metadata?.annotations?.[ROTATE_ANNOTATION], undefined);
  t.is(staged.metadata?.resourceVersion, '7', 'written over what was read');
  const roots = rootsFromSecret(staged, { trustDomain: TD });
  t.not(roots.next?.root.x509.fingerprint256, active.root.x509.fingerprint256);
  t.is(roots.active.root.x509.fingerprint256, active.root.x509.fingerprint256);
  const mine = CertificateAuthority.generate({ trustDomain: TD });
  const kept = written(await step(secretOf({ ...base, 'next.crt': b64(mine.root.pem), 'next.key': b64(mine.root.privateKeyPem()) }, { [ROTATE_ANNOTATION]: '' })));
  t.is(kept.data!['next.crt'], b64(mine.root.pem));
});

test('the switch waits for every node to report the staged root, naming those it waits for', async (t) => {
  const staged = written(await step(secretOf(base, { [ROTATE_ANNOTATION]: 'now' })));
  const nextFp = rootsFromSecret(staged, { trustDomain: TD }).next!.root.x509.fingerprint256;
  const oldFp = active.root.x509.fingerprint256;
  const waiting = written(await step(staged, { reported: (n) => (n === 'node-1' ? [oldFp, nextFp] : [oldFp]) }));
  t.is(waiting.metadata?.annotations?.[WAITING_ANNOTATION], 'node-2');
  t.is(waiting.data!['tls.crt'], base['tls.crt'], 'still issuing from the old root');
  t.deepEqual(await step(waiting, { reported: (n) => (n === 'node-1' ? [oldFp, nextFp] : [oldFp]) }), { waitingFor: ['node-2'] }, 'no write while nothing changed');
  const switched = written(await step(waiting, { reported: () => [oldFp, nextFp] }));
  t.is(switched.metadata?.annotations?.[PHASE_ANNOTATION], 'switched');
  t.is(switched.metadata?.annotations?.[SWITCHED_AT_ANNOTATION], '2026-01-01T00:00:00.000Z');
  t.is(switched.metadata?.annotations?.[WAITING_ANNOTATION], undefined);
  t.is(switched.data!['tls.crt'], staged.data!['next.crt']);
  t.is(switched.data!['tls.key'], staged.data!['next.key']);
  t.is(switched.data!['previous.crt'], base['tls.crt']);
  t.false('next.crt' in switched.data! || 'next.key' in switched.data!);

  // Retired only retireAfterMs after the switch.
  t.deepEqual(await step(switched, { now: new Date('2026-01-01T00:00:59Z') }), { wakeAt: new Date('2026-01-01T00:01:00Z') });
  const retired = written(await step(switched, { now: new Date('2026-01-01T00:01:00Z') }));
  t.false('previous.crt' in retired.data!);
  t.is(retired.metadata?.annotations?.[PHASE_ANNOTATION], undefined);
  t.deepEqual(await step(retired), {});
});

test('a stage taken back (next.* removed by hand) ends the rotation', async (t) => {
  const back = written(await step(secretOf(base, { [PHASE_ANNOTATION]: 'staged', [WAITING_ANNOTATION]: 'node-2' })));
  t.deepEqual(back.metadata?.annotations, {});
  t.deepEqual(back.data, base);
});
