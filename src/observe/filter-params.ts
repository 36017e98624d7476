// One vocabulary of filter names for `weft observe`'s flags and the service map's query string.
import type { FlowFilter } from './filter.js';

export const FILTER_PARAMS = ['pod', 'from-pod', 'to-pod', 'namespace', 'label', 'identity', 'verdict', 'drop-reason', 'protocol', 'http-method', 'http-path', 'http-status', 'node', 'type', 'since', 'until'] as const;
export type FilterParam = (typeof FILTER_PARAMS)[number];

/** RFC 3339 / ISO 8601, or a duration ago: 30s, 5m, 2h. */
export function parseTime(text: string, param: string, now = Date.now()): number {
  const ago = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (ago) return now - Number(ago[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[ago[2]]!;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`${param}: "${text}" is neither a time (2026-01-02T15:04:05Z) nor a duration ago (30s, 5m, 2h)`);
  return t;
}

function numbers(values: string[], param: string): number[] {
  return values.map((v) => {
    if (!/^\d+$/.test(v)) throw new Error(`${param}: "${v}" is not a non-negative integer`);
    return Number(v);
  });
}

/** Builds a filter from named values (each name may repeat); an unusable value throws naming the filter. */
export function filterFromParams(get: (name: FilterParam) => string[], now = Date.now()): FlowFilter {
  const f: FlowFilter = {};
  const list = (name: FilterParam): string[] => get(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const put = <K extends keyof FlowFilter>(key: K, value: FlowFilter[K] | undefined): void => {
    if (value !== undefined && (!Array.isArray(value) || value.length > 0)) f[key] = value;
  };
  put('pod', list('pod'));
  put('source_pod', list('from-pod'));
  put('destination_pod', list('to-pod'));
  put('namespace', list('namespace'));
  put('label', get('label').map((v) => v.trim()).filter(Boolean));
  put('identity', numbers(list('identity'), 'identity'));
  put('verdict', list('verdict'));
  put('drop_reason', list('drop-reason'));
  put('protocol', list('protocol'));
  put('http_method', list('http-method'));
  put('http_path', list('http-path'));
  put('http_status', numbers(list('http-status'), 'http-status'));
  put('node', list('node'));
  put('type', list('type'));
  const since = get('since').at(-1);
  const until = get('until').at(-1);
  if (since) f.since_ms = parseTime(since, 'since', now);
  if (until) f.until_ms = parseTime(until, 'until', now);
  return f;
}
