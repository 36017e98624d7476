// `weft sysdump`: collects what a bug report needs into one .tar.gz, redacted (redact.ts): from `weft run`'s
// admin endpoint (its status, xDS state per node, translation, metrics, and Envoy's config dump, clusters,
// stats), from a directory of manifests (the files and what `weft translate` makes of them), log files,
// the datapath's maps (datapath.ts) and the API server (kubernetes.ts). A source that fails is recorded in
// sysdump.json, not fatal.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { translationReport } from '../cli/translate.js';
import { translateDirectory } from '../standalone/pipeline.js';
import { collectDatapath } from './datapath.js';
import { collectKubernetes, errorText, type CollectedFile } from './kubernetes.js';
import { Redactor, type RedactionCounts } from './redact.js';
import { tarGz, type TarEntry } from './tar.js';

export interface SysdumpOptions {
  /** host:port of `weft run`'s admin endpoint. */
  admin?: string;
  /** A directory of manifests (`weft run -c`). */
  configDir?: string;
  logs?: string[];
  kubeConfig?: k8s.KubeConfig;
  /** The datapath's pinned maps, to dump. */
  bpfPinRoot?: string;
  /** The archive to write. */
  output: string;
  now?: Date;
}

export interface SysdumpResult {
  output: string;
  files: string[];
  errors: string[];
  redactions: RedactionCounts;
}

/** Pages of the admin endpoint: path, file, format. */
const ADMIN_PAGES: ReadonlyArray<[string, string, CollectedFile['format']]> = [
  ['/debug/status', 'run/status.json', 'json'],
  ['/debug/xds', 'run/xds.json', 'json'],
  ['/debug/translation?xds=1', 'run/translation.json', 'json'],
  ['/metrics', 'run/metrics.txt', 'text'],
  ['/debug/envoy/config_dump', 'envoy/config_dump.json', 'json'],
  ['/debug/envoy/clusters', 'envoy/clusters.txt', 'text'],
  ['/debug/envoy/listeners', 'envoy/listeners.txt', 'text'],
  ['/debug/envoy/stats', 'envoy/stats.txt', 'text'],
  ['/debug/envoy/server_info', 'envoy/server_info.json', 'json'],
  ['/debug/envoy/certs', 'envoy/certs.json', 'json'],
];

async function collectAdmin(admin: string, errors: string[]): Promise<CollectedFile[]> {
  const base = admin.includes('://') ? admin : `http://${admin}`;
  const files: CollectedFile[] = [];
  for (const [page, name, format] of ADMIN_PAGES) {
    try {
      const res = await fetch(base + page, { signal: AbortSignal.timeout(15_000) });
      const body = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.trim().slice(0, 200)}`);
      files.push({ name, format, content: body });
    } catch (err) {
      errors.push(`${base}${page}: ${errorText(err)}`);
    }
  }
  return files;
}

function collectConfigDir(dir: string, errors: string[]): CollectedFile[] {
  const files: CollectedFile[] = [];
  try {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (!statSync(file).isFile() || !/\.ya?ml$/.test(name)) continue;
      files.push({ name: `config/${name}`, format: 'yaml', content: readFileSync(file, 'utf8') });
    }
    const t = translateDirectory(dir);
    files.push({ name: 'config/translation.yaml', format: 'yaml', content: stringify(translationReport(t, 'all'), { lineWidth: 0 }) });
  } catch (err) {
    errors.push(`config directory ${dir}: ${errorText(err)}`);
  }
  return files;
}

function collectLogs(logs: readonly string[], errors: string[]): CollectedFile[] {
  const files: CollectedFile[] = [];
  for (const [i, file] of logs.entries()) {
    try {
      const text = readFileSync(file, 'utf8');
      // The last 16 MiB of a big log are what a bug report needs.
      files.push({ name: `logs/${i}-${path.basename(file)}`, format: 'text', content: text.length > 16 << 20 ? text.slice(-(16 << 20)) : text });
    } catch (err) {
      errors.push(`log ${file}: ${errorText(err)}`);
    }
  }
  return files;
}

export function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

export async function sysdump(o: SysdumpOptions): Promise<SysdumpResult> {
  if (!o.admin && !o.configDir && !o.kubeConfig && !o.logs?.length && !o.bpfPinRoot) throw new Error('nothing to collect: give --admin, -c/--config, --kubeconfig/--kubernetes, --bpf-pin-root or --log');
  const now = o.now ?? new Date();
  const errors: string[] = [];
  const collected: CollectedFile[] = [
    ...(o.admin ? await collectAdmin(o.admin, errors) : []),
    ...(o.configDir ? collectConfigDir(o.configDir, errors) : []),
    ...collectLogs(o.logs ?? [], errors),
    ...(o.bpfPinRoot ? collectDatapath(o.bpfPinRoot, errors) : []),
    ...(o.kubeConfig ? await collectKubernetes(o.kubeConfig, errors) : []),
  ];
  const redactor = new Redactor();
  const root = `weft-sysdump-${timestamp(now)}`;
  const entries: TarEntry[] = collected.map((f) => {
    const redacted = f.format === 'json' ? redactor.json(f.content) : f.format === 'yaml' ? redactor.yaml(f.content) : redactor.lines(f.content);
    // A last pass over the text whatever the format: nothing structured redaction missed gets out.
    return { name: `${root}/${f.name}`, data: redactor.text(redacted), mtime: now };
  });
  const summary = {
    created: now.toISOString(),
    sources: { admin: o.admin ?? null, configDir: o.configDir ?? null, logs: o.logs ?? [], bpfPinRoot: o.bpfPinRoot ?? null, kubernetes: o.kubeConfig ? (o.kubeConfig.getCurrentCluster()?.server ?? 'in-cluster') : null },
    files: collected.map((f) => f.name),
    errors,
    redactions: redactor.counts,
  };
  entries.push({ name: `${root}/sysdump.json`, data: JSON.stringify(summary, null, 2) + '\n', mtime: now });
  writeFileSync(o.output, tarGz(entries), { mode: 0o600 });
  return { output: o.output, files: entries.map((e) => e.name), errors, redactions: redactor.counts };
}
