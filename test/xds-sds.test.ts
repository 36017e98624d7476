// SDS: a TLS listener whose certificate comes over ADS as a Secret; rotating the secret (same name) gives
// new connections the new certificate, without touching the listener, NACKs or warming.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import tls from 'node:tls';
import test from 'ava';
import { secretResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { TypeUrl, shortTypeName } from '../src/xds/type-urls.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { Mesh, type Protocol } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';
import { httpRoutes, upstream } from './helpers/resources.js';

const SERVER_NAME = 'weft.test';
const SECRET = 'server-cert';

interface Cert {
  cert: string;
  key: string;
  fingerprint256: string;
}

/** A self-signed P-256 certificate for `cn`, made by openssl in `dir`. */
function selfSigned(dir: string, cn: string): Cert {
  const cert = path.join(dir, `${cn}.crt`);
  const key = path.join(dir, `${cn}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${SERVER_NAME}`,
  ], { stdio: 'pipe', timeout: 30_000 });
  const pem = readFileSync(cert, 'utf8');
  return { cert: pem, key: readFileSync(key, 'utf8'), fingerprint256: new X509Certificate(pem).fingerprint256 };
}

function secret(c: Cert): Resource {
  return secretResource({ name: SECRET, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } });
}

/** The fingerprint of the certificate a new TLS connection to 127.0.0.1:`port` is served. */
function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, rejectUnauthorized: false, timeout: 10_000 });
    socket.once('secureConnect', () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.once('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}

/** GET over HTTPS; returns the status, the echo backend's name and the certificate of the connection used. */
function httpsGet(port: number, agent: https.Agent | false): Promise<{ status: number; backend: string; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: SERVER_NAME, rejectUnauthorized: false, agent, timeout: 10_000 }, (res) => {
      const fingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let backend = '';
        try {
          backend = (JSON.parse(body) as { backend: string }).backend;
        } catch {
          // not an echo reply
        }
        resolve({ status: res.statusCode ?? 0, backend, fingerprint256 });
      });
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS request timed out')));
    req.on('error', reject);
  });
}

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: TLS listener with its certificate over SDS; rotation reaches new connections`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-sds-'));
    const backend = await startEchoBackend('a');
    const port = await freePort();
    const mesh = new Mesh({ protocol });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(async () => {
      agent.destroy();
      await mesh.stop();
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const [cert1, cert2] = [selfSigned(dir, 'weft-cert-1'), selfSigned(dir, 'weft-cert-2')];
    t.not(cert1.fingerprint256, cert2.fingerprint256);
    const rest = [...upstream('a', backend.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }], { tlsSecretNames: [SECRET] })];

    await mesh.start([...rest, secret(cert1)]);
    await mesh.converged();
    await eventually(async () => (await httpsGet(port, false)).status === 200, 15_000, 'Envoy to serve HTTPS');
    t.is(await peerFingerprint(port), cert1.fingerprint256);
    const kept = await httpsGet(port, agent);
    t.deepEqual(kept, { status: 200, backend: 'a', fingerprint256: cert1.fingerprint256 });

    const listenerStats = async (): Promise<Array<number | undefined>> =>
      Promise.all(['listener_added', 'listener_modified', 'listener_removed'].map((s) => mesh.envoy.stat(`listener_manager.${s}`)));
    const statsBefore = await listenerStats();
    const responsesBefore = mesh.responses.length;

    // Rotate: same secret name, new certificate.
    mesh.set([...rest, secret(cert2)]);
    await mesh.converged();
    // The ACK means Envoy took it; its workers pick it up right after.
    await eventually(async () => (await peerFingerprint(port)) === cert2.fingerprint256, 15_000, 'new connections to get certificate 2');
    for (let i = 0; i < 3; i++) t.is(await peerFingerprint(port), cert2.fingerprint256, 'every new connection gets certificate 2');
    t.deepEqual(await httpsGet(port, false), { status: 200, backend: 'a', fingerprint256: cert2.fingerprint256 });
    // The connection opened before the rotation is still up, with the certificate it was opened with.
    t.deepEqual(await httpsGet(port, agent), { status: 200, backend: 'a', fingerprint256: cert1.fingerprint256 });

    // Only SDS went out, and the listener was neither modified nor re-added.
    t.deepEqual([...new Set(mesh.responses.slice(responsesBefore).map((r) => shortTypeName(r.typeUrl)))], [shortTypeName(TypeUrl.Secret)]);
    t.deepEqual(await listenerStats(), statsBefore);

    const health = await mesh.healthy();
    t.deepEqual(health.nacks, []);
    t.deepEqual(health.warming, []);
  });
}
