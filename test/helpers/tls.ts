// TLS test material and independent TLS clients: certificates made by the openssl CLI at test time (no
// key is ever committed), probes with Node's tls and with `openssl s_client`, and an HTTPS backend.
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface CertKey {
  cert: string;
  key: string;
  fingerprint256: string;
}

export type KeyType = 'ec' | 'rsa';

/** A scratch directory for certificate files, removed by `close`. */
export class CertFactory {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'weft-certs-'));
  private serial = 0;

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private keyArgs(type: KeyType): string[] {
    return type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  }

  private read(cert: string, key: string): CertKey {
    const pem = readFileSync(cert, 'utf8');
    return { cert: pem, key: readFileSync(key, 'utf8'), fingerprint256: new X509Certificate(pem).fingerprint256 };
  }

  /** A self-signed CA. */
  ca(cn: string, type: KeyType = 'ec'): CertKey {
    const base = path.join(this.dir, `ca-${++this.serial}`);
    execFileSync('openssl', ['req', '-x509', ...this.keyArgs(type), '-nodes', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'pipe', timeout: 30_000 });
    return this.read(`${base}.crt`, `${base}.key`);
  }

  /** A leaf for `cn` with DNS SANs (and URI SANs given as `URI:...`), signed by `ca` or self-signed. */
  leaf(cn: string, sans: string[], opts: { ca?: CertKey; type?: KeyType; client?: boolean } = {}): CertKey {
    const base = path.join(this.dir, `leaf-${++this.serial}`);
    const san = sans.map((s) => (s.startsWith('URI:') ? s : `DNS:${s}`)).join(',');
    const usage = opts.client ? 'clientAuth' : 'serverAuth';
    const ext = [...(san ? ['-addext', `subjectAltName=${san}`] : []), '-addext', `extendedKeyUsage=${usage}`];
    if (!opts.ca) {
      execFileSync('openssl', ['req', '-x509', ...this.keyArgs(opts.type ?? 'ec'), '-nodes', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-days', '2', '-subj', `/CN=${cn}`, ...ext], { stdio: 'pipe', timeout: 30_000 });
      return this.read(`${base}.crt`, `${base}.key`);
    }
    writeFileSync(`${base}.ca.crt`, opts.ca.cert);
    writeFileSync(`${base}.ca.key`, opts.ca.key, { mode: 0o600 });
    execFileSync('openssl', ['req', '-new', ...this.keyArgs(opts.type ?? 'ec'), '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], { stdio: 'pipe', timeout: 30_000 });
    writeFileSync(`${base}.ext`, `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${usage}\n`);
    execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', `${base}.ca.crt`, '-CAkey', `${base}.ca.key`, '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`], { stdio: 'pipe', timeout: 30_000 });
    return this.read(`${base}.crt`, `${base}.key`);
  }
}

/** A kubernetes.io/tls Secret manifest (YAML) holding `c`. */
export function tlsSecretYaml(namespace: string, name: string, c: { cert: string; key: string }): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(c.cert).toString('base64')}
  tls.key: ${Buffer.from(c.key).toString('base64')}
`;
}

/** A ConfigMap manifest (YAML) with `ca.crt`. */
export function caConfigMapYaml(namespace: string, name: string, caPem: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}, namespace: ${namespace} }
data:
  ca.crt: |
${caPem.trim().split('\n').map((l) => `    ${l}`).join('\n')}
`;
}

export interface HandshakeResult {
  fingerprint256: string;
  subjectCN: string;
  alpn: string | false;
  authorized: boolean;
}

export interface ProbeOptions {
  servername?: string;
  alpn?: string[];
  cert?: string;
  key?: string;
  ca?: string;
  /** TLS signature algorithms offered (OpenSSL names), to steer which certificate the server picks. */
  sigalgs?: string;
}

/** Completes a TLS handshake with Node's tls and reports what the server presented. */
export function tlsHandshake(port: number, opts: ProbeOptions = {}): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 10_000,
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
      ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.sigalgs ? { sigalgs: opts.sigalgs } : {}),
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const result = { fingerprint256: peer.fingerprint256, subjectCN: String(peer.subject?.CN ?? ''), alpn: socket.alpnProtocol ?? false, authorized: socket.authorized };
      // TLS 1.3 servers reject a client certificate after the handshake: wait briefly for that verdict.
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed by the server after the handshake')));
      setTimeout(() => {
        socket.removeAllListeners('close');
        socket.destroy();
        resolve(result);
      }, 150);
    });
    socket.once('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}

/** An HTTPS request over a fresh connection; status and body. */
export function httpsRequest(port: number, opts: ProbeOptions & { path?: string; host?: string; agent?: https.Agent; address?: string } = {}): Promise<{ status: number; body: string; fingerprint256: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: opts.address ?? '127.0.0.1', port, path: opts.path ?? '/', method: 'GET', rejectUnauthorized: false, timeout: 10_000, agent: opts.agent ?? false,
      headers: { host: opts.host ?? opts.servername ?? '127.0.0.1' },
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    }, (res) => {
      const fingerprint256 = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), fingerprint256, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS request timed out')));
    req.on('error', reject);
    req.end();
  });
}

export interface SClientResult {
  /** The served leaf's subject as openssl prints it, e.g. "CN = a.example.com". */
  subject: string;
  alpn: string;
  verifyOk: boolean;
  output: string;
}

/** `openssl s_client`: an independent TLS client. Resolves with what it printed (even on a failed handshake). */
export function opensslSClient(port: number, opts: { servername?: string; alpn?: string[]; cert?: string; key?: string; ca?: string; sigalgs?: string; dir: string }): Promise<SClientResult> {
  // -ign_eof: after sending the request, read until the server closes (the response is in the output).
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof'];
  if (opts.servername) args.push('-servername', opts.servername);
  else args.push('-noservername');
  if (opts.alpn) args.push('-alpn', opts.alpn.join(','));
  if (opts.sigalgs) args.push('-sigalgs', opts.sigalgs);
  if (opts.ca) {
    const f = path.join(opts.dir, `sclient-ca-${Math.random().toString(36).slice(2)}.crt`);
    writeFileSync(f, opts.ca);
    args.push('-CAfile', f, '-verify_return_error');
  }
  if (opts.cert && opts.key) {
    const c = path.join(opts.dir, `sclient-${Math.random().toString(36).slice(2)}.crt`);
    writeFileSync(c, opts.cert);
    writeFileSync(`${c}.key`, opts.key, { mode: 0o600 });
    args.push('-cert', c, '-key', `${c}.key`);
  }
  return new Promise((resolve) => {
    const child = execFile('openssl', args, { timeout: 15_000 }, (_err, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      const subject = /^subject=(.*)$/m.exec(output)?.[1]?.trim() ?? '';
      const alpn = /^ALPN protocol: (.*)$/m.exec(output)?.[1]?.trim() ?? '';
      resolve({ subject, alpn, verifyOk: /Verify return code: 0 \(ok\)/.test(output), output });
    });
    // A GET then EOF: the server's answer (or its refusal of our certificate) is in the output.
    child.stdin?.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

export interface HttpsBackend {
  port: number;
  close(): Promise<void>;
}

/** An HTTPS backend on 127.0.0.1 answering `name` and the SNI it was reached with; ALPN http/1.1. */
export async function startHttpsBackend(name: string, c: { cert: string; key: string }): Promise<HttpsBackend> {
  const server = https.createServer({ cert: c.cert, key: c.key }, (req, res) => {
    const sni = (req.socket as tls.TLSSocket).servername || '';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: name, sni, path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
