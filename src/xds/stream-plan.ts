// What one ADS stream should send next, independent of the wire protocol (SotW or delta).
//
// Rules it enforces:
// - make-before-break: listeners and routes are held until every cluster, endpoint set and secret they
//   reach is ACKed on this stream; warm-first resources that left the desired state are kept until
//   listeners and routes have caught up, then removed; after a listener change, also until Envoy's drain
//   time has passed (the filter chains it replaced still serve their connections, through the old routes);
// - a NACKed state is not sent again until the desired state changes;
// - one response in flight per type, so ACKs and NACKs are unambiguous.
import { createHash } from 'node:crypto';
import { ALL_TYPE_URLS, TypeUrl, WARM_FIRST_TYPES } from './type-urls.js';
import type { Resource } from './resource.js';
import type { Snapshot } from './snapshot.js';

export interface InFlight {
  readonly nonce: string;
  /** The complete target this response moves the client to. */
  readonly target: ReadonlyMap<string, Resource>;
  readonly fingerprint: string;
  readonly sentAt: number;
}

export class TypeTrack {
  readonly typeUrl: TypeUrl;
  /** Whether the client asked for this type at all on this stream. */
  requested = false;
  wildcard = false;
  readonly names = new Set<string>();
  /** What the client has applied: name → resource version. */
  acked = new Map<string, string>();
  /** The resources behind `acked`, kept so that retained ones can be sent again in SotW. */
  ackedResources = new Map<string, Resource>();
  inFlight: InFlight | undefined;
  /** Nonce of the latest response sent for this type on this stream (in flight or settled). */
  lastNonce: string | undefined;
  /** Fingerprint of a target the client rejected; that target is not sent again. */
  nackedFingerprint: string | undefined;
  /** Set when the subscription changed: a SotW client expects an answer even if nothing else did. */
  subscriptionChanged = false;
  /** SotW version_info a reconnecting client said it holds; matched against the first target. */
  resumeVersion: string | undefined;
  /**
   * Names to send again although the client holds their current version: the endpoints of a cluster
   * Envoy just added or changed (it warms the new cluster only on a fresh ClusterLoadAssignment), and in
   * delta, names the client subscribed to again (it may have forgotten them).
   */
  readonly resend = new Set<string>();

  constructor(typeUrl: TypeUrl) {
    this.typeUrl = typeUrl;
  }

  isSubscribed(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** Fingerprint of `acked`, kept current so that comparing it costs nothing. */
  ackedFingerprint = fingerprintOf(new Map<string, string>());

  applyAck(flight: Pick<InFlight, 'target' | 'fingerprint'>): void {
    this.acked = new Map([...flight.target].map(([n, r]) => [n, r.version]));
    this.ackedResources = new Map(flight.target);
    this.ackedFingerprint = flight.fingerprint;
    this.nackedFingerprint = undefined;
  }

  /** Replaces what the client holds with what it declared (delta reconnect) or dropped (unsubscribe). */
  setAcked(versions: Map<string, string>): void {
    this.acked = versions;
    for (const name of [...this.ackedResources.keys()]) {
      if (this.ackedResources.get(name)?.version !== versions.get(name)) this.ackedResources.delete(name);
    }
    this.ackedFingerprint = fingerprintOf(versions);
  }
}

export function fingerprintOf(target: ReadonlyMap<string, Resource> | ReadonlyMap<string, string>): string {
  const hash = createHash('sha256');
  for (const name of [...target.keys()].sort()) {
    const v = target.get(name)!;
    hash.update(name).update('\u0000').update(typeof v === 'string' ? v : v.version).update('\u0000');
  }
  return hash.digest('base64url').slice(0, 16);
}

/**
 * Envoy's drain time as Weft runs it (envoy/process.ts, `--drain-time-s`): how long the filter chains a listener
 * change replaced keep serving their open connections, with their old connection managers and routes.
 */
export const ENVOY_DRAIN_TIME_MS = 1000;
/** Past the drain time, for Envoy to close the drained connections before their clusters go. */
const DRAIN_MARGIN_MS = 500;

export class StreamPlan {
  readonly tracks = new Map<TypeUrl, TypeTrack>();
  snapshot: Snapshot | undefined;
  /** A listener change was ACKed; the chains it replaced drain once listeners and routes have converged. */
  private drainPending = false;
  /** Until when (performance.now()) warm-first removals wait for replaced filter chains to finish draining. */
  drainingUntil = 0;
  /** The last look at removals refused them only because replaced filter chains were still draining. */
  private refusedForDrain = false;

  constructor(private readonly listenerDrainMs = ENVOY_DRAIN_TIME_MS) {
    for (const type of ALL_TYPE_URLS) this.tracks.set(type, new TypeTrack(type));
  }

  track(typeUrl: TypeUrl): TypeTrack {
    return this.tracks.get(typeUrl)!;
  }

