// Writes computed statuses to the API server through the status subresource, only when they differ from what the
// object already shows, with optimistic concurrency (the object's resourceVersion) and retry on conflict.
// Passes are incremental: an object is compared again only when its computed status or its live resourceVersion
// changed since it was last compared or written (with 1,000 routes, comparing all on every pass cost ~350 ms CPU/s).
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME, type ObjectStatus } from '../gateway/conditions.js';
import type { Logger } from '../log/logger.js';
import type { KubeObject } from './informers.js';
import { mergeStatus, statusChanged } from './status-merge.js';
import { objectKey, type WatchedKind } from './watched-kinds.js';

export interface StatusWriteResult {
  written: number;
  /** Left as they are: compared and found equal, or skipped because nothing changed since the last pass. */
  unchanged: number;
  /** Objects whose status was merged and compared with the live one in this pass (the rest were skipped). */
  compared: number;
  conflicts: number;
  failed: number;
}

/** Reads the live object as last seen by the informers. */
export type LiveObjectLookup = (kind: string, namespace: string | undefined, name: string) => KubeObject | undefined;

const MAX_CONFLICT_RETRIES = 5;

/** What an object's status was last settled against: the computed status, and the live versions showing it. */
interface Settled {
  computed: Record<string, unknown> | undefined;
  signature: string;
  /** The live resourceVersion compared against, or the one our write produced (and the one it replaced). */
  resourceVersions: Set<string>;
}

export class StatusWriter {
  private readonly api: k8s.CustomObjectsApi;
  private readonly kinds: Map<string, WatchedKind>;
  private settled = new Map<string, Settled>();

  constructor(kc: k8s.KubeConfig, kinds: WatchedKind[], private readonly live: LiveObjectLookup, private readonly log: Logger) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.kinds = new Map(kinds.map((k) => [k.kind, k]));
  }

  /**
   * Brings every object's status to `statuses`. Route objects that still carry Weft's parent entries but have no
   * computed status any more (their parentRefs moved to another controller's Gateway) lose those entries.
   */
  async write(statuses: ObjectStatus[], routesShowingWeft: Array<{ kind: string; namespace?: string; name: string }> = []): Promise<StatusWriteResult> {
    const result: StatusWriteResult = { written: 0, unchanged: 0, compared: 0, conflicts: 0, failed: 0 };
    const computed = new Map(statuses.map((s) => [objectKey(s.kind, s.namespace, s.name), s]));
    const targets: Array<{ kind: string; namespace?: string; name: string; status?: Record<string, unknown> }> = [...statuses];
    for (const r of routesShowingWeft) if (!computed.has(objectKey(r.kind, r.namespace, r.name))) targets.push(r);
    const previous = this.settled;
    const settled = new Map<string, Settled>();
    for (const target of targets) {
      const kind = this.kinds.get(target.kind);
      if (!kind) continue;
      const key = objectKey(target.kind, target.namespace, target.name);
      const before = previous.get(key);
      const signature = before && before.computed === target.status ? before.signature : JSON.stringify(target.status ?? null);
      const liveVersion = this.live(kind.kind, target.namespace, target.name)?.metadata?.resourceVersion;
      if (before && before.signature === signature && liveVersion !== undefined && before.resourceVersions.has(liveVersion)) {
        settled.set(key, { ...before, computed: target.status });
        result.unchanged++;
        continue;
      }
      try {
        const versions = await this.writeOne(kind, target.namespace, target.name, target.status, result);
        if (versions.size) settled.set(key, { computed: target.status, signature, resourceVersions: versions });
      } catch (err) {
        // Not remembered: the next pass compares (and retries) it again.
        result.failed++;
        this.log.warn({ object: objectKey(target.kind, target.namespace, target.name), err: (err as Error).message }, 'status write failed');
      }
    }
    // Objects no longer targeted (or deleted) are forgotten: if they come back, they are compared afresh.
    if (this.settled === previous) this.settled = settled; // unless forgotten meanwhile
    return result;
  }

  /** Forgets what was settled (e.g. on regaining leadership): the next pass compares every object again. */
  forget(): void {
    this.settled = new Map();
  }

  /** Brings one object's status to `computed`; returns the live resourceVersions now known to show it. */
  private async writeOne(kind: WatchedKind, namespace: string | undefined, name: string, computed: Record<string, unknown> | undefined,
    result: StatusWriteResult): Promise<Set<string>> {
    let live = this.live(kind.kind, namespace, name);
    result.compared++;
    for (let attempt = 0; ; attempt++) {
      if (!live) return new Set(); // deleted meanwhile: nothing to report on
      const liveStatus = live.status as Record<string, unknown> | undefined;
      const liveVersion = live.metadata?.resourceVersion;
      const next = mergeStatus(liveStatus, computed, CONTROLLER_NAME, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
      if (!statusChanged(liveStatus, next)) {
        result.unchanged++;
        return new Set(liveVersion ? [liveVersion] : []);
      }
      const body = { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, namespace, resourceVersion: liveVersion }, status: next };
      try {
        const written = await this.replace(kind, namespace, name, body);
        result.written++;
        // Until the informer sees our write it still shows the version we replaced: that one is settled too.
        return new Set([liveVersion, written].filter((v): v is string => !!v));
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= MAX_CONFLICT_RETRIES) throw err;
        // Someone else wrote the object since we last saw it: merge into the fresh copy and try again.
        result.conflicts++;
        live = await this.get(kind, namespace, name);
      }
    }
  }

  private groupVersion(kind: WatchedKind): { group: string; version: string } {
    const [group, version] = kind.apiVersion.split('/');
    if (!group || !version) throw new Error(`${kind.kind}: only API group kinds have their status written here`);
    return { group, version };
  }

  /** Returns the resourceVersion the write produced. */
  private async replace(kind: WatchedKind, namespace: string | undefined, name: string, body: unknown): Promise<string | undefined> {
    const { group, version } = this.groupVersion(kind);
    const written = (namespace
      ? await this.api.replaceNamespacedCustomObjectStatus({ group, version, namespace, plural: kind.plural, name, body })
      : await this.api.replaceClusterCustomObjectStatus({ group, version, plural: kind.plural, name, body })) as KubeObject | undefined;
    return written?.metadata?.resourceVersion;
  }

  private async get(kind: WatchedKind, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    const { group, version } = this.groupVersion(kind);
    try {
      return (namespace
        ? await this.api.getNamespacedCustomObjectStatus({ group, version, namespace, plural: kind.plural, name })
        : await this.api.getClusterCustomObjectStatus({ group, version, plural: kind.plural, name })) as KubeObject;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }
}
