// Weft's certificate authority for one trust domain: a root (self-signed, generated or supplied by
// the user) and an intermediate it signs, which signs the workloads' X.509-SVIDs. Certificates follow
// the SPIFFE X.509-SVID specification: exactly one URI SAN; CA certificates carry the trust domain's
// ID (no path), cA=true and keyCertSign|cRLSign; leaves carry a workload ID (non-root path), cA=false,
// digitalSignature only, and serverAuth+clientAuth extended key usage. Key usage and basic
// constraints are critical. The intermediate has pathLenConstraint 0: it signs leaves only.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { generateKeyPair, keyPairFromPem, pkcs8Pem, spkiDer, type KeyAlgorithm, type KeyPair } from './keys.js';
import { parseSpiffeId, trustDomainId, trustDomainProblem, type SpiffeId } from './spiffe-id.js';
import { X509Svid } from './svid.js';
import { buildCertificate, encodeName, keyIdentifier, randomSerial, subjectNameOf, toPem } from './x509.js';

export const HOUR_MS = 3_600_000;
export const DEFAULT_SVID_TTL_MS = HOUR_MS;
export const DEFAULT_INTERMEDIATE_TTL_MS = 24 * HOUR_MS;
export const DEFAULT_ROOT_TTL_MS = 365 * 24 * HOUR_MS;
/** Certificates start this long before they are issued, for clocks a little behind ours. */
export const BACKDATE_MS = 10_000;

/**
 * A signing certificate with its key (the key stays inside this object). Without a key it only names an issuer: a
 * node agent knows the root of its intermediate by its certificate alone (the operator holds the root key).
 */
export class SigningAuthority {
  readonly #key: KeyObject | undefined;
  readonly subjectName: Buffer;
  readonly keyId: Buffer;
  readonly x509: X509Certificate;

  constructor(readonly certDer: Buffer, key: KeyObject | undefined) {
    this.#key = key;
    this.x509 = new X509Certificate(certDer);
    this.subjectName = subjectNameOf(certDer);
    this.keyId = keyIdentifier(this.x509.publicKey.export({ type: 'spki', format: 'der' }));
  }

  get pem(): string {
    return toPem(this.certDer);
  }
  get notAfter(): Date {
    return new Date(this.x509.validTo);
  }
  get notBefore(): Date {
    return new Date(this.x509.validFrom);
  }