  /**
   * The complete set of resources the client should hold for `typeUrl` right now, limited to its
   * subscription; undefined when nothing may be sent for this type yet.
   */
  target(typeUrl: TypeUrl): ReadonlyMap<string, Resource> | undefined {
    const snapshot = this.snapshot;
    const track = this.track(typeUrl);
    if (!snapshot || !track.requested) return undefined;
    // The snapshot's own map when nothing is added to it (snapshots are immutable): this runs on every
    // flush of every stream, and copying the map each time was most of the control plane's garbage.
    let desired = snapshot.resources(typeUrl);
    if (WARM_FIRST_TYPES.has(typeUrl)) {
      if (!this.removalsAllowed()) {
        // Keep what the client holds until nothing that could reference it is still in flux.
        let kept: Map<string, Resource> | undefined;
        for (const [name, version] of track.acked) {
          if (desired.has(name)) continue;
          kept ??= new Map(desired);
          // Delta clients declare what they hold on reconnect, without the bodies; such a resource is
          // never re-sent (its version matches), only kept from removal, so a bodiless stand-in will do.
          kept.set(name, track.ackedResources.get(name) ?? { typeUrl, name, version, body: new Uint8Array(0), references: [] });
        }
        if (kept) desired = kept;
      }
    } else if (!this.warmFirstReady(snapshot)) {
      return undefined;
    }
    if (track.wildcard) return desired;
    const filtered = new Map<string, Resource>();
    for (const name of track.names) {
      const r = desired.get(name);
      if (r) filtered.set(name, r);
    }
    return filtered;
  }

  /**
   * When clusters go out: each cluster the client adds or changes becomes a new cluster in Envoy, warming
   * on a new EDS subscription for the same name, and it finishes warming only when a ClusterLoadAssignment
   * arrives, "even though there is no change in endpoints" (xDS protocol, Resource warming). Envoy does not
   * announce that subscription on the wire while the old cluster still holds one for the name, and it
   * ACKs the clusters only once they have warmed, so their assignments are due again now, right behind
   * them on the stream. `held` is what the client held of the clusters before.
   */
  clustersSent(held: ReadonlyMap<string, string>, sent: ReadonlyMap<string, Resource>): void {
    const endpoints = this.track(TypeUrl.ClusterLoadAssignment);
    for (const [name, cluster] of sent) {
      if (held.get(name) === cluster.version) continue;
      for (const ref of cluster.references) if (ref.typeUrl === TypeUrl.ClusterLoadAssignment) endpoints.resend.add(ref.name);
    }
  }

  /**
   * A listener response was ACKed: `held` is what the client held of the listeners before. A listener changed or
   * removed drains the filter chains it replaced (all of a removed one's) for Envoy's drain time; their open
   * connections are still served by the old connection managers, through the old routes to the old clusters
   * (a request to a cluster Envoy no longer has is a 503). In-place or not, Envoy drains them the same way.
   */
  listenersAcked(held: ReadonlyMap<string, string>, target: ReadonlyMap<string, Resource>): void {
    for (const [name, version] of held) {
      if (target.get(name)?.version !== version) {
        this.drainPending = true;
        return;
      }
    }
  }

  /**
   * Whether warm-first resources that left the desired state may be removed now: listeners and routes have
   * converged, and the filter chains the last listener change replaced have finished draining (their drain
   * starts once the new listeners are in place, which is no later than convergence).
   */
  removalsAllowed(now = performance.now()): boolean {
    this.refusedForDrain = false;
    if (!this.lateTypesConverged()) return false;
    if (this.drainPending) {
      this.drainPending = false;
      this.drainingUntil = now + this.listenerDrainMs + DRAIN_MARGIN_MS;
    }
    if (now >= this.drainingUntil) return true;
    this.refusedForDrain = true;
    return false;
  }

  /**
   * When to look again because the last look refused removals for the drain (undefined when it did not),
   * taken once: the look that timer makes refuses again or not. Never less than 1 ms: by the time the stream
   * asks, the drain may have ended, but the refusal stands until someone looks again, and nothing else may
   * come to look (a timer that fired a little before `drainingUntil`, as Node's millisecond timers can, left
   * removals held with no timer behind them).
   */
  takeDrainRetryMs(now = performance.now()): number | undefined {
    if (!this.refusedForDrain) return undefined;
    this.refusedForDrain = false;
    return Math.max(1, Math.ceil(this.drainingUntil - now));
  }

  /** Every warm-first resource that the snapshot's listeners and routes reach is ACKed on this stream. */
  warmFirstReady(snapshot: Snapshot): boolean {
    for (const ref of snapshot.referencedWarmFirst()) {
      const track = this.track(ref.typeUrl);
      if (track.acked.has(ref.name)) continue;
      if (track.requested) return false;
      // A client that takes clusters asks for their endpoints once it has them: wait for that too.
      // A client that never asks for a type cannot be waited on for it.
      if (ref.typeUrl === TypeUrl.ClusterLoadAssignment && this.track(TypeUrl.Cluster).requested) return false;
    }
    return true;
  }

  /** Listeners and routes on the client equal the desired ones (so old clusters are unreferenced). */
  lateTypesConverged(): boolean {
    const snapshot = this.snapshot;
    if (!snapshot) return false;
    for (const type of ALL_TYPE_URLS) {
      if (WARM_FIRST_TYPES.has(type)) continue;
      const track = this.track(type);
      if (!track.requested) continue;
      if (track.inFlight) return false;
      const desired = snapshot.resources(type);
      for (const [name, version] of track.acked) if (desired.get(name)?.version !== version) return false;
      const wanted = track.wildcard ? desired.keys() : track.names;
      for (const name of wanted) if (desired.has(name) && !track.acked.has(name)) return false;
    }
    return true;
  }
}
