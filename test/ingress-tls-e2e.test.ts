// Ingress TLS through `weft run` against the real Envoy, checked with independent TLS clients (Node's tls
// and openssl s_client) and certificates made by openssl at test time: the certificate served per SNI,
// HTTP → HTTPS redirects on by default and off by annotation, ALPN h2, a Secret rotation, passthrough
// reaching the backend's own certificate.
import http from 'node:http';
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { StandaloneRunner } from '../src/standalone/runner.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { freePort } from './helpers/net.js';
import { readyAfter, replaceFile, serviceYaml, startedAndReady } from './helpers/standalone.js';
import { CertFactory, httpsRequest, opensslSClient, startHttpsBackend, tlsHandshake, tlsSecretYaml } from './helpers/tls.js';

/** One HTTP/2 request over TLS (ALPN h2): status, the backend's answer and the negotiated protocol. */
function h2Get(port: number, servername: string, urlPath: string): Promise<{ status: number; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false });
    session.once('error', reject);
    const req = session.request({ ':path': urlPath, ':authority': servername });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const alpn = (session.socket as unknown as { alpnProtocol?: string }).alpnProtocol ?? false;
      session.close();
      resolve({ status, body: Buffer.concat(chunks).toString(), alpn });
    });
    req.on('error', reject);
    req.end();
  });
}

function httpGet(port: number, host: string, urlPath: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const INGRESSES = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: site, namespace: default }
spec:
  ingressClassName: weft
  tls: [{ hosts: [foo.example.com], secretName: foo-cert }, { hosts: ["*.wild.test"], secretName: wild-cert }]
  rules:
  - host: foo.example.com
    http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] }
  - host: "*.wild.test"
    http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: wild, port: { number: 80 } } } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: plain-too
  namespace: default
  annotations: { ingress.weft.dev/force-https: disabled }
spec:
  ingressClassName: weft
  tls: [{ hosts: [plain.test], secretName: plain-cert }]
  rules:
  - host: plain.test
    http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: through
  namespace: default
  annotations: { ingress.weft.dev/tls-passthrough: enabled }
spec:
  ingressClassName: weft
  rules:
  - host: db.test
    http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: secure-backend, port: { number: 443 } } } }] }
