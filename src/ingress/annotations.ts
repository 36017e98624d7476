// Weft's Ingress annotations (under ingress.weft.dev/), modelled on Cilium's ingress.cilium.io/ ones.
// A bad value is reported (naming the annotation and the value) and the default applies: one Ingress's
// typo never stops it, or any other Ingress, from being served.
import type { LoadBalancerMode } from './options.js';

export const ANNOTATION_PREFIX = 'ingress.weft.dev/';

export const ANNOTATIONS = {
  loadBalancerMode: `${ANNOTATION_PREFIX}loadbalancer-mode`,
  forceHttps: `${ANNOTATION_PREFIX}force-https`,
  requestTimeout: `${ANNOTATION_PREFIX}request-timeout`,
  tlsPassthrough: `${ANNOTATION_PREFIX}tls-passthrough`,
} as const;

const KNOWN = new Set<string>(Object.values(ANNOTATIONS));

export interface IngressAnnotations {
  /** Absent: the controller's default mode. */
  mode?: LoadBalancerMode;
  /** Absent: the controller's default (enforce HTTPS). */
  forceHttps?: boolean;
  /** Request timeout for every route of the Ingress; 0 disables Envoy's default of 15 s. */
  requestTimeoutMs?: number;
  tlsPassthrough: boolean;
}

export interface AnnotationProblem {
  field: string;
  message: string;
}

/** The field path of an annotation, as problems name it. */
export function annotationField(name: string): string {
  return `metadata.annotations["${name}"]`;
}

/** enabled/disabled as Cilium spells them, and the boolean spellings it also takes. */
function parseSwitch(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'enabled' || v === 'true') return true;
  if (v === 'disabled' || v === 'false') return false;
  return undefined;
}

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration (what Cilium's request-timeout takes): "30s", "1m30s", "1.5h", "250ms", "0". Returns
 * whole milliseconds (a positive duration under 1 ms rounds up to 1 ms), or undefined when malformed or
 * negative.
 */
export function parseGoDurationMs(value: string): number | undefined {
  if (value === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
  let consumed = 0;
  let total = 0;
  for (const m of value.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    consumed += m[0].length;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
  }
  if (consumed === 0 || consumed !== value.length) return undefined;
  const ms = Math.round(total);
  return total > 0 && ms === 0 ? 1 : ms;
}

export function parseAnnotations(annotations: Record<string, string> | undefined): { parsed: IngressAnnotations; problems: AnnotationProblem[] } {
  const parsed: IngressAnnotations = { tlsPassthrough: false };
  const problems: AnnotationProblem[] = [];
  const all = annotations ?? {};
  const bad = (name: string, expected: string): void => {
    problems.push({ field: annotationField(name), message: `invalid value "${all[name]}": expected ${expected}; using the default` });
  };
  for (const name of Object.keys(all).sort()) {
    if (name.startsWith(ANNOTATION_PREFIX) && !KNOWN.has(name)) {
      problems.push({ field: annotationField(name), message: `unknown annotation; Weft reads ${[...KNOWN].join(', ')}` });
    }
  }
  const mode = all[ANNOTATIONS.loadBalancerMode];
  if (mode !== undefined) {
    if (mode === 'shared' || mode === 'dedicated') parsed.mode = mode;
    else bad(ANNOTATIONS.loadBalancerMode, 'shared or dedicated');
  }
  const force = all[ANNOTATIONS.forceHttps];
  if (force !== undefined) {
    const v = parseSwitch(force);
    if (v === undefined) bad(ANNOTATIONS.forceHttps, 'enabled, disabled, true or false');
    else parsed.forceHttps = v;
  }
  const timeout = all[ANNOTATIONS.requestTimeout];
  if (timeout !== undefined) {
    const ms = parseGoDurationMs(timeout.trim());
    if (ms === undefined) bad(ANNOTATIONS.requestTimeout, 'a duration such as 30s, 1m30s or 500ms (0 disables the timeout)');
    else parsed.requestTimeoutMs = ms;
  }
  const passthrough = all[ANNOTATIONS.tlsPassthrough];
  if (passthrough !== undefined) {
    const v = parseSwitch(passthrough);
    if (v === undefined) bad(ANNOTATIONS.tlsPassthrough, 'enabled, disabled, true or false');
    else parsed.tlsPassthrough = v;
  }
  return { parsed, problems };
}
