// A node's share of mesh mTLS over time: the SVIDs of every identity its mesh view names, renewed at
// half-life (and re-issued when the CA rotates), and the trust bundle, as the node's complete set of
// mesh resources (listeners, clusters, SDS Secrets). `change` fires whenever they change; the caller
// puts them in the node's snapshot. Secrets change alone, so Envoy takes renewals without touching
// listeners or clusters.
import { EventEmitter } from 'node:events';
import type { Resource } from '../xds/resource.js';
import { meshIdentities, meshResources, meshSecrets, type MeshNodeView } from './mesh-resources.js';
import { parseSpiffeId } from './spiffe-id.js';
import { SvidRotator } from './svid-rotator.js';
import type { X509Svid } from './svid.js';
import type { TrustDomainAuthority } from './trust-bundle.js';

export class MeshNodeAgent extends EventEmitter<{ change: [resources: Resource[]] }> {
  readonly #rotators = new Map<string, SvidRotator>();
  #view: MeshNodeView;
  #pending = false;

  constructor(readonly authority: TrustDomainAuthority, view: MeshNodeView, readonly svidTtlMs?: number) {
    super();
    this.#view = view;
    this.reconcile();
  }

  /** A new mesh view (pods or services changed): identities no longer named stop being renewed. */
  setView(view: MeshNodeView): void {
    this.#view = view;
    this.reconcile();
    this.changed();
  }

  /** The node's mesh resources now. */
  resources(): Resource[] {
    const svids = new Map<string, X509Svid>([...this.#rotators].map(([id, r]) => [id, r.svid]));
    const plaintext = this.#view.plaintext === true;
    return [...meshResources(this.#view), ...(plaintext ? [] : meshSecrets(this.authority.trustDomain, svids, this.authority.bundlePem()))];
  }

  /** The SVID currently served for `id` (tests and diagnostics). */
  svid(id: string): X509Svid | undefined {
    return this.#rotators.get(id)?.svid;
  }

  stop(): void {
    for (const r of this.#rotators.values()) r.stop();
    this.#rotators.clear();
  }

  private reconcile(): void {
    const wanted = new Set(meshIdentities(this.#view));
    for (const [id, r] of this.#rotators) {
      if (!wanted.has(id)) {
        r.stop();
        this.#rotators.delete(id);
      }
    }
    for (const id of wanted) {
      if (this.#rotators.has(id)) continue;
      const r = new SvidRotator(this.authority, parseSpiffeId(id), this.svidTtlMs);
      r.on('svid', () => this.changed());
      r.on('bundle', () => this.changed());
      this.#rotators.set(id, r);
    }
  }

  /** One change event per burst (a CA rotation renews every SVID and changes the bundle at once). */
  private changed(): void {
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      this.emit('change', this.resources());
    });
  }
}
