// Certificates and keys as Kubernetes holds them (kubernetes.io/tls Secrets, CA bundles in ConfigMaps),
// checked with Node's crypto before anything reaches Envoy. Messages name what is wrong, never key text:
// errors from crypto are replaced by fixed wording, since they could quote their input.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export interface KeyPair {
  /** PEM: the leaf first, then any intermediates, as given. */
  certificateChain: string;
  privateKey: string;
  /** DNS names of the leaf (SANs), for diagnostics and hostname checks. */
  dnsNames: string[];
}

export type Checked<T> = { ok: T } | { error: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order; an error if there is none or one does not parse. */
export function parseCertificates(pem: string): Checked<X509Certificate[]> {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return { error: 'no PEM certificate found' };
  const out: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      return { error: `certificate ${i + 1} of the bundle is not a valid X.509 certificate` };
    }
  }
  return { ok: out };
}

function decodeData(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/**
 * A kubernetes.io/tls Secret → its checked key pair: type, the tls.crt and tls.key entries, that both
 * parse, that the leaf is within its validity period, and that the key belongs to the leaf.
 */
export function keyPairFromSecret(secret: Pick<ISecret, 'type' | 'data' | 'stringData'>, now = new Date()): Checked<KeyPair> {
  if (secret.type !== TLS_SECRET_TYPE) return { error: `is of type ${secret.type ?? 'Opaque'}, not ${TLS_SECRET_TYPE}` };
  const cert = secret.stringData?.['tls.crt'] ?? decodeData(secret.data, 'tls.crt');
  const key = secret.stringData?.['tls.key'] ?? decodeData(secret.data, 'tls.key');
  if (!cert) return { error: 'has no tls.crt' };
  if (!key) return { error: 'has no tls.key' };
  return checkKeyPair(cert, key, now);
}

export function checkKeyPair(certificateChain: string, privateKey: string, now = new Date()): Checked<KeyPair> {
  const certs = parseCertificates(certificateChain);
  if ('error' in certs) return { error: `tls.crt: ${certs.error}` };
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKey);
  } catch {
    return { error: 'tls.key: not a valid PEM private key (or it is encrypted)' };
  }
  const leaf = certs.ok[0];
  if (!leaf.checkPrivateKey(key)) return { error: 'tls.key does not match the certificate in tls.crt' };
  if (new Date(leaf.validTo) < now) return { error: 'the certificate in tls.crt has expired' };
  if (new Date(leaf.validFrom) > now) return { error: 'the certificate in tls.crt is not valid yet' };
  const dnsNames = (leaf.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return { ok: { certificateChain, privateKey, dnsNames } };
}

/** A ConfigMap's `ca.crt` entry → checked PEM CA bundle. */
export function caBundleFromConfigMap(cm: Pick<IConfigMap, 'data'>): Checked<string> {
  const pem = cm.data?.['ca.crt'];
  if (!pem) return { error: 'has no ca.crt' };
  const certs = parseCertificates(pem);
  if ('error' in certs) return { error: `ca.crt: ${certs.error}` };
  return { ok: pem };
}
