// Keeps one identity's X.509-SVID fresh: issues it, renews it at half its lifetime, and re-issues it
// at once when the trust domain's CA is rotated (so the new SVID chains to the new root while the
// bundle still holds the old one). Listeners get every new SVID and every bundle change.
import { EventEmitter } from 'node:events';
import type { SpiffeId } from './spiffe-id.js';
import type { X509Svid } from './svid.js';
import type { TrustDomainAuthority, TrustedRoot } from './trust-bundle.js';

export interface SvidRotatorEvents {
  svid: [svid: X509Svid];
  bundle: [roots: TrustedRoot[]];
}

export class SvidRotator extends EventEmitter<SvidRotatorEvents> {
  #svid: X509Svid;
  #timer: NodeJS.Timeout | undefined;
  readonly #onAuthority = (): void => {
    this.renew();
  };
  readonly #onBundle = (roots: TrustedRoot[]): void => void this.emit('bundle', roots);

  constructor(readonly authority: TrustDomainAuthority, readonly id: SpiffeId, readonly ttlMs?: number) {
    super();
    this.#svid = this.issue();
    this.schedule();
    authority.on('authority', this.#onAuthority);
    authority.on('bundle', this.#onBundle);
  }

  get svid(): X509Svid {
    return this.#svid;
  }

  /** Issues a new SVID now (and reschedules the next renewal). */
  renew(): X509Svid {
    this.#svid = this.issue();
    this.schedule();
    this.emit('svid', this.#svid);
    return this.#svid;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.authority.off('authority', this.#onAuthority);
    this.authority.off('bundle', this.#onBundle);
  }

  private issue(): X509Svid {
    const ca = this.authority.ca;
    // A CA without its root key (a node agent's) gets its next intermediate from the signer before this is due.
    if (ca.renewsIntermediate && ca.intermediateDue(this.ttlMs)) ca.rotateIntermediate();
    return ca.issue(this.id, this.ttlMs === undefined ? {} : { ttlMs: this.ttlMs });
  }

  private schedule(): void {
    clearTimeout(this.#timer);
    const delay = Math.max(0, this.#svid.renewAt().getTime() - this.authority.ca.now().getTime());
    this.#timer = setTimeout(() => this.renew(), delay);
    this.#timer.unref();
  }
}
