// Merging a computed status into the live one: pure, so that what reaches the API server is testable.
// - Conditions keep their lastTransitionTime while their status is unchanged (the API's meaning of the field).
// - Entries of other controllers in shared lists (a route's status.parents, a policy's status.ancestors) are left
//   exactly as they are: each controller owns only the entries carrying its controllerName.
import { isDeepStrictEqual } from 'node:util';

type Json = Record<string, unknown>;

interface Condition extends Json { type: string; status: string; lastTransitionTime?: string }

function stampConditions(computed: unknown, live: unknown, now: string): unknown {
  if (!Array.isArray(computed)) return computed;
  const previous = Array.isArray(live) ? (live as Condition[]) : [];
  return (computed as Condition[]).map((c) => {
    const before = previous.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now;
    return { ...c, lastTransitionTime };
  });
}

/** Stamps every `conditions` array under `computed`, matching list entries of `live` by `key`. */
function stampTree(computed: unknown, live: unknown, now: string): unknown {
  if (Array.isArray(computed)) {
    const liveList = Array.isArray(live) ? (live as unknown[]) : [];
    return computed.map((item) => stampTree(item, liveList.find((l) => sameEntry(item, l)), now));
  }
  if (computed && typeof computed === 'object') {
    const liveObj = live && typeof live === 'object' ? (live as Json) : {};
    const out: Json = {};
    for (const [k, v] of Object.entries(computed as Json)) {
      out[k] = k === 'conditions' ? stampConditions(v, liveObj[k], now) : stampTree(v, liveObj[k], now);
    }
    return out;
  }
  return computed;
}

/** Entries of status lists are identified by listener name, or by parentRef and controllerName. */
function sameEntry(a: unknown, b: unknown): boolean {
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  const x = a as Json;
  const y = b as Json;
  if ('parentRef' in x) return x.controllerName === y.controllerName && isDeepStrictEqual(x.parentRef, y.parentRef);
  if ('ancestorRef' in x) return x.controllerName === y.controllerName && isDeepStrictEqual(x.ancestorRef, y.ancestorRef);
  if ('name' in x) return x.name === y.name;
  return false;
}

/**
 * The status to write: `computed` (Weft's part, without timestamps) merged into `live`. `controllerName` marks
 * Weft's entries of shared route status lists; computed undefined means Weft has nothing to say any more.
 */
export function mergeStatus(live: Json | undefined, computed: Json | undefined, controllerName: string, now: string): Json {
  const current = live ?? {};
  const shared = SHARED_LISTS.find((field) => (computed && field in computed) || field in current);
  if (!shared) return computed ? (stampTree(computed, current, now) as Json) : current;
  const liveEntries = Array.isArray(current[shared]) ? (current[shared] as Json[]) : [];
  const others = liveEntries.filter((p) => p.controllerName !== controllerName);
  const ours = computed && Array.isArray(computed[shared]) ? (stampTree(computed[shared], liveEntries, now) as Json[]) : [];
  return { ...current, ...(computed ?? {}), [shared]: [...others, ...ours] };
}

/** Status lists that several controllers write, each entry carrying its controllerName. */
const SHARED_LISTS = ['parents', 'ancestors'];

export function statusChanged(live: Json | undefined, next: Json): boolean {
  return !isDeepStrictEqual(live ?? {}, next);
}
