// The desired state of one node (or node group): every resource by type and name.
import { ALL_TYPE_URLS, WARM_FIRST_TYPES, type TypeUrl } from './type-urls.js';
import type { Resource, ResourceRef } from './resource.js';

export type ResourceMap = ReadonlyMap<string, Resource>;

const EMPTY: ResourceMap = new Map();

export class Snapshot {
  private readonly byType: Map<TypeUrl, Map<string, Resource>>;
  private warmFirstRefs: ResourceRef[] | undefined;

  private constructor(byType: Map<TypeUrl, Map<string, Resource>>) {
    this.byType = byType;
  }

  static of(resources: Iterable<Resource>): Snapshot {
    const byType = new Map<TypeUrl, Map<string, Resource>>();
    for (const type of ALL_TYPE_URLS) byType.set(type, new Map());
    for (const r of resources) {
      const map = byType.get(r.typeUrl);
      if (!map) throw new Error(`unsupported resource type ${r.typeUrl}`);
      if (map.has(r.name)) throw new Error(`duplicate ${r.typeUrl} named "${r.name}"`);
      map.set(r.name, r);
    }
    return new Snapshot(byType);
  }

  resources(typeUrl: TypeUrl): ResourceMap {
    return this.byType.get(typeUrl) ?? EMPTY;
  }

  get(typeUrl: TypeUrl, name: string): Resource | undefined {
    return this.byType.get(typeUrl)?.get(name);
  }

  /** Every resource, in an order Envoy can take them (warm-first types first). */
  *all(): Iterable<Resource> {
    for (const type of ALL_TYPE_URLS) yield* this.resources(type).values();
  }

  /** Returns a new snapshot with some resources replaced or added; others are shared, not copied. */
  with(changed: Iterable<Resource>, removed: Iterable<ResourceRef> = []): Snapshot {
    const byType = new Map(this.byType);
    const touched = new Set<TypeUrl>();
    const mutable = (type: TypeUrl): Map<string, Resource> => {
      if (!touched.has(type)) {
        byType.set(type, new Map(this.byType.get(type)));
        touched.add(type);
      }
      return byType.get(type)!;
    };
    for (const ref of removed) mutable(ref.typeUrl).delete(ref.name);
    for (const r of changed) mutable(r.typeUrl).set(r.name, r);
    return new Snapshot(byType);
  }

  /**
   * The warm-first resources (clusters, their endpoints, secrets) that the listeners and routes of this
   * snapshot reach, transitively, limited to those present in the snapshot. Computed once per snapshot.
   */
  referencedWarmFirst(): readonly ResourceRef[] {
    if (this.warmFirstRefs) return this.warmFirstRefs;
    const seen = new Set<string>();
    const out: ResourceRef[] = [];
    const visit = (ref: ResourceRef): void => {
      const key = `${ref.typeUrl}\u0000${ref.name}`;
      if (seen.has(key)) return;
      seen.add(key);
      const target = this.get(ref.typeUrl, ref.name);
      if (!target) return;
      out.push(ref);
      for (const next of target.references) visit(next);
    };
    for (const [type, map] of this.byType) {
      if (WARM_FIRST_TYPES.has(type)) continue;
      for (const r of map.values()) for (const ref of r.references) if (WARM_FIRST_TYPES.has(ref.typeUrl)) visit(ref);
    }
    this.warmFirstRefs = out;
    return out;
  }
}
