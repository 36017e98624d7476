// The trust bundle of a trust domain over CA rotations. Rotating the CA puts the new root in the
// bundle next to the old one; the old root stays until every SVID it chains can have expired (the
// longest SVID lifetime after the rotation), so peers holding either kind of SVID keep trusting each
// other while new SVIDs are rolled out. A root can also be revoked at once (a compromised CA).
import { EventEmitter } from 'node:events';
import { CertificateAuthority, DEFAULT_SVID_TTL_MS, type SigningAuthority } from './ca.js';

/** A root peers trust: a CA's own, or a retired one known by its certificate only. */
export type TrustedRoot = Pick<SigningAuthority, 'pem' | 'certDer' | 'x509' | 'notAfter'>;

interface RetiredRoot {
  root: TrustedRoot;
  /** Dropped from the bundle at this time. */
  until: Date;
}

export interface TrustBundleEvents {
  /** The bundle changed (a rotation, a retired root dropped, a revocation). */
  bundle: [roots: TrustedRoot[]];
  /** The CA that issues new SVIDs changed. */
  authority: [ca: CertificateAuthority];
}

export class TrustDomainAuthority extends EventEmitter<TrustBundleEvents> {
  #ca: CertificateAuthority;
  #retired: RetiredRoot[] = [];
  #staged: CertificateAuthority | undefined;
  /** Roots someone else publishes (a node agent follows the operator's bundle); replaces staged and retired ones. */
  #published: TrustedRoot[] | undefined;

  constructor(ca: CertificateAuthority, readonly maxSvidTtlMs = DEFAULT_SVID_TTL_MS) {
    super();
    this.#ca = ca;
  }

  get ca(): CertificateAuthority {
    return this.#ca;
  }

  get trustDomain(): string {
    return this.#ca.trustDomain;
  }

  /** The roots peers must trust, newest first. */
  roots(): TrustedRoot[] {
    if (this.#published) {
      const fp = this.#ca.root.x509.fingerprint256;
      return [this.#ca.root, ...this.#published.filter((r) => r.x509.fingerprint256 !== fp)];
    }
    const now = this.#ca.now();
    this.#retired = this.#retired.filter((r) => r.until > now && r.root.notAfter > now);
    return [this.#ca.root, ...(this.#staged ? [this.#staged.root] : []), ...this.#retired.map((r) => r.root)];
  }

  /** The bundle as concatenated PEM (what Envoy's trusted_ca and openssl -CAfile take). */
  bundlePem(): string {
    return this.roots().map((r) => r.pem).join('');
  }

  /** The bundle as concatenated DER (what the Workload API's X509SVID.bundle carries). */
  bundleDer(): Buffer {
    return Buffer.concat(this.roots().map((r) => r.certDer));
  }

  /**
   * First step of a CA rotation: trust `next`'s root (it joins the bundle) without issuing from it
   * yet, so that every peer can learn it before it sees an SVID chaining to it.
   */
  stage(next: CertificateAuthority): void {
    if (next.trustDomain !== this.#ca.trustDomain) throw new Error(`cannot rotate trust domain ${this.#ca.trustDomain} to a CA of ${next.trustDomain}`);
    this.#staged = next;
    this.emit('bundle', this.roots());
  }

  /** The staged CA, if any. */
  get staged(): CertificateAuthority | undefined {
    return this.#staged;
  }

  /** Takes back a stage that was never activated: its root leaves the bundle. */
  unstage(): void {
    if (!this.#staged) return;
    this.#staged = undefined;
    this.emit('bundle', this.roots());
  }

  /**
   * Trusts a retired root known by its certificate (an agent started after the rotation learns it so) for the
   * longest SVID lifetime, as activate() would have.
   */
  retain(root: TrustedRoot): void {
    const fp = root.x509.fingerprint256;
    if (this.roots().some((r) => r.x509.fingerprint256 === fp)) return;
    this.#retired.push({ root, until: new Date(this.#ca.now().getTime() + this.maxSvidTtlMs) });
    this.emit('bundle', this.roots());
  }

  /** Second step: issue from the staged CA; the old root stays trusted for maxSvidTtlMs. */
  activate(): void {
    const next = this.#staged;
    if (!next) throw new Error(`no staged CA to activate in trust domain ${this.trustDomain}`);
    const until = new Date(this.#ca.now().getTime() + this.maxSvidTtlMs);
    this.#retired.unshift({ root: this.#ca.root, until });
    this.#ca = next;
    this.#staged = undefined;
    this.emit('authority', next);
    this.emit('bundle', this.roots());
  }

  /**
   * Trusts exactly `roots` (and the issuing root) from now on, as a publisher (the operator) decides them over its
   * rotations; stage/retain/activate's own timing no longer applies.
   */
  setPublished(roots: TrustedRoot[]): void {
    const before = this.roots().map((r) => r.x509.fingerprint256).join();
    this.#published = roots;
    this.#staged = undefined;
    this.#retired = [];
    if (this.roots().map((r) => r.x509.fingerprint256).join() !== before) this.emit('bundle', this.roots());
  }

  /**
   * Issues from `next` from now on, at once (its root is trusted already: the publisher's bundle has it): every SVID
   * is re-issued. For a node agent whose intermediate now comes from another root.
   */
  switchTo(next: CertificateAuthority): void {
    if (next.trustDomain !== this.#ca.trustDomain) throw new Error(`cannot rotate trust domain ${this.#ca.trustDomain} to a CA of ${next.trustDomain}`);
    const rootChanged = next.root.x509.fingerprint256 !== this.#ca.root.x509.fingerprint256;
    this.#ca = next;
    this.emit('authority', next);
    if (rootChanged) this.emit('bundle', this.roots());
  }

  /** Both steps at once (for a single consumer that takes the bundle and the SVIDs together). */
  rotate(next: CertificateAuthority): void {
    this.stage(next);
    this.activate();
  }

  /** Drops a root from the bundle immediately: SVIDs chaining to it stop being trusted. */
  revoke(fingerprint256: string): void {
    if (this.#ca.root.x509.fingerprint256 === fingerprint256) throw new Error('cannot revoke the root that issues SVIDs: rotate first');
    const before = this.#retired.length;
    this.#retired = this.#retired.filter((r) => r.root.x509.fingerprint256 !== fingerprint256);
    if (this.#retired.length === before) throw new Error(`no root with fingerprint ${fingerprint256} in the bundle of ${this.trustDomain}`);
    this.emit('bundle', this.roots());
  }
}
