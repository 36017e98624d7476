// A connectivity check: a name and a function that looks at one path and says PASS, FAIL or SKIP, and why.
import { performance } from 'node:perf_hooks';
import type { CheckOutcome, CheckResult } from '../report.js';

export interface Check<Env> {
  name: string;
  run(env: Env): Promise<CheckOutcome>;
}

/** Runs checks one after another; a check that throws is a FAIL with its error. */
export async function runChecks<Env>(checks: Array<Check<Env>>, env: Env, onResult: (r: CheckResult) => void = () => {}, interrupted: () => boolean = () => false): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    if (interrupted()) throw new Error('interrupted');
    const start = performance.now();
    let outcome: CheckOutcome;
    try {
      outcome = await check.run(env);
    } catch (err) {
      outcome = { status: 'FAIL', reason: err instanceof Error ? err.message : String(err) };
    }
    const durationMs = performance.now() - start;
    const result: CheckResult = outcome.status === 'PASS' ? { name: check.name, status: 'PASS', detail: outcome.detail, durationMs } : { name: check.name, status: outcome.status, reason: outcome.reason, durationMs };
    results.push(result);
    onResult(result);
  }
  return results;
}
