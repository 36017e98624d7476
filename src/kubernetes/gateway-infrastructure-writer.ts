// Brings the API server to the per-Gateway objects of gateway-infrastructure.ts: server-side apply (field manager
// weft-operator) of what is missing or differs, delete of what Weft generated for a Gateway that is gone.
// A pass whose inputs (the desired objects, and the live versions of those and of Weft's generated ones) are those
// of the last pass that found nothing to do is skipped: the operator runs one after every status write landing.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import type { KubeObject } from './informers.js';
import { infrastructureUpToDate, MANAGED_BY, staleInfrastructure } from './gateway-infrastructure.js';

export interface InfrastructureWriteResult {
  applied: number;
  deleted: number;
  failed: number;
  /** The inputs were those of the last pass that found nothing to do: nothing was compared. */
  skipped: boolean;
}

export type LiveLookup = (kind: string, namespace: string | undefined, name: string) => KubeObject | undefined;

export class GatewayInfrastructureWriter {
  private readonly api: k8s.KubernetesObjectApi;
  /** The inputs of the last pass that found everything up to date. */
  private settled: string | undefined;

  constructor(kc: k8s.KubeConfig, private readonly log: Logger) {
    this.api = k8s.KubernetesObjectApi.makeApiClient(kc);
  }

  /** `live`: the Services and EndpointSlices as the informers last saw them. */
  async write(desired: KubeObject[], live: KubeObject[], lookup: LiveLookup): Promise<InfrastructureWriteResult> {
    const result: InfrastructureWriteResult = { applied: 0, deleted: 0, failed: 0, skipped: false };
    const current = desired.map((obj) => lookup(obj.kind!, obj.metadata?.namespace, obj.metadata!.name!));
    const versions = (objs: Array<KubeObject | undefined>): string[] => objs.map((o) => `${o?.kind}/${o?.metadata?.namespace}/${o?.metadata?.name}@${o?.metadata?.resourceVersion}`);
    const inputs = JSON.stringify([desired, versions(current), versions(live)]);
    if (inputs === this.settled) return { ...result, skipped: true };
    this.settled = undefined;
    for (const [i, obj] of desired.entries()) {
      if (infrastructureUpToDate(obj, current[i])) continue;
      try {
        await this.api.patch(obj, undefined, undefined, MANAGED_BY, true, k8s.PatchStrategy.ServerSideApply);
        result.applied++;
      } catch (err) {
        result.failed++;
        this.log.warn({ object: `${obj.kind}/${obj.metadata?.namespace}/${obj.metadata?.name}`, err: (err as Error).message }, 'gateway infrastructure apply failed');
      }
    }
    for (const obj of staleInfrastructure(desired, live)) {
      try {
        await this.api.delete({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata!.name, namespace: obj.metadata!.namespace } });
        result.deleted++;
      } catch (err) {
        if ((err as { code?: number }).code === 404) continue; // gone already (the garbage collector was first)
        result.failed++;
        this.log.warn({ object: `${obj.kind}/${obj.metadata?.namespace}/${obj.metadata?.name}`, err: (err as Error).message }, 'gateway infrastructure delete failed');
      }
    }
    // Anything written changes the live versions: the next pass looks again (and then settles).
    if (!result.applied && !result.deleted && !result.failed) this.settled = inputs;
    return result;
  }

  /** Forgets the last settled pass (e.g. on regaining leadership: another replica may have written meanwhile). */
  forget(): void {
    this.settled = undefined;
  }
}
