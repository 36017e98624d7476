// `weft translate`: what Weft would make of a directory of manifests, without starting anything.
import { stringify } from 'yaml';
import { formatProblem } from '../sources/manifests.js';
import { translateDirectory, type TranslateOptions, type Translation } from '../standalone/pipeline.js';
import { readableResources } from '../xds/translator/readable.js';

export type TranslateOutputType = 'status' | 'xds' | 'all';

/** The printable form of a translation; golden files hold exactly this. */
export function translationReport(t: Translation, type: TranslateOutputType): Record<string, unknown> {
  const report: Record<string, unknown> = {};
  if (t.problems.length) report.problems = t.problems.map(formatProblem);
  if (type !== 'xds') {
    report.statuses = t.statuses.map((s) => ({ kind: s.kind, ...(s.namespace ? { namespace: s.namespace } : {}), name: s.name, status: s.status }));
  }
  if (type !== 'status') report.xds = readableResources(t.resources);
  return report;
}

export function printTranslation(dir: string, output: 'yaml' | 'json', type: TranslateOutputType, options: TranslateOptions = {}): number {
  const t = translateDirectory(dir, undefined, options);
  const report = translationReport(t, type);
  process.stdout.write(output === 'json' ? JSON.stringify(report, null, 2) + '\n' : stringify(report, { lineWidth: 0 }));
  for (const p of t.problems) process.stderr.write(`weft: ${formatProblem(p)}\n`);
  return t.problems.length ? 2 : 0;
}
