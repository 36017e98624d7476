// Writes computed statuses to the API server through the status subresource, only when they differ from what the
// object already shows, with optimistic concurrency (the object's resourceVersion) and retry on conflict.
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME, type ObjectStatus } from '../gateway/conditions.js';
import type { Logger } from '../log/logger.js';
import type { KubeObject } from './informers.js';
import { mergeStatus, statusChanged } from './status-merge.js';
import { objectKey, type WatchedKind } from './watched-kinds.js';

export interface StatusWriteResult {
  written: number;
  unchanged: number;
  conflicts: number;
  failed: number;
}

/** Reads the live object as last seen by the informers. */
export type LiveObjectLookup = (kind: string, namespace: string | undefined, name: string) => KubeObject | undefined;

const MAX_CONFLICT_RETRIES = 5;

export class StatusWriter {
  private readonly api: k8s.CustomObjectsApi;
  private readonly kinds: Map<string, WatchedKind>;

  constructor(kc: k8s.KubeConfig, kinds: WatchedKind[], private readonly live: LiveObjectLookup, private readonly log: Logger) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.kinds = new Map(kinds.map((k) => [k.kind, k]));
  }

  /**
   * Brings every object's status to `statuses`. Route objects that still carry Weft's parent entries but have no
   * computed status any more (their parentRefs moved to another controller's Gateway) lose those entries.
   */
  async write(statuses: ObjectStatus[], routesShowingWeft: Array<{ kind: string; namespace?: string; name: string }> = []): Promise<StatusWriteResult> {
    const result: StatusWriteResult = { written: 0, unchanged: 0, conflicts: 0, failed: 0 };
    const computed = new Map(statuses.map((s) => [objectKey(s.kind, s.namespace, s.name), s]));
    const targets: Array<{ kind: string; namespace?: string; name: string; status?: Record<string, unknown> }> = [...statuses];
    for (const r of routesShowingWeft) if (!computed.has(objectKey(r.kind, r.namespace, r.name))) targets.push(r);
    for (const target of targets) {
      const kind = this.kinds.get(target.kind);
      if (!kind) continue;
      try {
        await this.writeOne(kind, target.namespace, target.name, target.status, result);
      } catch (err) {
        result.failed++;
        this.log.warn({ object: objectKey(target.kind, target.namespace, target.name), err: (err as Error).message }, 'status write failed');
      }
    }
    return result;
  }

  private async writeOne(kind: WatchedKind, namespace: string | undefined, name: string, computed: Record<string, unknown> | undefined,
    result: StatusWriteResult): Promise<void> {
    let live = this.live(kind.kind, namespace, name);
    for (let attempt = 0; ; attempt++) {
      if (!live) return; // deleted meanwhile: nothing to report on
      const liveStatus = live.status as Record<string, unknown> | undefined;
      const next = mergeStatus(liveStatus, computed, CONTROLLER_NAME, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
      if (!statusChanged(liveStatus, next)) {
        result.unchanged++;
        return;
      }
      const body = { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, namespace, resourceVersion: live.metadata?.resourceVersion }, status: next };
      try {
        await this.replace(kind, namespace, name, body);
        result.written++;
        return;
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

  private async replace(kind: WatchedKind, namespace: string | undefined, name: string, body: unknown): Promise<void> {
    const { group, version } = this.groupVersion(kind);
    if (namespace) await this.api.replaceNamespacedCustomObjectStatus({ group, version, namespace, plural: kind.plural, name, body });
    else await this.api.replaceClusterCustomObjectStatus({ group, version, plural: kind.plural, name, body });
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
