// `weft ca …` and `weft workload-api`: the standalone CA on files. `ca init` creates (or checks) the
// root in a directory; `ca issue` writes an X.509-SVID as files, the way SPIFFE's filesystem
// delivery does (chain, key with mode 0600, bundle); `workload-api` serves the Workload API on one
// socket per identity until interrupted.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { loadOrCreateCa, ensurePrivateDir, writePrivateFile, ROOT_CERT_FILE, type CaFiles } from './ca-store.js';
import { HOUR_MS } from './ca.js';
import { parseSpiffeId } from './spiffe-id.js';
import { TrustDomainAuthority } from './trust-bundle.js';
import { WorkloadApiServer } from './workload-api.js';

export interface CaCliOptions {
  dir: string;
  trustDomain: string;
  rootCert?: string;
  rootKey?: string;
}

function supplied(o: CaCliOptions): CaFiles | undefined {
  if (!o.rootCert && !o.rootKey) return undefined;
  if (!o.rootCert || !o.rootKey) throw new Error('--root-cert and --root-key go together');
  return { cert: o.rootCert, key: o.rootKey };
}

/** `1h`, `30m`, `90s` or milliseconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!m) throw new Error(`${flag} must be a duration such as 1h, 30m or 90s, not "${text}"`);
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: HOUR_MS }[m[2] ?? 'ms']!;
  if (n <= 0) throw new Error(`${flag} must be positive, not "${text}"`);
  return n;
}

export function caInit(o: CaCliOptions): void {
  const { ca, created } = loadOrCreateCa(o.dir, { trustDomain: o.trustDomain }, supplied(o));
  const where = supplied(o) ? o.rootCert! : path.join(o.dir, ROOT_CERT_FILE);
  process.stdout.write(`${created ? 'created' : 'using'} the root CA of spiffe://${o.trustDomain}: ${where}\n  SHA-256 ${ca.root.x509.fingerprint256}, valid until ${ca.root.x509.validTo}\n`);
}

export function caIssue(o: CaCliOptions & { id: string; out: string; ttl: string }): void {
  const id = parseSpiffeId(o.id);
  const { ca } = loadOrCreateCa(o.dir, { trustDomain: o.trustDomain }, supplied(o));
  const svid = ca.issue(id, { ttlMs: parseDuration(o.ttl, '--ttl') });
  ensurePrivateDir(o.out);
  writeFileSync(path.join(o.out, 'svid.pem'), svid.chainPem());
  writePrivateFile(path.join(o.out, 'svid.key'), svid.privateKeyPem());
  writeFileSync(path.join(o.out, 'bundle.pem'), ca.root.pem);
  process.stdout.write(`issued ${id.uri} (serial ${svid.serialHex}, until ${svid.notAfter.toISOString()}) → ${o.out}/{svid.pem,svid.key,bundle.pem}\n`);
}

/** Serves `ID=DIR` sockets until SIGINT/SIGTERM. */
export async function serveWorkloadApi(o: CaCliOptions & { socket: string[]; ttl: string }): Promise<void> {
  if (o.socket.length === 0) throw new Error('--socket ID=DIR is needed at least once');
  const { ca } = loadOrCreateCa(o.dir, { trustDomain: o.trustDomain }, supplied(o));
  const server = new WorkloadApiServer(new TrustDomainAuthority(ca), { log: createLogger('weft-workload-api') });
  const ttlMs = parseDuration(o.ttl, '--ttl');
  for (const spec of o.socket) {
    const eq = spec.indexOf('=');
    if (eq < 0) throw new Error(`--socket must be SPIFFE_ID=DIR, not "${spec}"`);
    const socketPath = await server.serve({ id: spec.slice(0, eq), dir: spec.slice(eq + 1), ttlMs });
    process.stdout.write(`serving ${spec.slice(0, eq)} on unix://${socketPath}\n`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}
