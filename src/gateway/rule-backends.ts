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
  const weighted: WeightedBackendIR[] = [];
  for (const ref of refs ?? []) {
    const weight = ref.weight ?? 1;
    const resolved = resolve(ref);
    if ('problem' in resolved) onProblem(resolved.problem);
    if (weight === 0) continue;
    const refFilters = ref.filters ?? [];
    weighted.push({
      weight,
      ...('cluster' in resolved ? { cluster: resolved.cluster } : {}),
      ...(refFilters.length
        ? {
            requestHeaders: headerModifier(refFilters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier),
            responseHeaders: headerModifier(refFilters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier),
          }
        : {}),
    });
  }
  return weighted;
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
    mirrors.push({ cluster: resolved.cluster, ...(fraction ? { fraction } : {}) });
  }
  return mirrors;
}
