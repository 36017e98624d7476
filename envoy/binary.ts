// Finds the Envoy binary: $WEFT_ENVOY_BIN, then the pinned install in .cache/envoy, then PATH.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);

/** The project root: two levels above this file, whether run from envoy/ (ts) or dist/envoy/ (js). */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!isFile(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the Weft project root (package.json)');
    dir = parent;
  }
  return dir;
}

function isFile(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function pinnedEnvoyVersion(): string {
  return readFileSync(path.join(projectRoot(), 'envoy', 'VERSION'), 'utf8').trim();
}

export interface EnvoyBinary {
  path: string;
  source: 'WEFT_ENVOY_BIN' | 'project' | 'PATH';
}

export function resolveEnvoyBinary(env: NodeJS.ProcessEnv = process.env): EnvoyBinary {
  const override = env.WEFT_ENVOY_BIN;
  if (override) {
    if (!isExecutable(override)) throw new Error(`WEFT_ENVOY_BIN=${override} is not an executable file`);
    return { path: override, source: 'WEFT_ENVOY_BIN' };
  }
  const installed = path.join(projectRoot(), '.cache', 'envoy', 'envoy', '_bin', 'envoy');
  if (isExecutable(installed)) return { path: installed, source: 'project' };
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'envoy');
    if (dir && isExecutable(candidate)) return { path: candidate, source: 'PATH' };
  }
  throw new Error('no Envoy binary: run `bash envoy/install.sh`, set WEFT_ENVOY_BIN, or put envoy on PATH');
}

/** "1.40.0" from `envoy --version` ("envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"). */
export async function envoyVersion(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 20_000 });
  const match = /version:\s*\S*?\/(\d+\.\d+\.\d+[^/]*)\//.exec(stdout);
  if (!match?.[1]) throw new Error(`unrecognised output of ${binary} --version: ${stdout.trim()}`);
  return match[1];
}
