// Kubernetes as a source of manifests: informers over the watched kinds, turned into the same Manifest records
// that standalone mode reads from files, so one pipeline (and one set of golden files) serves both modes.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import type { Manifest, ObjectMeta } from '../sources/manifests.js';
import { startKindInformer, type KindInformer, type KubeObject } from './informers.js';
import { mirrorSource } from './tls-secret-mirror.js';
import type { WatchedKind } from './watched-kinds.js';

/** Where problems about API objects point: there is no file, the object's own name says where. */
export const API_SERVER_SOURCE = 'api-server';

export interface KubernetesSourceOptions {
  kinds: WatchedKind[];
  /**
   * Quiet time after the last change before a new snapshot is taken: a burst of events becomes one translation.
   * The first change after a quiet period is taken without waiting.
   */
  debounceMs?: number;
  logger: Logger;
  /** Called (not debounced) when an object changed in a way its manifest does not show, e.g. its status. */
  onStatusChange?: () => void;
}

export function toManifest(kind: WatchedKind, obj: KubeObject): Manifest {
  // List responses leave apiVersion and kind out of their items; the watched kind says what they are.
  const rest: Record<string, unknown> = { ...obj };
  for (const field of ['metadata', 'status', 'apiVersion', 'kind']) delete rest[field];
  const metadata = obj.metadata;
  // A copy in the secrets namespace is read as its source (tls-secret-mirror.ts).
  const source = kind.mirrored ? mirrorSource(obj) : undefined;
  const meta: ObjectMeta = { name: source?.name ?? metadata?.name ?? '' };
  if (source) meta.namespace = source.namespace;
  else if (metadata?.namespace) meta.namespace = metadata.namespace;
  if (metadata?.generation !== undefined) meta.generation = metadata.generation;
  if (metadata?.creationTimestamp) meta.creationTimestamp = new Date(metadata.creationTimestamp).toISOString();
  if (metadata?.labels) meta.labels = metadata.labels;
  if (metadata?.annotations) meta.annotations = metadata.annotations;
  if (metadata?.uid) meta.uid = metadata.uid;
  // Statuses are outputs, except where a Pod is: its addresses are what identities and policies are made of.
  if (kind.kind === 'Pod' && kind.apiVersion === 'v1') {
    const status = obj.status as { podIP?: string; podIPs?: Array<{ ip: string }> } | undefined;
    rest.status = { ...(status?.podIP ? { podIP: status.podIP } : {}), ...(status?.podIPs ? { podIPs: status.podIPs } : {}) };
  }
  return { ...rest, apiVersion: kind.apiVersion, kind: kind.kind, metadata: meta, source: { file: API_SERVER_SOURCE, line: 0 } };
}

/**
 * What the agent reads of an object besides its manifest. Gateways' status.addresses: the operator keeps them across
 * restarts, the agents serve them. Pods' node address, phase and deletion: the mesh view (mesh-view.ts) reads them.
 */
function alsoRead(kind: WatchedKind, obj: KubeObject): unknown[] {
  const status = obj.status as { addresses?: unknown; hostIP?: string; phase?: string } | undefined;
  if (kind.kind === 'Gateway') return [status?.addresses];
  if (kind.kind === 'Pod' && kind.apiVersion === 'v1') return [status?.hostIP, status?.phase, obj.metadata?.deletionTimestamp];
  return [];
}

export class KubernetesSource {
  private readonly informers: KindInformer[];
  private timer: NodeJS.Timeout | undefined;
  /** When the first change not yet in a snapshot arrived (for the debug trace of the create → served path). */
  private pendingSince: number | undefined;
  private lastSnapshotAt = -Infinity;
  private stopped = false;
  /**
   * Each live object's manifest, made once: the informer keeps an object until it changes, so an unchanged object
   * hands the pipeline the same manifest every snapshot, and the translation caches (keyed by manifest object)
   * skip it. Rebuilt for all objects, one new route cost a full schema validation and route translation of every
   * other one (at 1,000 routes, most of the time from create to 200).
   */
  private readonly manifestOf = new WeakMap<KubeObject, Manifest>();

  constructor(kc: k8s.KubeConfig, private readonly opts: KubernetesSourceOptions, private readonly onSnapshot: (manifests: Manifest[]) => void) {
    // A new snapshot only when some object's manifest (what the pipeline reads) changed.
    this.informers = opts.kinds.map((kind) => startKindInformer(kc, kind, () => this.schedule(), opts.logger, {
      fingerprint: (obj) => JSON.stringify([this.manifest(kind, obj), ...alsoRead(kind, obj)]),
      onOtherChange: () => {
        if (!this.stopped && this.synced()) opts.onStatusChange?.();
      },
    }));
  }

  /** True once every kind was listed at least once: before that, a snapshot would miss objects. */
  synced(): boolean {
    return this.informers.every((i) => i.synced());
  }

  manifests(): Manifest[] {
    return this.informers.flatMap((i) => i.list().map((obj) => this.manifest(i.kind, obj)));
  }

  private manifest(kind: WatchedKind, obj: KubeObject): Manifest {
    let m = this.manifestOf.get(obj);
    if (!m) this.manifestOf.set(obj, (m = toManifest(kind, obj)));
    return m;
  }

  /** The live objects of one kind as last seen (with their statuses). */
  objects(kindName: string): KubeObject[] {
    return this.informers.filter((i) => i.kind.kind === kindName).flatMap((i) => i.list());
  }

  /** The live object as last seen (with its status and resourceVersion), for the status writer. */
  object(kindName: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.informers.find((i) => i.kind.kind === kindName)?.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private schedule(): void {
    if (this.stopped || !this.synced()) return;
    if (this.timer) clearTimeout(this.timer);
    const quietMs = this.opts.debounceMs ?? 10;
    const now = Date.now();
    // The first change after a quiet period is taken at once (after the other events of the same read): a lone
    // change (one route created) is not held for the debounce. Changes following a snapshot within the quiet time
    // are a burst, coalesced as before.
    let waitMs = quietMs;
    if (this.pendingSince === undefined) {
      this.pendingSince = now;
      if (now - this.lastSnapshotAt >= quietMs) waitMs = 0;
      this.opts.logger.debug('change seen');
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      const manifests = this.manifests();
      this.lastSnapshotAt = Date.now();
      this.opts.logger.debug({ sinceChangeMs: this.lastSnapshotAt - (this.pendingSince ?? this.lastSnapshotAt), manifests: manifests.length }, 'snapshot taken');
      this.pendingSince = undefined;
      this.onSnapshot(manifests);
    }, waitMs);
  }
}
