// A route rule's backendRefs and RequestMirror filters → weighted backends and mirrors. Shared by
// HTTPRoute and GRPCRoute, which spell these the same way.
import type { HeaderModifierIR, MirrorIR, WeightedBackendIR } from '../ir/model.js';
import type { BackendProblem, BackendRefLike, BackendResolution } from './backends.js';

interface HeaderFilter {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}

interface RuleFilter {
  type: string;
  requestHeaderModifier?: HeaderFilter;
  responseHeaderModifier?: HeaderFilter;
  requestMirror?: MirrorFilter;
}

interface MirrorFilter {
  backendRef: BackendRefLike;
  percent?: number;
  fraction?: { numerator: number; denominator?: number };
}

interface RuleBackendRef extends BackendRefLike {
  weight?: number;
  filters?: RuleFilter[];
}

export type Resolve = (ref: BackendRefLike) => BackendResolution;

export function headerModifier(f: HeaderFilter | undefined): HeaderModifierIR | undefined {
  if (!f) return undefined;
  return { set: f.set ?? [], add: f.add ?? [], remove: f.remove ?? [] };
}

/** The share a mirror filter asks for; undefined for all requests. percent and fraction are exclusive (CRD validation). */
function mirrorFraction(m: MirrorFilter): MirrorIR['fraction'] {
  if (m.percent !== undefined) return m.percent >= 100 ? undefined : { numerator: m.percent, denominator: 100 };
  if (m.fraction) {
    const denominator = m.fraction.denominator ?? 100;
    return m.fraction.numerator >= denominator ? undefined : { numerator: m.fraction.numerator, denominator };
  }
  return undefined;
}

/**
 * Weighted backends, weight-0 ones left out; an unresolvable backendRef stays in with no cluster (its
 * share of requests fails) and its problem goes to `onProblem` (the route's ResolvedRefs condition).
 */
export function ruleBackends(refs: RuleBackendRef[] | undefined, resolve: Resolve, onProblem: (p: BackendProblem) => void): WeightedBackendIR[] {
  // Mapped, then filtered only if a weight is 0: an array of its final size (the IR keeps it; push leaves spare capacity).
  const all = (refs ?? []).map((ref) => {
    const weight = ref.weight ?? 1;
    const resolved = resolve(ref);
    if ('problem' in resolved) onProblem(resolved.problem);
    if (weight === 0) return undefined;
    const refFilters = ref.filters ?? [];
    // Fields set one by one, in this order (no spread of a temporary object per backendRef: thousands of them).
    const backend: WeightedBackendIR = { weight };
    if ('cluster' in resolved) backend.cluster = resolved.cluster;
    if (refFilters.length) {
      backend.requestHeaders = headerModifier(refFilters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier);
      backend.responseHeaders = headerModifier(refFilters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier);
    }
    return backend;
  });
  return all.includes(undefined) ? all.filter((b) => b !== undefined) : (all as WeightedBackendIR[]);
}

/**
 * Mirrors resolve like backendRefs; an unresolvable one is left out (its problem goes to `onProblem`)
 * and the rule's own backends still serve. A 0% mirror mirrors nothing.
 */
export function ruleMirrors(filters: RuleFilter[], resolve: Resolve, onProblem: (p: BackendProblem) => void): MirrorIR[] {
  const mirrors: MirrorIR[] = [];
  for (const f of filters) {
    if (f.type !== 'RequestMirror' || !f.requestMirror) continue;
    const resolved = resolve(f.requestMirror.backendRef);
    if ('problem' in resolved) {
      onProblem({ ...resolved.problem, message: `RequestMirror: ${resolved.problem.message}` });
      continue;
    }
    const fraction = mirrorFraction(f.requestMirror);
    if (fraction?.numerator === 0) continue;
    mirrors.push(fraction ? { cluster: resolved.cluster, fraction } : { cluster: resolved.cluster });
  }
  return mirrors;
}
