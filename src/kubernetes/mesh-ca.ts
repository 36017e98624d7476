// The mesh CA in Kubernetes: its root lives in a Secret (`weft-mtls-ca` in the operator's namespace), which the leader
// operator creates when it is absent and never overwrites; a Secret the user put there instead is validated exactly as
// a supplied root on files is (CertificateAuthority.fromRoot: a CA, unexpired, key matching, URI SAN of the trust
// domain if any). The operator also publishes the trust bundle (the root's certificate) in a ConfigMap anyone may read.
// The agents read the Secret and sign their nodes' SVIDs through an intermediate of their own (see README, "Mutual
// authentication", Kubernetes mode).
import { X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { CertificateAuthority, type CaOptions } from '../mtls/ca.js';
import type { WatchedKind } from './watched-kinds.js';

export const CA_SECRET_NAME = 'weft-mtls-ca';
export const TRUST_BUNDLE_CONFIGMAP = 'weft-mtls-trust-bundle';
/** The ConfigMap's key: concatenated PEM roots (what `weft ca issue` names bundle.pem). */
export const TRUST_BUNDLE_KEY = 'bundle.pem';
const CERT_KEY = 'tls.crt';
const KEY_KEY = 'tls.key';
/** A staged root (rotation step 1): trusted everywhere, not issuing yet. */
export const NEXT_CERT_KEY = 'next.crt';
export const NEXT_KEY_KEY = 'next.key';
/** The root an activation retired (rotation step 2): still trusted until removed (step 3, or a revocation). */
export const PREVIOUS_CERT_KEY = 'previous.crt';
const ACCEPTED_TYPES = ['Opaque', 'kubernetes.io/tls'];

/** The CA Secret, and it alone, as an informer watches it. */
export function caSecretKind(namespace: string): WatchedKind {
  return { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, namespace, fieldSelector: `metadata.name=${CA_SECRET_NAME}` };
}

export interface MeshCaLocation {
  namespace: string;
  trustDomain: string;
  /** The node agents' ServiceAccount in `namespace`, the only requester whose intermediates the operator signs (default weft-agent). */
  agentServiceAccount?: string;
  /** How long after a rotation's switch the old root stays trusted (default: the longest intermediate lifetime, 24 h). */
  retireAfterMs?: number;
}

/** The bundle ConfigMap's annotation naming the root the operator signs intermediates with (SHA-256 fingerprint). */
export const ISSUING_ROOT_ANNOTATION = 'weft.dev/issuing-root-sha256';

/** The CA held by a Secret, validated; throws an error naming the Secret and the field. */
export function caFromSecret(secret: k8s.V1Secret, opts: CaOptions): CertificateAuthority {
  return rootsFromSecret(secret, opts).active;
}

/** The roots of a Secret over a rotation (see README, "Mutual authentication on Kubernetes", rotating the CA). */
export interface MeshCaRoots {
  /** tls.crt/tls.key: issues the SVIDs. */
  active: CertificateAuthority;
  /** next.crt/next.key: staged, trusted only. */
  next?: CertificateAuthority;
  /** previous.crt: retired, trusted only (its key is not needed). */
  previous?: X509Certificate;
}

/** Every root of a Secret, validated; throws an error naming the Secret and the field. */
export function rootsFromSecret(secret: k8s.V1Secret, opts: CaOptions): MeshCaRoots {
  const where = `Secret ${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
  const type = secret.type ?? 'Opaque';
  if (!ACCEPTED_TYPES.includes(type)) throw new Error(`${where}: type ${type} is not supported (Opaque or kubernetes.io/tls, with ${CERT_KEY} and ${KEY_KEY})`);
  const optional = (key: string): string | undefined => {
    const value = secret.data?.[key];
    return value ? Buffer.from(value, 'base64').toString('utf8') : undefined;
  };
  const field = (key: string, what: string): string => {
    const value = optional(key);
    if (!value) throw new Error(`${where}: data.${key} is missing (${what})`);
    return value;
  };
  const active = CertificateAuthority.fromRoot(opts, field(CERT_KEY, 'the root CA\'s PEM certificate'), field(KEY_KEY, 'the root CA\'s PEM private key'), where);
  const nextCert = optional(NEXT_CERT_KEY);
  const next = nextCert === undefined ? undefined
    : CertificateAuthority.fromRoot(opts, nextCert, field(NEXT_KEY_KEY, `the staged root's PEM private key, with ${NEXT_CERT_KEY}`), `${where} ${NEXT_CERT_KEY}`);
  const previousPem = optional(PREVIOUS_CERT_KEY);
  let previous: X509Certificate | undefined;
  if (previousPem !== undefined) {
    try {
      previous = new X509Certificate(previousPem);
    } catch (err) {
      throw new Error(`${where}: data.${PREVIOUS_CERT_KEY} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
    }
    if (!previous.ca) throw new Error(`${where}: data.${PREVIOUS_CERT_KEY} is not a CA certificate`);
  }
  return { active, next, previous };
}

/** The trust bundle of a Secret's roots: active, staged, retired (no duplicates). */
export function bundleOfRoots(roots: MeshCaRoots): string {
  const pems = [roots.active.root.pem, roots.next?.root.pem, roots.previous?.toString()].filter((p): p is string => p !== undefined);
  const seen = new Set<string>();
  return pems.filter((p) => {
    const fp = new X509Certificate(p).fingerprint256;
    return !seen.has(fp) && seen.add(fp);
  }).join('');
}

const isStatus = (err: unknown, code: number): boolean => (err as { code?: number }).code === code;

/**
 * The CA of the Secret, created (a new self-signed root) when there is none; never overwrites one. Two replicas
 * racing to create it both end with the one that won (the loser reads it back).
 */
export async function ensureCaSecret(core: k8s.CoreV1Api, loc: MeshCaLocation, opts: Omit<CaOptions, 'trustDomain'> = {}): Promise<{ ca: CertificateAuthority; roots: MeshCaRoots; created: boolean; secret: k8s.V1Secret }> {
  const caOpts: CaOptions = { ...opts, trustDomain: loc.trustDomain };
  const read = async (): Promise<k8s.V1Secret | undefined> => core.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: loc.namespace }).catch((err: unknown) => {
    if (isStatus(err, 404)) return undefined;
    throw err;
  });
  const existing = await read();
  const of = (secret: k8s.V1Secret, created: boolean) => {
    const roots = rootsFromSecret(secret, caOpts);
    return { ca: roots.active, roots, created, secret };
  };
  if (existing) return of(existing, false);
  const ca = CertificateAuthority.generate(caOpts);
  const body: k8s.V1Secret = {
    metadata: { name: CA_SECRET_NAME, namespace: loc.namespace, labels: { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/trust-domain': loc.trustDomain } },
    // Opaque, not kubernetes.io/tls: Weft's informers read every TLS Secret for Gateways, and the root key has no
    // business in those.
    type: 'Opaque',
    data: { [CERT_KEY]: Buffer.from(ca.root.pem).toString('base64'), [KEY_KEY]: Buffer.from(ca.root.privateKeyPem()).toString('base64') },
  };
  try {
    const secret = await core.createNamespacedSecret({ namespace: loc.namespace, body });
    return { ca, roots: { active: ca }, created: true, secret };
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
    const won = await read();
    if (!won) throw new Error(`Secret ${loc.namespace}/${CA_SECRET_NAME}: created by someone else, then gone`, { cause: err });
    return of(won, false);
  }
}

/**
 * Writes the trust bundle ConfigMap when it is absent or differs; true when it wrote. It also names the root that
 * issues (agents whose intermediate chains to another root ask for a new one).
 */
export async function publishTrustBundle(core: k8s.CoreV1Api, loc: MeshCaLocation, bundlePem: string, issuingRoot: string): Promise<boolean> {
  const data = { [TRUST_BUNDLE_KEY]: bundlePem };
  const annotations = { [ISSUING_ROOT_ANNOTATION]: issuingRoot };
  const live = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace }).catch((err: unknown) => {
    if (isStatus(err, 404)) return undefined;
    throw err;
  });
  const labels = { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/trust-domain': loc.trustDomain };
  if (!live) {
    await core.createNamespacedConfigMap({ namespace: loc.namespace, body: { metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace, labels, annotations }, data } });
    return true;
  }
  if (live.data?.[TRUST_BUNDLE_KEY] === bundlePem && live.metadata?.annotations?.[ISSUING_ROOT_ANNOTATION] === issuingRoot) return false;
  // With the resourceVersion read: a concurrent writer makes this fail (409) and the caller retries.
  await core.replaceNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: loc.namespace,
    body: { ...live, metadata: { ...live.metadata, annotations: { ...live.metadata?.annotations, ...annotations } }, data: { ...live.data, ...data } } });
  return true;
}
