// `weft status`'s report: one line per check, ok / warn / FAIL; unhealthy (exit 1) when any check fails.
export type CheckState = 'ok' | 'warn' | 'fail';

export interface Check {
  /** What was checked: `weft run`, `envoy`, `xds weft-node`, `certificate secret/default/site`, `pod kube-system/weft-agent-x`. */
  subject: string;
  state: CheckState;
  detail: string;
}

/** Certificates closer than this to expiry are a warning. */
export const CERTIFICATE_WARN_SECONDS = 7 * 86_400;

export function healthy(checks: readonly Check[]): boolean {
  return checks.every((c) => c.state !== 'fail');
}

export function formatChecks(title: string, checks: readonly Check[]): string {
  const width = Math.max(0, ...checks.map((c) => c.subject.length));
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  const lines = checks.map((c) => `  ${mark[c.state]}  ${c.subject.padEnd(width)}  ${c.detail}`);
  return [`${title}: ${healthy(checks) ? 'healthy' : 'UNHEALTHY'}`, ...lines, ''].join('\n');
}

export function certificateCheck(c: { kind: string; name: string; secondsLeft: number; notAfter?: string }): Check {
  const left = c.secondsLeft;
  const when = left < 0 ? `expired ${duration(-left)} ago` : `expires in ${duration(left)}`;
  return { subject: `certificate ${c.kind} ${c.name}`, state: left <= 0 ? 'fail' : left < CERTIFICATE_WARN_SECONDS ? 'warn' : 'ok', detail: `${when}${c.notAfter ? ` (${c.notAfter})` : ''}` };
}

export function duration(seconds: number): string {
  if (seconds >= 2 * 86_400) return `${Math.floor(seconds / 86_400)}d`;
  if (seconds >= 2 * 3600) return `${Math.floor(seconds / 3600)}h`;
  if (seconds >= 120) return `${Math.floor(seconds / 60)}m`;
  return `${Math.round(seconds)}s`;
}
