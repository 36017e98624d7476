// `weft sysdump` and `weft status`: operations commands. Their modules are imported when one runs (see main.ts).
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Command } from 'commander';
import type { Check } from '../status/report.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

async function kubeConfig(opts: { kubeconfig?: string; kubernetes?: boolean }): Promise<k8s.KubeConfig | undefined> {
  if (!opts.kubeconfig && !opts.kubernetes) return undefined;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

export function addOpsCommands(program: Command): void {
  program
    .command('sysdump')
    .description('collect logs, configuration dumps and statuses into one .tar.gz for a bug report, with private keys, Secret values, tokens and passwords redacted')
    .option('--admin <host:port>', 'the admin endpoint of `weft run` (--admin-port): its status, xDS state, translation, metrics, and Envoy\'s config dump, clusters and stats')
    .option('-c, --config <dir>', 'a directory of manifests: the files and what `weft translate` makes of them')
    .option('--log <file>', 'a log file to include (repeatable)', collect, [])
    .option('--kubeconfig <file>', 'collect from this cluster\'s API server: Weft\'s objects, pods, their logs and health endpoints')
    .option('--kubernetes', 'collect from the API server of $KUBECONFIG, ~/.kube/config or the in-cluster service account', false)
    .option('--bpf-pin-root <dir>', 'the datapath\'s pinned maps: every entry (as root)')
    .option('-o, --output <file>', 'the archive to write (default: weft-sysdump-<time>.tar.gz here)')
    .action(async (opts: { admin?: string; config?: string; log: string[]; kubeconfig?: string; kubernetes: boolean; bpfPinRoot?: string; output?: string }) => {
      const { sysdump, timestamp } = await import('../sysdump/collect.js');
      const now = new Date();
      const output = path.resolve(opts.output ?? `weft-sysdump-${timestamp(now)}.tar.gz`);
      const kc = await kubeConfig(opts);
      const result = await sysdump({ output, now, logs: opts.log, ...(opts.admin ? { admin: opts.admin } : {}), ...(opts.config ? { configDir: opts.config } : {}), ...(kc ? { kubeConfig: kc } : {}), ...(opts.bpfPinRoot ? { bpfPinRoot: opts.bpfPinRoot } : {}) });
      for (const e of result.errors) process.stderr.write(`weft sysdump: not collected: ${e}\n`);
      const r = result.redactions;
      process.stdout.write(`${result.output}: ${result.files.length} files; redacted ${r.privateKeys} private keys, ${r.secretValues} secret values, ${r.sensitiveFields} sensitive fields, ${r.tokens} tokens\n`);
    });

  program
    .command('status')
    .description('the health of what it can reach: a `weft run` (configuration served and ACKed, Envoy, xDS per node, NACKs, certificate expiry) or Weft\'s pods on Kubernetes; exits 1 when something is unhealthy')
    .option('--admin <host:port>', 'the admin endpoint of `weft run` (--admin-port)')
    .option('--kubeconfig <file>', 'check Weft\'s pods on this cluster (their /readyz and /metrics through the API server)')
    .option('--kubernetes', 'the same with $KUBECONFIG, ~/.kube/config or the in-cluster service account', false)
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { admin?: string; kubeconfig?: string; kubernetes: boolean; output: string }) => {
      if (opts.output !== 'text' && opts.output !== 'json') throw new Error(`--output must be text or json, not ${opts.output}`);
      const kc = await kubeConfig(opts);
      const { formatChecks, healthy } = await import('../status/report.js');
      const targets: Array<[string, () => Promise<Check[]>]> = [];
      if (opts.admin || !kc) targets.push([`weft run at ${opts.admin ?? '127.0.0.1:9901'}`, async () => (await import('../status/standalone.js')).standaloneChecks(opts.admin ?? '127.0.0.1:9901')]);
      if (kc) targets.push([`kubernetes ${kc.getCurrentCluster()?.server ?? 'in-cluster'}`, async () => (await import('../status/kubernetes.js')).kubernetesChecks(kc)]);
      const reports: Array<{ target: string; healthy: boolean; checks: Check[] }> = [];
      for (const [target, run] of targets) {
        const checks = await run();
        reports.push({ target, healthy: healthy(checks), checks });
      }
      if (opts.output === 'json') process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
      else for (const r of reports) process.stdout.write(formatChecks(r.target, r.checks));
      process.exitCode = reports.every((r) => r.healthy) ? 0 : 1;
    });
}
