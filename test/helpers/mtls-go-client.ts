// An independent SPIFFE Workload API client: a small Go program (test/helpers/mtls-go-client/main.go)
// on go-spiffe v2 (the SPIFFE project's own library), built once into ~/.cache/weft, outside the repo.
// It fetches or watches X.509 contexts and verifies each SVID against the fetched bundle
// (x509svid.Verify, which applies the X.509-SVID leaf rules), printing JSON lines.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GO_SPIFFE_VERSION = 'v2.6.0';
const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(here, '..', '..', '..', 'test', 'helpers', 'mtls-go-client', 'main.go');

export interface ClientSvid {
  id: string;
  certs: number;
  serial: string;
  notAfter: string;
  verified: string;
  error?: string;
}
export interface ClientLine {
  event: 'x509context' | 'bundles' | 'error';
  svids?: ClientSvid[];
  bundles?: Record<string, string[]>;
  error?: string;
}

/** go-spiffe v2.6.0's go.mod asks for Go 1.24. */
const MIN_GO = [1, 24];

/** Why the client cannot be built here (no Go toolchain, or one older than go-spiffe needs), or undefined. */
export function goMissing(): string | undefined {
  let version: string;
  try {
    version = execFileSync('go', ['env', 'GOVERSION'], { stdio: 'pipe' }).toString().trim();
  } catch {
    return 'no Go toolchain on PATH';
  }
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m) return `cannot read the Go version (${version})`;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) {
    return `go-spiffe ${GO_SPIFFE_VERSION} needs Go ${MIN_GO.join('.')} or newer, this machine has ${version} (Debian bookworm's golang-go is 1.19)`;
  }
  return undefined;
}

/** Builds the client (once per source version) and returns the binary's path. */
export function buildGoClient(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).update(GO_SPIFFE_VERSION).digest('hex').slice(0, 12);
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'weft', `spiffe-client-${hash}`);
  const bin = path.join(dir, 'spiffeclient');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  copyFileSync(SOURCE, path.join(dir, 'main.go'));
  writeFileSync(path.join(dir, 'go.mod'), `module weft.test/spiffeclient\n\ngo 1.24.0\n\nrequire github.com/spiffe/go-spiffe/v2 ${GO_SPIFFE_VERSION}\n`);
  const env = { ...process.env, GOFLAGS: '-buildvcs=false' };
  execFileSync('go', ['mod', 'tidy'], { cwd: dir, env, stdio: 'pipe', timeout: 300_000 });
  execFileSync('go', ['build', '-o', `${bin}.tmp`, '.'], { cwd: dir, env, stdio: 'pipe', timeout: 300_000 });
  execFileSync('mv', [`${bin}.tmp`, bin]);
  return bin;
}

/** Runs the client (`fetch`, `bundles` or `watch N`) against a socket; resolves with its JSON lines. */
export function runGoClient(bin: string, args: string[], socketPath: string, timeoutMs = 60_000): Promise<ClientLine[]> {
  return new Promise((resolve, reject) => {
    execFile(bin, [...args, `unix://${socketPath}`], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ClientLine);
      if (err && lines.length === 0) reject(new Error(`spiffeclient ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(lines);
    });
  });
}
