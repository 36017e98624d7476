// The mesh CA root's rotation, timed by the leader operator (README, "Mutual authentication", Kubernetes): the
// annotation `weft.dev/rotate` on the CA Secret starts it. Each step is a write of the Secret, so the state survives a
// new leader, and the steps are the same the manual procedure takes:
//   1. stage: the new root (next.crt/next.key, generated unless the user put one there) joins the published bundle;
//   2. switch, once every node's agent has reported a bundle holding it (the trusted roots it names in its newest
//      approved intermediate request): the new root issues (tls.*), the old one is kept as previous.crt;
//   3. retire, `retireAfterMs` after the switch (the longest intermediate lifetime by default: every intermediate of
//      the old root, and every SVID it signed, has expired by then): previous.crt is removed.
// This module decides the next step from what it is given (a pure function); the keeper writes it.
import type * as k8s from '@kubernetes/client-node';
import { CertificateAuthority } from '../mtls/ca.js';
import { NEXT_CERT_KEY, NEXT_KEY_KEY, PREVIOUS_CERT_KEY, type MeshCaRoots } from './mesh-ca.js';

export const ROTATE_ANNOTATION = 'weft.dev/rotate';
export const PHASE_ANNOTATION = 'weft.dev/rotation-phase';
export const SWITCHED_AT_ANNOTATION = 'weft.dev/rotation-switched-at';
/** The nodes whose agents have not reported the staged root yet (for people watching). */
export const WAITING_ANNOTATION = 'weft.dev/rotation-waiting-for';

export interface RotationInput {
  secret: k8s.V1Secret;
  roots: MeshCaRoots;
  now: Date;
  /** Every node's name (read only while staged: each must have an agent reporting the new root). */
  nodes?: () => Promise<string[]>;
  /** The roots (SHA-256 fingerprints) a node's agent last reported trusting. */
  reported: (node: string) => string[] | undefined;
  retireAfterMs: number;
  trustDomain: string;
}

export type RotationStep =
  | { write: k8s.V1Secret; message: string }
  | { wakeAt?: Date; waitingFor?: string[] };

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export async function nextRotationStep(input: RotationInput): Promise<RotationStep> {
  const { secret, roots } = input;
  const annotations = { ...secret.metadata?.annotations };
  const data = { ...secret.data };
  const write = (message: string): RotationStep => ({ write: { ...secret, metadata: { ...secret.metadata, annotations }, data }, message });
  const phase = annotations[PHASE_ANNOTATION];
  if (!phase) {
    if (annotations[ROTATE_ANNOTATION] === undefined) return {};
    delete annotations[ROTATE_ANNOTATION];
    if (!roots.next) {
      const next = CertificateAuthority.generate({ trustDomain: input.trustDomain });
      data[NEXT_CERT_KEY] = b64(next.root.pem);
      data[NEXT_KEY_KEY] = b64(next.root.privateKeyPem());
    }
    annotations[PHASE_ANNOTATION] = 'staged';
    return write('mesh CA rotation: new root staged (trusted everywhere, not issuing yet)');
  }
  if (phase === 'staged') {
    if (!roots.next) {
      // The stage was taken back (next.* removed by hand).
      for (const a of [PHASE_ANNOTATION, WAITING_ANNOTATION]) delete annotations[a];
      return write('mesh CA rotation: the staged root was removed; rotation abandoned');
    }
    const nextFp = roots.next.root.x509.fingerprint256;
    const waitingFor = (await input.nodes!()).filter((n) => !input.reported(n)?.includes(nextFp)).sort();
    if (waitingFor.length) {
      if (annotations[WAITING_ANNOTATION] === waitingFor.join(',')) return { waitingFor };
      annotations[WAITING_ANNOTATION] = waitingFor.join(',');
      return write(`mesh CA rotation: waiting for ${waitingFor.length} node(s) to trust the staged root`);
    }
    data[PREVIOUS_CERT_KEY] = data['tls.crt'];
    data['tls.crt'] = data[NEXT_CERT_KEY];
    data['tls.key'] = data[NEXT_KEY_KEY];
    delete data[NEXT_CERT_KEY];
    delete data[NEXT_KEY_KEY];
    delete annotations[WAITING_ANNOTATION];
    annotations[PHASE_ANNOTATION] = 'switched';
    annotations[SWITCHED_AT_ANNOTATION] = input.now.toISOString();
    return write('mesh CA rotation: every node trusts the new root; it issues now, the old one is retired');
  }
  // switched: retire the old root once nothing it signed can still be valid.
  const switchedAt = Date.parse(annotations[SWITCHED_AT_ANNOTATION] ?? '');
  const retireAt = new Date((Number.isNaN(switchedAt) ? input.now.getTime() : switchedAt) + input.retireAfterMs);
  if (input.now < retireAt && data[PREVIOUS_CERT_KEY]) return { wakeAt: retireAt };
  delete data[PREVIOUS_CERT_KEY];
  for (const a of [PHASE_ANNOTATION, SWITCHED_AT_ANNOTATION]) delete annotations[a];
  return write('mesh CA rotation: the old root left the bundle; rotation done');
}
