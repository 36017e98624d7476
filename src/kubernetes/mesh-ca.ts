// The mesh CA in Kubernetes: its root lives in a Secret (`weft-mtls-ca` in the operator's namespace), which the leader
// operator creates when it is absent and never overwrites; a Secret the user put there instead is validated exactly as
// a supplied root on files is (CertificateAuthority.fromRoot: a CA, unexpired, key matching, URI SAN of the trust
// domain if any). The operator also publishes the trust bundle (the root's certificate) in a ConfigMap anyone may read.
// The agents read the Secret and sign their nodes' SVIDs through an intermediate of their own (see README, "Mutual
// authentication", Kubernetes mode).
import * as k8s from '@kubernetes/client-node';
import { CertificateAuthority, type CaOptions } from '../mtls/ca.js';

export const CA_SECRET_NAME = 'weft-mtls-ca';
export const TRUST_BUNDLE_CONFIGMAP = 'weft-mtls-trust-bundle';
/** The ConfigMap's key: concatenated PEM roots (what `weft ca issue` names bundle.pem). */
export const TRUST_BUNDLE_KEY = 'bundle.pem';
const CERT_KEY = 'tls.crt';
const KEY_KEY = 'tls.key';
const ACCEPTED_TYPES = ['Opaque', 'kubernetes.io/tls'];

export interface MeshCaLocation {
  namespace: string;
  trustDomain: string;
}

/** The CA held by a Secret, validated; throws an error naming the Secret and the field. */
export function caFromSecret(secret: k8s.V1Secret, opts: CaOptions): CertificateAuthority {
  const where = `Secret ${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
  const type = secret.type ?? 'Opaque';
  if (!ACCEPTED_TYPES.includes(type)) throw new Error(`${where}: type ${type} is not supported (Opaque or kubernetes.io/tls, with ${CERT_KEY} and ${KEY_KEY})`);
  const field = (key: string): string => {
    const value = secret.data?.[key];
    if (!value) throw new Error(`${where}: data.${key} is missing (the root CA's PEM ${key === CERT_KEY ? 'certificate' : 'private key'})`);
    return Buffer.from(value, 'base64').toString('utf8');
  };
  return CertificateAuthority.fromRoot(opts, field(CERT_KEY), field(KEY_KEY), where);
}

const isStatus = (err: unknown, code: number): boolean => (err as { code?: number }).code === code;

/**
 * The CA of the Secret, created (a new self-signed root) when there is none; never overwrites one. Two replicas
 * racing to create it both end with the one that won (the loser reads it back).
 */
export async function ensureCaSecret(core: k8s.CoreV1Api, loc: MeshCaLocation, opts: Omit<CaOptions, 'trustDomain'> = {}): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const caOpts: CaOptions = { ...opts, trustDomain: loc.trustDomain };
  const read = async (): Promise<k8s.V1Secret | undefined> => core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: loc.namespace }).catch((err: unknown) => {
    if (isStatus(err, 404)) return undefined;
    throw err;
  });
  const existing = await read();
  if (existing) return { ca: caFromSecret(existing, caOpts), created: false };
  const ca = CertificateAuthority.generate(caOpts);
  const body: k8s.V1Secret = {
    metadata: { name: CA_SECRET_NAME, namespace: loc.namespace, labels: { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/trust-domain': loc.trustDomain } },
    // Opaque, not kubernetes.io/tls: Weft's informers read every TLS Secret for Gateways, and the root key has no
    // business in those.
    type: 'Opaque',
    data: { [CERT_KEY]: Buffer.from(ca.root.pem).toString('base64'), [KEY_KEY]: Buffer.from(ca.root.privateKeyPem()).toString('base64') },
  };
  try {
    await core.createNamespacedSecret({ namespace: loc.namespace, body });
    return { ca, created: true };
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
    const won = await read();
    if (!won) throw new Error(`Secret ${loc.namespace}/${CA_SECRET_NAME}: created by someone else, then gone`, { cause: err });
    return { ca: caFromSecret(won, caOpts), created: false };
  }
}

/** Writes the trust bundle ConfigMap when it is absent or differs; true when it wrote. */
export async function publishTrustBundle(core: k8s.CoreV1Api, loc: MeshCaLocation, bundlePem: string): Promise<boolean> {
  const data = { [TRUST_BUNDLE_KEY]: bundlePem };
  const live = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace }).catch((err: unknown) => {
    if (isStatus(err, 404)) return undefined;
    throw err;
  });
  const labels = { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/trust-domain': loc.trustDomain };
  if (!live) {
    await core.createNamespacedConfigMap({ namespace: loc.namespace, body: { metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace, labels }, data } });
    return true;
  }
  if (live.data?.[TRUST_BUNDLE_KEY] === bundlePem) return false;
  // With the resourceVersion read: a concurrent writer makes this fail (409) and the caller retries.
  await core.replaceNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace, body: { ...live, data: { ...live.data, ...data } } });
  return true;
}
