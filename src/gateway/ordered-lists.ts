// Virtual hosts with the same routes share one ordered list. A route naming several hostnames (`example.com` and
// `www.example.com`) is placed on each of them in the same order, so their lists are usually the same objects in the
// same order: ordered once, and handed on as the same array, which also lets the xDS stage encode that table once.
import type { HttpRouteIR } from '../ir/model.js';
import type { RankedRoute } from './httproute.js';

/** Placed lists already ordered in this translation, by their first route (a list is found by its content). */
export class OrderedLists {
  private readonly byFirst = new Map<RankedRoute | undefined, Array<{ ranked: readonly RankedRoute[]; routes: HttpRouteIR[] }>>();

  /** `order(ranked)`, or the array it gave for a list holding the same route objects in the same order. */
  ordered(ranked: readonly RankedRoute[], order: (ranked: readonly RankedRoute[]) => HttpRouteIR[]): HttpRouteIR[] {
    const candidates = this.byFirst.get(ranked[0]);
    for (const c of candidates ?? []) if (sameObjects(c.ranked, ranked)) return c.routes;
    const routes = order(ranked);
    if (candidates) candidates.push({ ranked, routes });
    else this.byFirst.set(ranked[0], [{ ranked, routes }]);
    return routes;
  }
}

export function sameObjects(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
