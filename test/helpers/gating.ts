// Switches the make-before-break gating of every ADS stream off, for negative controls: tests that prove
// the make-before-break assertions can fail. Affects streams already open too (the methods live on the
// prototype). Each ava test file runs in its own process, so nothing leaks into other files.
import { StreamPlan } from '../../src/xds/stream-plan.js';

/** Disables gating; returns the function that restores it. */
export function disableGating(): () => void {
  const proto = StreamPlan.prototype;
  const saved = (['warmFirstReady', 'lateTypesConverged'] as const).map((name) => [name, Object.getOwnPropertyDescriptor(proto, name)!] as const);
  // Listeners and routes go out at once, and clusters leave as soon as they leave the desired state.
  for (const [name] of saved) Object.defineProperty(proto, name, { value: () => true, configurable: true, writable: true });
  return () => {
    for (const [name, descriptor] of saved) Object.defineProperty(proto, name, descriptor);
  };
}
