// `weft version`: Weft's own version, the Node it runs on, and the Envoy it would start.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envoyVersion, pinnedEnvoyVersion, projectRoot, resolveEnvoyBinary } from '../../envoy/binary.js';

export async function printVersion(): Promise<void> {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
  const lines = [`weft  ${pkg.version}`, `node  ${process.version.slice(1)}`];
  try {
    const binary = resolveEnvoyBinary();
    lines.push(`envoy ${await envoyVersion(binary.path)} (${binary.path}, from ${binary.source}; pinned ${pinnedEnvoyVersion()})`);
  } catch (err) {
    lines.push(`envoy not found: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
