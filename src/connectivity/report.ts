// What `weft connectivity test` reports: one result per check (PASS, FAIL with the reason, or SKIP with the
// reason), with its duration, as text for a terminal or as JSON.

export type CheckStatus = 'PASS' | 'FAIL' | 'SKIP';

/** What a check found: PASS with what it saw, FAIL or SKIP with why. */
export type CheckOutcome = { status: 'PASS'; detail: string } | { status: 'FAIL' | 'SKIP'; reason: string };

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** PASS: what was seen. */
  detail?: string;
  /** FAIL and SKIP: why. */
  reason?: string;
  durationMs: number;
}

export interface ConnectivityReport {
  mode: 'standalone' | 'kubernetes';
  /** Names everything this run created (namespaces, processes, BPF pins, cgroup, temporary directory). */
  runId: string;
  checks: CheckResult[];
  summary: { passed: number; failed: number; skipped: number };
  /** Why the run stopped before its checks (the setup failed); absent when the checks ran. */
  error?: string;
}

export const pass = (detail: string): CheckOutcome => ({ status: 'PASS', detail });
export const fail = (reason: string): CheckOutcome => ({ status: 'FAIL', reason });
export const skip = (reason: string): CheckOutcome => ({ status: 'SKIP', reason });

export function summarize(checks: CheckResult[]): ConnectivityReport['summary'] {
  return {
    passed: checks.filter((c) => c.status === 'PASS').length,
    failed: checks.filter((c) => c.status === 'FAIL').length,
    skipped: checks.filter((c) => c.status === 'SKIP').length,
  };
}

/** One line per check, then the totals. */
export function formatText(report: ConnectivityReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length), 10);
  const lines = [`weft connectivity test (${report.mode}, run ${report.runId})`];
  for (const c of report.checks) {
    const time = `${Math.round(c.durationMs)} ms`.padStart(8);
    lines.push(`  ${c.status.padEnd(4)}  ${c.name.padEnd(width)} ${time}  ${c.status === 'PASS' ? c.detail ?? '' : c.reason ?? ''}`);
  }
  const s = report.summary;
  lines.push(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return lines.join('\n') + '\n';
}

export function formatJson(report: ConnectivityReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
