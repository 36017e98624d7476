// Cilium's method, path and host rules are RE2 expressions (Go's regexp validates them, Envoy's RE2
// matches them against the whole value). re2-wasm is RE2 itself, so what it rejects Envoy would reject.
import { RE2 } from 're2-wasm';

/** re2-wasm keeps each compiled expression in a fixed 16 MiB WebAssembly heap until it is deleted. */
function release(re: RE2): void {
  (re as unknown as { wrapper?: { delete?: () => void } }).wrapper?.delete?.();
}

const verdicts = new Map<string, string | undefined>();
const MAX_CACHED = 10_000;

/** The RE2 error for `pattern`, or undefined when RE2 accepts it. */
export function re2Error(pattern: string): string | undefined {
  if (verdicts.has(pattern)) return verdicts.get(pattern);
  let error: string | undefined;
  try {
    release(new RE2(pattern, 'u'));
  } catch (err) {
    error = (err as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, '');
  }
  if (verdicts.size >= MAX_CACHED) verdicts.clear();
  verdicts.set(pattern, error);
  return error;
}

/** Whether RE2 `pattern` matches the whole of `value` (as Envoy's safe_regex matchers do). */
export function re2Matches(pattern: string, value: string): boolean {
  const re = new RE2(`^(?:${pattern})$`, 'u');
  try {
    return re.test(value);
  } finally {
    release(re);
  }
}
