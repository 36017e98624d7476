// An X.509-SVID as Weft hands it out: the leaf, the chain up to (not including) the root, and the
// private key. The key never appears in logs, JSON or inspection: only `privateKeyPem()` yields it.
import { inspect } from 'node:util';
import type { KeyObject } from 'node:crypto';
import type { SpiffeId } from './spiffe-id.js';
import { pkcs8Pem } from './keys.js';
import { toPem } from './x509.js';

export class X509Svid {
  readonly #privateKey: KeyObject;

  constructor(
    readonly id: SpiffeId,
    /** DER certificates: the leaf first, then the intermediates that chain it to a root of the bundle. */
    readonly chain: Buffer[],
    privateKey: KeyObject,
    readonly notBefore: Date,
    readonly notAfter: Date,
    readonly serialHex: string,
    /** When it was issued (notBefore is a little earlier, for clock skew). */
    readonly issuedAt: Date,
  ) {
    this.#privateKey = privateKey;
  }

  get certificateDer(): Buffer {
    return this.chain[0];
  }

  /** The leaf and its intermediates, PEM, leaf first (what a TLS server or client presents). */
  chainPem(): string {
    return this.chain.map(toPem).join('');
  }

  privateKeyPem(): string {
    return pkcs8Pem(this.#privateKey);
  }

  privateKeyDer(): Buffer {
    return this.#privateKey.export({ type: 'pkcs8', format: 'der' });
  }

  /** When to renew: half-way from issuance to expiry (Weft's rotation point). */
  renewAt(): Date {
    return new Date(this.issuedAt.getTime() + (this.notAfter.getTime() - this.issuedAt.getTime()) / 2);
  }

  toJSON(): Record<string, unknown> {
    return { id: this.id.uri, notBefore: this.notBefore.toISOString(), notAfter: this.notAfter.toISOString(), serial: this.serialHex, privateKey: '[redacted]' };
  }

  [inspect.custom](): string {
    return `X509Svid ${JSON.stringify(this.toJSON())}`;
  }
}