`;

test('Ingress TLS: SNI certificates, redirects on and off, ALPN, rotation, passthrough', async (t) => {
  const certs = new CertFactory();
  const foo = certs.leaf('foo.example.com', ['foo.example.com']);
  const wild = certs.leaf('wild.test', ['*.wild.test']);
  const plain = certs.leaf('plain.test', ['plain.test']);
  const backendCert = certs.leaf('db.test', ['db.test']);
  const app = await startEchoBackend('app');
  const wildBackend = await startEchoBackend('wild');
  const secure = await startHttpsBackend('secure-backend', backendCert);
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-ingress-tls-e2e-'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const runner = new StandaloneRunner({
    dir,
    logger: pino({ level: 'silent' }),
    print: () => {},
    nodeId: `weft-ingress-tls-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    translate: { ingress: { httpPort, httpsPort } },
  });
  t.teardown(async () => {
    await runner.stop();
    await Promise.all([app.close(), wildBackend.close(), secure.close()]);
    rmSync(dir, { recursive: true, force: true });
    certs.close();
  });
  writeFileSync(path.join(dir, 'backends.yaml'), serviceYaml([app, wildBackend]) + `---
apiVersion: v1
kind: Service
metadata: { name: secure-backend, namespace: default }
spec: { ports: [{ name: https, port: 443, targetPort: ${secure.port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: secure-backend, namespace: default, labels: { kubernetes.io/service-name: secure-backend } }
addressType: IPv4
ports: [{ name: https, port: ${secure.port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`);
  writeFileSync(path.join(dir, 'secrets.yaml'), [tlsSecretYaml('default', 'foo-cert', foo), tlsSecretYaml('default', 'wild-cert', wild), tlsSecretYaml('default', 'plain-cert', plain)].join('---\n'));
  writeFileSync(path.join(dir, 'ingresses.yaml'), INGRESSES);
  await runner.start();
  await startedAndReady(runner);
  t.deepEqual(runner.last!.problems, []);

  // The certificate for each SNI name, seen by Node's tls and by openssl.
  t.is((await tlsHandshake(httpsPort, { servername: 'foo.example.com' })).fingerprint256, foo.fingerprint256);
  t.is((await tlsHandshake(httpsPort, { servername: 'a.wild.test' })).fingerprint256, wild.fingerprint256);
  t.is((await tlsHandshake(httpsPort, { servername: 'plain.test' })).fingerprint256, plain.fingerprint256);
  const sclient = await opensslSClient(httpsPort, { servername: 'foo.example.com', ca: foo.cert, dir: certs.dir });
  t.is(sclient.subject, 'CN = foo.example.com');
  t.true(sclient.verifyOk, 'openssl verifies the served certificate against it');
  // No SNI, or an SNI no Ingress names: no certificate (no tls entry without hosts), the handshake fails.
  await t.throwsAsync(tlsHandshake(httpsPort, { servername: 'unknown.test' }));
  await t.throwsAsync(tlsHandshake(httpsPort));

  // ALPN: h2 when offered, else http/1.1.
  t.is((await tlsHandshake(httpsPort, { servername: 'foo.example.com', alpn: ['h2', 'http/1.1'] })).alpn, 'h2');
  t.is((await tlsHandshake(httpsPort, { servername: 'foo.example.com', alpn: ['http/1.1'] })).alpn, 'http/1.1');
  const h2 = await h2Get(httpsPort, 'foo.example.com', '/over-h2');
  t.is(h2.alpn, 'h2');
  t.is(h2.status, 200);
  t.like(JSON.parse(h2.body) as object, { backend: 'app', path: '/over-h2' });

  // HTTPS requests reach the Ingress's backends by Host.
  const over = await httpsRequest(httpsPort, { servername: 'foo.example.com', path: '/x' });
  t.is(over.status, 200);
  t.is((JSON.parse(over.body) as { backend: string }).backend, 'app');
  const wildOver = await httpsRequest(httpsPort, { servername: 'b.wild.test', path: '/' });
  t.is((JSON.parse(wildOver.body) as { backend: string }).backend, 'wild');

  // Plain HTTP for a TLS host redirects (301, path and query kept, to the HTTPS port)...
  const redirect = await httpGet(httpPort, 'foo.example.com', '/some/path?q=1');
  t.is(redirect.status, 301);
  t.is(redirect.location, `https://foo.example.com:${httpsPort}/some/path?q=1`);
  t.is((await httpGet(httpPort, 'c.wild.test', '/')).status, 301);
  // ...unless its Ingress turns force-https off: then it is served on both.
  const plainHttp = await httpGet(httpPort, 'plain.test', '/p');
  t.is(plainHttp.status, 200);
  t.is((JSON.parse(plainHttp.body) as { backend: string }).backend, 'app');
  t.is((await httpsRequest(httpsPort, { servername: 'plain.test', path: '/p' })).status, 200);

  // Passthrough: the backend's own certificate, and its own answer (it saw the SNI).
  t.is((await tlsHandshake(httpsPort, { servername: 'db.test' })).fingerprint256, backendCert.fingerprint256);
  const through = await httpsRequest(httpsPort, { servername: 'db.test', path: '/deep' });
  t.deepEqual(JSON.parse(through.body), { backend: 'secure-backend', sni: 'db.test', path: '/deep' });

  // Rotation: a new certificate in the Secret is served after one reload, on the same Envoy.
  const pid = runner.envoy?.pid;
  const rotated = certs.leaf('foo.example.com', ['foo.example.com']);
  const gen = runner.generation;
  replaceFile(path.join(dir, 'secrets.yaml'), [tlsSecretYaml('default', 'foo-cert', rotated), tlsSecretYaml('default', 'wild-cert', wild), tlsSecretYaml('default', 'plain-cert', plain)].join('---\n'));
  await readyAfter(runner, gen);
  t.is((await tlsHandshake(httpsPort, { servername: 'foo.example.com' })).fingerprint256, rotated.fingerprint256);
  t.not(rotated.fingerprint256, foo.fingerprint256);
  t.is(runner.envoy?.pid, pid);
  t.deepEqual(runner.nacks, []);
});