  /** The key, PEM (PKCS#8), for the CA store to write to disk; nothing else should call it. */
  privateKeyPem(): string {
    return pkcs8Pem(this.#requireKey());
  }

  /** True when this authority holds its key (it can sign). */
  get canSign(): boolean {
    return this.#key !== undefined;
  }

  /** Signs a certificate (used by CertificateAuthority only). */
  sign(build: (key: KeyObject) => Buffer): Buffer {
    return build(this.#requireKey());
  }

  #requireKey(): KeyObject {
    if (!this.#key) throw new Error(`${this.x509.subject.replace(/\n/g, ', ')}: its key is not held here (certificate only)`);
    return this.#key;
  }

  [inspect.custom](): string {
    return `SigningAuthority ${JSON.stringify(this.toJSON())}`;
  }

  toJSON(): Record<string, unknown> {
    return { subject: this.x509.subject, notAfter: this.notAfter.toISOString(), fingerprint256: this.x509.fingerprint256, privateKey: '[redacted]' };
  }
}

export interface CaOptions {
  trustDomain: string;
  keyAlgorithm?: KeyAlgorithm;
  rootTtlMs?: number;
  intermediateTtlMs?: number;
  /** The clock (tests move it). */
  now?: () => Date;
}

export interface IssueOptions {
  ttlMs?: number;
  keyAlgorithm?: KeyAlgorithm;
  /** Use this key pair instead of generating one (a workload that keeps its key across renewals). */
  keyPair?: KeyPair;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly id: SpiffeId;
  readonly now: () => Date;
  readonly intermediateTtlMs: number;
  #intermediate: SigningAuthority;

  private constructor(opts: CaOptions, readonly root: SigningAuthority, intermediate?: SigningAuthority) {
    this.trustDomain = opts.trustDomain;
    this.id = trustDomainId(opts.trustDomain);
    this.now = opts.now ?? ((): Date => new Date());
    this.intermediateTtlMs = opts.intermediateTtlMs ?? DEFAULT_INTERMEDIATE_TTL_MS;
    this.#intermediate = intermediate ?? this.newIntermediate();
  }

  /**
   * A CA that issues SVIDs through an intermediate someone else signed (a node agent's, which the operator's root
   * signed): it holds the intermediate's key, knows the root by its certificate only, and cannot renew the
   * intermediate itself (replaceIntermediate takes the next one). Throws when the intermediate does not chain to the
   * root, is no CA, or has expired.
   */
  static ofIntermediate(opts: CaOptions, rootCertPem: string, intermediate: SigningAuthority): CertificateAuthority {
    checkTrustDomain(opts.trustDomain);
    const root = new SigningAuthority(new X509Certificate(rootCertPem).raw, undefined);
    const ca = new CertificateAuthority(opts, root, intermediate);
    ca.checkIntermediate(intermediate);
    return ca;
  }

  /** A new CA: a fresh self-signed root and an intermediate. */
  static generate(opts: CaOptions): CertificateAuthority {
    checkTrustDomain(opts.trustDomain);
    const now = opts.now?.() ?? new Date();
    const keys = generateKeyPair(opts.keyAlgorithm);
    const subject = { organization: 'Weft', commonName: `Weft root CA ${opts.trustDomain} ${now.toISOString()}` };
    const spki = spkiDer(keys.publicKey);
    const der = buildCertificate(
      {
        serial: randomSerial(),
        issuerName: encodeName(subject),
        subject,
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter: new Date(now.getTime() + (opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS)),
        spki,
        uriSan: `spiffe://${opts.trustDomain}`,
        ca: true,
        keyUsage: ['keyCertSign', 'cRLSign'],
      },
      keys.privateKey,
    );
    return new CertificateAuthority(opts, new SigningAuthority(der, keys.privateKey));
  }

  /** A CA over a root the user supplies (PEM certificate and key); `source` names them in errors. */
  static fromRoot(opts: CaOptions, rootCertPem: string, rootKeyPem: string, source = 'the CA root'): CertificateAuthority {
    checkTrustDomain(opts.trustDomain);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(rootCertPem);
    } catch (err) {
      throw new Error(`${source} certificate: not a PEM X.509 certificate (${(err as Error).message})`, { cause: err });
    }
    const keys = keyPairFromPem(rootKeyPem, `${source} key`);
    if (!cert.checkPrivateKey(keys.privateKey)) throw new Error(`${source}: the key does not match the certificate`);
    if (!cert.ca) throw new Error(`${source} certificate: basicConstraints cA is not true (a CA certificate is required)`);
    const now = opts.now?.() ?? new Date();
    if (new Date(cert.validTo) <= now) throw new Error(`${source} certificate: expired on ${cert.validTo}`);
    if (new Date(cert.validFrom) > now) throw new Error(`${source} certificate: not valid before ${cert.validFrom}`);
    // A signing certificate that is an SVID must carry the trust domain's ID (X.509-SVID §3.2).
    const uris = uriSans(cert);
    if (uris.length > 1) throw new Error(`${source} certificate: more than one URI SAN`);
    if (uris.length === 1) {
      const id = parseSpiffeId(uris[0]);
      if (id.path !== '') throw new Error(`${source} certificate: its SPIFFE ID ${id.uri} has a path (a signing certificate's must not)`);
      if (id.trustDomain !== opts.trustDomain) throw new Error(`${source} certificate: its SPIFFE ID ${id.uri} is not of trust domain ${opts.trustDomain}`);
    }
    return new CertificateAuthority(opts, new SigningAuthority(cert.raw, keys.privateKey));
  }

  get intermediate(): SigningAuthority {
    return this.#intermediate;
  }

  /** Replaces the intermediate (Weft does it at its half-life); SVIDs signed by the old one stay valid. */
  rotateIntermediate(): SigningAuthority {
    this.#intermediate = this.newIntermediate();
    return this.#intermediate;
  }

  /** True when this CA signs its own intermediates (it holds the root key). */
  get renewsIntermediate(): boolean {
    return this.root.canSign;
  }

  /** Takes an intermediate signed elsewhere (of the same root) for the SVIDs issued from now on. */
  replaceIntermediate(next: SigningAuthority): void {
    this.checkIntermediate(next);
    this.#intermediate = next;
  }

  private checkIntermediate(sa: SigningAuthority): void {
    const where = `intermediate ${sa.x509.subject.replace(/\n/g, ', ')}`;
    if (!sa.canSign) throw new Error(`${where}: its key is needed to issue SVIDs`);
    if (!sa.x509.ca) throw new Error(`${where}: not a CA certificate`);
    if (!sa.x509.checkIssued(this.root.x509) || !sa.x509.verify(this.root.x509.publicKey)) throw new Error(`${where}: not signed by the root ${this.root.x509.fingerprint256}`);
    if (sa.notAfter <= this.now()) throw new Error(`${where}: expired on ${sa.x509.validTo}`);
  }

  /**
   * Signs a node's intermediate CA for the key of `spki` (the node keeps the private key): pathLenConstraint 0, the
   * trust domain's ID, name constraints allowing URIs of the trust domain only, valid `ttlMs` (at most the root's
   * lifetime). Returns the certificate's DER.
   */
  signIntermediate(spki: Buffer, commonName: string, ttlMs = this.intermediateTtlMs): Buffer {
    return this.buildIntermediate(spki, commonName, ttlMs, [this.trustDomain]);
  }

  /** True when the intermediate has passed half its lifetime, or would expire before an SVID of `svidTtlMs`. */
  intermediateDue(svidTtlMs = DEFAULT_SVID_TTL_MS): boolean {
    const { notBefore, notAfter } = this.#intermediate;
    const now = this.now().getTime();
    return now >= (notBefore.getTime() + notAfter.getTime()) / 2 || now + svidTtlMs > notAfter.getTime();
  }

  private newIntermediate(): SigningAuthority {
    const keys = generateKeyPair('ec-p256');
    const der = this.buildIntermediate(spkiDer(keys.publicKey), `Weft intermediate CA ${this.trustDomain} ${this.now().toISOString()}`, this.intermediateTtlMs);
    return new SigningAuthority(der, keys.privateKey);
  }

  private buildIntermediate(spki: Buffer, commonName: string, ttlMs: number, permittedUriHosts?: string[]): Buffer {
    const now = this.now();
    const notAfter = new Date(Math.min(now.getTime() + ttlMs, this.root.notAfter.getTime()));
    return this.root.sign((rootKey) =>
      buildCertificate(
        {
          serial: randomSerial(),
          issuerName: this.root.subjectName,
          subject: { organization: 'Weft', commonName },
          notBefore: new Date(now.getTime() - BACKDATE_MS),
          notAfter,
          spki,
          uriSan: this.id.uri,
          ca: true,
          pathLen: 0,
          keyUsage: ['keyCertSign', 'cRLSign'],
          authorityKeyId: this.root.keyId,
          ...(permittedUriHosts ? { permittedUriHosts } : {}),
        },
        rootKey,
      ),
    );
  }

  /** Issues an X.509-SVID for `id` (a workload ID of this trust domain), valid for ttlMs (default 1 h) or until the intermediate expires. */
  issue(id: SpiffeId | string, opts: IssueOptions = {}): X509Svid {
    const spiffeId = typeof id === 'string' ? parseSpiffeId(id) : id;
    if (spiffeId.trustDomain !== this.trustDomain) throw new Error(`cannot issue ${spiffeId.uri}: not in trust domain ${this.trustDomain}`);
    if (spiffeId.path === '') throw new Error(`cannot issue ${spiffeId.uri}: a leaf SVID needs a path (X.509-SVID §3.1)`);
    const now = this.now();
    const ttl = opts.ttlMs ?? DEFAULT_SVID_TTL_MS;
    if (!(ttl > 0)) throw new Error(`cannot issue ${spiffeId.uri}: the lifetime must be positive, not ${ttl} ms`);
    const keys = opts.keyPair ?? generateKeyPair(opts.keyAlgorithm);
    const issuer = this.#intermediate;
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const notAfter = new Date(Math.min(now.getTime() + ttl, issuer.notAfter.getTime()));
    const serial = randomSerial();
    const der = issuer.sign((key) =>
      buildCertificate(
        {
          serial,
          issuerName: issuer.subjectName,
          subject: { organization: 'Weft' },
          notBefore,
          notAfter,
          spki: spkiDer(keys.publicKey),
          uriSan: spiffeId.uri,
          ca: false,
          keyUsage: ['digitalSignature'],
          extKeyUsage: ['serverAuth', 'clientAuth'],
          authorityKeyId: issuer.keyId,
        },
        key,
      ),
    );
    // X.509 times have whole seconds: report what the certificate says.
    const seconds = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);
    return new X509Svid(spiffeId, [der, issuer.certDer], keys.privateKey, seconds(notBefore), seconds(notAfter), serial.toString('hex'), now);
  }

  [inspect.custom](): string {
    return `CertificateAuthority ${JSON.stringify(this.toJSON())}`;
  }

  toJSON(): Record<string, unknown> {
    return { trustDomain: this.trustDomain, root: this.root.toJSON(), intermediate: this.#intermediate.toJSON() };
  }
}

function checkTrustDomain(td: string): void {
  const problem = trustDomainProblem(td);
  if (problem) throw new Error(`trust domain ${JSON.stringify(td)}: ${problem}`);
}

/** The URI SANs of a certificate, as Node reports them. */
export function uriSans(cert: X509Certificate): string[] {
  const out: string[] = [];
  // Node prints `URI:<value>` entries separated by ", " and JSON-quotes values that contain a comma.
  for (const m of (cert.subjectAltName ?? '').matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    out.push(m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : m[1]);
  }
  return out;
}
