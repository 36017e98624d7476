// `weft connectivity test`: picks the mode, runs it, prints the report, and removes what the run created —
// also on Ctrl-C or SIGTERM. Exit codes: 0 every check passed or was skipped, 1 a check failed or the setup
// failed, 2 the command cannot run here (not root, no mode, a mode not implemented).
import { Cleanup } from './cleanup.js';
import { formatJson, formatText, summarize, type CheckResult } from './report.js';
import { FAULTS, newRunId, runStandaloneConnectivity, type Fault } from './standalone.js';

export interface ConnectivityCliOptions {
  standalone?: boolean;
  kubeconfig?: string;
  output: string;
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

export async function runConnectivityTest(opts: ConnectivityCliOptions, io: Io = stdio): Promise<number> {
  if (opts.output !== 'text' && opts.output !== 'json') {
    io.err(`weft connectivity test: --output must be text or json, not ${opts.output}\n`);
    return 2;
  }
  if (opts.standalone && opts.kubeconfig) {
    io.err('weft connectivity test: give either --standalone or --kubeconfig, not both\n');
    return 2;
  }
  if (opts.kubeconfig) {
    io.err('weft connectivity test: Kubernetes mode (--kubeconfig) is not implemented yet; run `weft connectivity test --standalone`\n');
    return 2;
  }
  if (!opts.standalone) {
    io.err('weft connectivity test: say where to test: --standalone (network namespaces on this machine) or --kubeconfig FILE (not implemented yet)\n');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    io.err('weft connectivity test --standalone needs root: it creates network namespaces, loads eBPF programs and joins a cgroup\n');
    return 2;
  }
  let faults: Fault[];
  try {
    faults = parseFaults(process.env.WEFT_CONNECTIVITY_FAULT);
  } catch (err) {
    io.err(`weft connectivity test: ${(err as Error).message}\n`);
    return 2;
  }

  const runId = newRunId();
  const cleanup = new Cleanup();
  const interrupted = async (signal: NodeJS.Signals): Promise<void> => {
    io.err(`weft connectivity test: ${signal}: removing what run ${runId} created\n`);
    const left = await cleanup.run();
    for (const l of left) io.err(`weft connectivity test: could not remove ${l}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const onSigint = (): void => void interrupted('SIGINT');
  const onSigterm = (): void => void interrupted('SIGTERM');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const live = opts.output === 'text';
  try {
    const report = await runStandaloneConnectivity(runId, {
      cleanup,
      faults,
      progress: (line) => live && io.err(`… ${line}\n`),
      onResult: (r: CheckResult) => live && !cleanup.started && io.err(`… ${r.name}: ${r.status}\n`),
    });
    io.out(live ? formatText(report) : formatJson(report));
    return report.summary.failed > 0 ? 1 : 0;
  } catch (err) {
    if (cleanup.started) return 130; // interrupted: the signal handler reports and exits
    const error = `setup failed: ${err instanceof Error ? err.message : String(err)}`;
    if (!live) io.out(formatJson({ mode: 'standalone', runId, checks: [], summary: summarize([]), error }));
    io.err(`weft connectivity test (run ${runId}): ${error}\n`);
    return 1;
  } finally {
    const left = await cleanup.run();
    for (const l of left) io.err(`weft connectivity test: could not remove ${l}\n`);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

export function parseFaults(value: string | undefined): Fault[] {
  const names = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!FAULTS.includes(n as Fault)) throw new Error(`WEFT_CONNECTIVITY_FAULT: unknown fault "${n}" (known: ${FAULTS.join(', ')})`);
  return names as Fault[];
}
