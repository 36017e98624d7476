// Cilium's method, path and host rules are RE2 expressions (Go's regexp validates them, Envoy's RE2
// matches them against the whole value). re2-wasm is RE2 itself, so what it rejects Envoy would reject.
import { RE2 } from 're2-wasm';

/** The RE2 error for `pattern`, or undefined when RE2 accepts it. */
export function re2Error(pattern: string): string | undefined {
  try {
    new RE2(pattern, 'u');
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, '');
  }
}

/** A matcher with Envoy's semantics: the whole value must match. */
export function fullMatcher(pattern: string): (value: string) => boolean {
  const re = new RE2(`^(?:${pattern})$`, 'u');
  return (value) => re.test(value);
}
