// The CA's key material at rest (standalone mode): a directory of mode 0700 holding the root's
// certificate and key, each written with mode 0600 (created so, then renamed into place, so no
// reader ever sees a partial or wider-open file). The intermediate lives in memory only: a new one
// is signed at every start. A root supplied by the user is read from its own files, whose key must
// not be readable by group or others (as ssh requires of its keys).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CertificateAuthority, type CaOptions } from './ca.js';

export const ROOT_CERT_FILE = 'root.crt';
export const ROOT_KEY_FILE = 'root.key';

export interface CaFiles {
  cert: string;
  key: string;
}

/** Creates `dir` (and parents) with mode 0700, or tightens an existing one to 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir}: not a directory`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** Writes `data` to `file` with mode 0600, atomically. */
export function writePrivateFile(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // left by a crash of an earlier process with this pid
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Throws if a key file can be read or written by group or others. */
export function checkKeyFileMode(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new Error(`${file}: the CA key must not be accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}; chmod 600 it)`);
}

/**
 * The CA of a standalone node: a user-supplied root when `supplied` names its files, else the root
 * kept in `dir`, generated there on first start.
 */
export function loadOrCreateCa(dir: string, opts: CaOptions, supplied?: CaFiles): { ca: CertificateAuthority; created: boolean } {
  if (supplied) {
    checkKeyFileMode(supplied.key);
    const ca = CertificateAuthority.fromRoot(opts, readFileSync(supplied.cert, 'utf8'), readFileSync(supplied.key, 'utf8'), `CA root ${supplied.cert} / ${supplied.key}`);
    return { ca, created: false };
  }
  ensurePrivateDir(dir);
  const cert = path.join(dir, ROOT_CERT_FILE);
  const key = path.join(dir, ROOT_KEY_FILE);
  if (existsSync(cert) || existsSync(key)) {
    checkKeyFileMode(key);
    const ca = CertificateAuthority.fromRoot(opts, readFileSync(cert, 'utf8'), readFileSync(key, 'utf8'), `CA root ${cert} / ${key}`);
    return { ca, created: false };
  }
  const ca = CertificateAuthority.generate(opts);
  writePrivateFile(key, ca.root.privateKeyPem());
  writePrivateFile(cert, ca.root.pem);
  return { ca, created: true };
}
