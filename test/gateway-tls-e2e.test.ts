// Gateway API TLS through `weft run` and a real Envoy, checked with Node's tls and openssl s_client:
// HTTPS listeners (certificate per SNI, the default for no/unknown SNI, ALPN h2 and http/1.1), the HTTP
// → HTTPS redirect, a broken certificate marking only its listener, and no private key in any log.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { CertFactory, httpsRequest, opensslSClient, startHttpsBackend, tlsHandshake } from './helpers/tls.js';
import { caConfigMapYaml, classYaml, loopbackServiceYaml, secretsYaml, tlsGatewayYaml } from './helpers/tls-manifests.js';
import { startTlsRunner } from './helpers/tls-runner.js';
import { readyAfter } from './helpers/standalone.js';

function httpGet(port: number, host: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

test.serial('HTTPS listeners: certificate per SNI and default, ALPN, redirect, a broken certificate marks only its listener', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const a = certs.leaf('a.example.com', ['a.example.com']);
  const dflt = certs.leaf('default.example.com', ['default.example.com']);
  const other = certs.leaf('other.example.com', ['other.example.com']);
  const echo = await startEchoBackend('app');
  t.teardown(() => echo.close());
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw, sectionName: a }, { name: gw, sectionName: any }, { name: gw, sectionName: broken }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-https, namespace: default }
spec:
  parentRefs: [{ name: gw, sectionName: http }]
  rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: ${httpsPort}, statusCode: 301 } }] }]
`;
  const gateway = tlsGatewayYaml([
    { name: 'http', port: httpPort, protocol: 'HTTP' },
    { name: 'a', port: httpsPort, protocol: 'HTTPS', hostname: 'a.example.com', certs: ['a'] },
    { name: 'any', port: httpsPort, protocol: 'HTTPS', certs: ['default'] },
    // Its Secret's key belongs to another certificate.
    { name: 'broken', port: httpsPort, protocol: 'HTTPS', hostname: 'broken.example.com', certs: ['broken'] },
  ]);
  const secrets = secretsYaml({ a, default: dflt, broken: { ...other, key: a.key } });
  const run = await startTlsRunner(t, { 'gateway.yaml': gateway, 'secrets.yaml': secrets, 'routes.yaml': routes, 'app.yaml': loopbackServiceYaml('app', 80, echo.port) });

  // Statuses: only the broken listener is marked.
  t.like(run.listenerConditions('broken'), { ResolvedRefs: { status: 'False', reason: 'InvalidCertificateRef' }, Programmed: { status: 'False', reason: 'Invalid' }, Accepted: { status: 'True' } });
  t.regex(run.listenerConditions('broken').ResolvedRefs.message, /default\/broken.*does not match/);
  for (const name of ['http', 'a', 'any']) t.like(run.listenerConditions(name), { ResolvedRefs: { status: 'True' }, Programmed: { status: 'True' } }, name);

  await eventually(async () => (await httpsRequest(httpsPort, { servername: 'a.example.com' })).status === 200, 15_000, 'HTTPS to be served');
  // Certificate per SNI; the hostname-less listener's certificate for no SNI, unknown SNI and the broken listener's name.
  t.is((await tlsHandshake(httpsPort, { servername: 'a.example.com' })).fingerprint256, a.fingerprint256);
  t.is((await tlsHandshake(httpsPort, {})).fingerprint256, dflt.fingerprint256);
  t.is((await tlsHandshake(httpsPort, { servername: 'unknown.example.org' })).fingerprint256, dflt.fingerprint256);
  t.is((await tlsHandshake(httpsPort, { servername: 'broken.example.com' })).fingerprint256, dflt.fingerprint256);
  const sA = await opensslSClient(httpsPort, { servername: 'a.example.com', dir: certs.dir, ca: a.cert });
  t.regex(sA.subject, /CN ?= ?a\.example\.com/);
  t.true(sA.verifyOk, sA.output);
  t.regex((await opensslSClient(httpsPort, { dir: certs.dir })).subject, /CN ?= ?default\.example\.com/);

  // ALPN: h2 offered → h2; http/1.1 only → http/1.1; none → no ALPN, still served.
  t.is((await tlsHandshake(httpsPort, { servername: 'a.example.com', alpn: ['h2', 'http/1.1'] })).alpn, 'h2');
  t.is((await tlsHandshake(httpsPort, { servername: 'a.example.com', alpn: ['http/1.1'] })).alpn, 'http/1.1');
  t.is((await opensslSClient(httpsPort, { servername: 'a.example.com', alpn: ['h2', 'http/1.1'], dir: certs.dir })).alpn, 'h2');
  const viaHttps = await httpsRequest(httpsPort, { servername: 'a.example.com', path: '/x' });
  t.is(viaHttps.status, 200);
  t.like(JSON.parse(viaHttps.body), { backend: 'app', path: '/x', headers: { 'x-forwarded-proto': 'https' } });

  // HTTP/2 over TLS (ALPN h2) reaches the HTTPRoute's backend.
  const h2 = await new Promise<{ status: number; body: string; alpn: string | false }>((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${httpsPort}`, { servername: 'a.example.com', rejectUnauthorized: false });
    session.once('error', reject);
    const req = session.request({ ':path': '/over-h2', ':authority': 'a.example.com' });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const alpn = (session.socket as unknown as tls.TLSSocket).alpnProtocol ?? false;
      session.close();
      resolve({ status, body, alpn });
    });
    req.on('error', reject);
    req.end();
  });
  t.is(h2.status, 200);
  t.is(h2.alpn, 'h2');
  t.like(JSON.parse(h2.body), { backend: 'app', path: '/over-h2' });

  // HTTP → HTTPS redirect, then the redirect target serves.
  const redirect = await httpGet(httpPort, 'a.example.com', '/some/path?q=1');
  t.is(redirect.status, 301);
  t.is(redirect.location, `https://a.example.com:${httpsPort}/some/path?q=1`);
  t.is((await httpsRequest(httpsPort, { servername: 'a.example.com', path: '/some/path?q=1' })).status, 200);

  // Fixing the broken Secret programs its listener, served with its own certificate.
  const gen = run.runner.generation;
  run.write('secrets.yaml', secretsYaml({ a, default: dflt, broken: other }));
  await readyAfter(run.runner, gen);
  t.like(run.listenerConditions('broken'), { ResolvedRefs: { status: 'True' }, Programmed: { status: 'True' } });
  await eventually(async () => (await tlsHandshake(httpsPort, { servername: 'broken.example.com' })).fingerprint256 === other.fingerprint256, 15_000, 'the fixed listener to serve its certificate');

  // No private key in any log line.
  const keyLines = [a.key, dflt.key, other.key].map((k) => k.split('\n')[1]);
  for (const line of run.logs) for (const k of keyLines) t.false(line.includes(k), 'a private key was logged');
  t.deepEqual(run.runner.nacks, []);
});

test.serial('rotation under load: a changed Secret file changes only the SDS Secret; zero failed requests; the new certificate is served', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const [v1, v2] = [certs.leaf('rot.example.com', ['rot.example.com']), certs.leaf('rot.example.com', ['rot.example.com'])];
  const echo = await startEchoBackend('app');
  t.teardown(() => echo.close());
  const port = await freePort();
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`;
  const run = await startTlsRunner(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'https', port, protocol: 'HTTPS', hostname: 'rot.example.com', certs: ['rot'] }]),
    'secret.yaml': secretsYaml({ rot: v1 }),
    'routes.yaml': route,
    'app.yaml': loopbackServiceYaml('app', 80, echo.port),
  });
  await eventually(async () => (await httpsRequest(port, { servername: 'rot.example.com' })).status === 200, 15_000, 'HTTPS to be served');
  const envoy = run.runner.envoy!;
  const listenerStats = (): Promise<Array<number | undefined>> => Promise.all(['listener_added', 'listener_modified', 'listener_removed', 'listener_in_place_updated'].map((s) => envoy.stat(`listener_manager.${s}`)));
  const before = await listenerStats();

  // Load: keep-alive clients and new-connection clients, until told to stop.
  let stop = false;
  const results = { ok: 0, failed: [] as string[], newCertSeen: 0 };
  const keepAlive = new (await import('node:https')).Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => keepAlive.destroy());
  const worker = async (agent: typeof keepAlive | undefined): Promise<void> => {
    while (!stop) {
      try {
        const r = await httpsRequest(port, { servername: 'rot.example.com', agent });
        if (r.status === 200) results.ok++;
        else results.failed.push(`status ${r.status}`);
        if (r.fingerprint256 === v2.fingerprint256) results.newCertSeen++;
      } catch (err) {
        results.failed.push((err as Error).message);
      }
    }
  };
  const workers = [worker(keepAlive), worker(keepAlive), worker(undefined), worker(undefined)];
  // Half a second of load, and at least some of it answered (a loaded machine may answer nothing in that time).
  await Promise.all([new Promise((r) => setTimeout(r, 500)), eventually(() => results.ok > 0 || results.failed.length > 0, 15_000).catch(() => undefined)]);
  const okBefore = results.ok;

  const versions = (): Map<string, string> => new Map(run.runner.last!.resources.map((r) => [`${r.typeUrl.slice(r.typeUrl.lastIndexOf('.') + 1)} ${r.name}`, r.version]));
  const resourcesBefore = versions();
  const gen = run.runner.generation;
  run.write('secret.yaml', secretsYaml({ rot: v2 }));
  await readyAfter(run.runner, gen);
  const resourcesAfter = versions();
  t.deepEqual([...resourcesAfter.keys()], [...resourcesBefore.keys()]);
  t.deepEqual([...resourcesAfter].filter(([k, v]) => resourcesBefore.get(k) !== v).map(([k]) => k), ['Secret secret/default/rot'], 'only the SDS Secret changed');
  // Envoy ACKed the new Secret: new connections get it (its workers take it right after the ACK).
  await eventually(async () => (await tlsHandshake(port, { servername: 'rot.example.com' })).fingerprint256 === v2.fingerprint256, 15_000, 'the new certificate');
  for (let i = 0; i < 3; i++) t.is((await tlsHandshake(port, { servername: 'rot.example.com' })).fingerprint256, v2.fingerprint256);
  // Half a second more of load, and until its new connections have met the new certificate.
  await Promise.all([new Promise((r) => setTimeout(r, 500)), eventually(() => results.newCertSeen > 0, 15_000).catch(() => undefined)]);
  stop = true;
  await Promise.all(workers);

  t.deepEqual(results.failed, [], 'no request failed during the rotation');
  t.true(okBefore > 0 && results.ok > okBefore, `requests kept flowing (${okBefore} before, ${results.ok} in all)`);
  t.true(results.newCertSeen > 0, 'the load saw the new certificate');
  t.deepEqual(await listenerStats(), before, 'the listener was neither added, modified nor removed');
  t.deepEqual(run.runner.nacks, []);
});

test.serial('TLSRoute: passthrough reaches the backend\'s own certificate by SNI; terminate proxies TCP; both modes on one port', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const backendCert = certs.leaf('pass.example.com', ['pass.example.com']);
  const termCert = certs.leaf('term.example.com', ['term.example.com']);
  const pass = await startHttpsBackend('pass', backendCert);
  t.teardown(() => pass.close());
  // A TCP backend that answers each connection with a fixed line, to see a terminated stream arrive in clear.
  const tcp = net.createServer((s) => s.once('data', (d) => s.end(`tcp-backend got ${d.toString().trim()}\n`)));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => tcp.close(() => r())));
  const tcpPort = (tcp.address() as net.AddressInfo).port;
  // Both listeners on one port (TLSRouteModeMixed): SNI picks passthrough or termination.
  const passPort = await freePort();
  const termPort = passPort;
  const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: pass, namespace: default }
spec:
  parentRefs: [{ name: gw, sectionName: pass }]
  hostnames: [pass.example.com]
  rules: [{ backendRefs: [{ name: pass, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: term, namespace: default }
spec:
  parentRefs: [{ name: gw, sectionName: term }]
  hostnames: [term.example.com]
  rules: [{ backendRefs: [{ name: tcp, port: 7000 }] }]
`;
  const run = await startTlsRunner(t, {
    'gateway.yaml': tlsGatewayYaml([
      { name: 'pass', port: passPort, protocol: 'TLS', mode: 'Passthrough', hostname: 'pass.example.com' },
      { name: 'term', port: termPort, protocol: 'TLS', mode: 'Terminate', hostname: 'term.example.com', certs: ['term'] },
    ]),
    'secrets.yaml': secretsYaml({ term: termCert }),
    'routes.yaml': routes,
    'backends.yaml': `${loopbackServiceYaml('pass', 443, pass.port)}---\n${loopbackServiceYaml('tcp', 7000, tcpPort)}`,
  });
  t.like(run.status('TLSRoute', 'pass'), { parents: [{ conditions: [{ type: 'Accepted', status: 'True' }, { type: 'ResolvedRefs', status: 'True' }] }] });
  t.like(run.status('Gateway', 'gw'), { listeners: [{ name: 'pass', attachedRoutes: 1 }, { name: 'term', attachedRoutes: 1 }] });

  await eventually(async () => (await tlsHandshake(passPort, { servername: 'pass.example.com' })).fingerprint256 === backendCert.fingerprint256, 15_000, 'passthrough to serve');
  const s = await opensslSClient(passPort, { servername: 'pass.example.com', dir: certs.dir, ca: backendCert.cert });
  t.true(s.verifyOk, s.output);
  const viaPass = await httpsRequest(passPort, { servername: 'pass.example.com', path: '/p' });
  t.deepEqual(JSON.parse(viaPass.body), { backend: 'pass', sni: 'pass.example.com', path: '/p' });
  // An SNI no route names finds no chain: the handshake fails.
  await t.throwsAsync(tlsHandshake(passPort, { servername: 'nobody.example.com' }));

  // Terminate: Envoy's certificate, and the TCP backend reads the decrypted bytes.
  const answer = await new Promise<{ fp: string; text: string }>((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: termPort, servername: 'term.example.com', rejectUnauthorized: false }, () => sock.write('hello\n'));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.on('end', () => resolve({ fp: sock.getPeerCertificate().fingerprint256, text }));
    sock.on('error', reject);
  });
  t.deepEqual(answer, { fp: termCert.fingerprint256, text: 'tcp-backend got hello\n' });
  t.deepEqual(run.runner.nacks, []);
});

test.serial('frontend client certificate validation: AllowValidOnly accepts a good certificate and refuses none or a bad one; a per-port AllowInsecureFallback', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const clientCa = certs.ca('client-ca');
  const otherCa = certs.ca('other-ca');
  const good = certs.leaf('good-client', [], { ca: clientCa, client: true });
  const bad = certs.leaf('bad-client', [], { ca: otherCa, client: true });
  const server = certs.leaf('m.example.com', ['m.example.com']);
  const echo = await startEchoBackend('app');
  t.teardown(() => echo.close());
  const [strictPort, fallbackPort] = [await freePort(), await freePort()];
  const frontend = `  tls:
    frontend:
      default: { validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] } }
      perPort:
        - port: ${fallbackPort}
          tls: { validation: { mode: AllowInsecureFallback, caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] } }
`;
  const run = await startTlsRunner(t, {
    'gateway.yaml': tlsGatewayYaml([
      { name: 'strict', port: strictPort, protocol: 'HTTPS', certs: ['server'] },
      { name: 'fallback', port: fallbackPort, protocol: 'HTTPS', certs: ['server'] },
    ], frontend),
    'secrets.yaml': secretsYaml({ server }),
    'ca.yaml': caConfigMapYaml('default', 'client-ca', clientCa.cert),
    'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`,
    'app.yaml': loopbackServiceYaml('app', 80, echo.port),
  });
  for (const l of ['strict', 'fallback']) t.like(run.listenerConditions(l), { ResolvedRefs: { status: 'True' }, Programmed: { status: 'True' } });
  const opts = { servername: 'm.example.com' };
  await eventually(async () => (await httpsRequest(strictPort, { ...opts, cert: good.cert, key: good.key })).status === 200, 15_000, 'mTLS to serve');

  // Node's tls: good → 200; none or from another CA → refused.
  t.is((await httpsRequest(strictPort, { ...opts, cert: good.cert, key: good.key })).status, 200);
  await t.throwsAsync(httpsRequest(strictPort, opts));
  await t.throwsAsync(httpsRequest(strictPort, { ...opts, cert: bad.cert, key: bad.key }));
  // openssl s_client: the same verdicts.
  const sGood = await opensslSClient(strictPort, { ...opts, cert: good.cert, key: good.key, dir: certs.dir });
  t.regex(sGood.output, /HTTP\/1\.1 200/);
  const sNone = await opensslSClient(strictPort, { ...opts, dir: certs.dir });
  t.notRegex(sNone.output, /HTTP\/1\.1 200/);
  t.regex(sNone.output, /alert|error/i);
  const sBad = await opensslSClient(strictPort, { ...opts, cert: bad.cert, key: bad.key, dir: certs.dir });
  t.notRegex(sBad.output, /HTTP\/1\.1 200/);
  t.regex(sBad.output, /alert|error/i);

  // The per-port override: no certificate and an untrusted one are both let through.
  t.is((await httpsRequest(fallbackPort, opts)).status, 200);
  t.is((await httpsRequest(fallbackPort, { ...opts, cert: bad.cert, key: bad.key })).status, 200);
  t.is((await httpsRequest(fallbackPort, { ...opts, cert: good.cert, key: good.key })).status, 200);

  // The CA ConfigMap gone: ResolvedRefs False InvalidCACertificateRef and Accepted False NoValidCACertificate.
  const gen = run.runner.generation;
  run.write('ca.yaml', '');
  await eventually(() => run.runner.generation > gen, 10_000, 'a reload');
  t.like(run.listenerConditions('strict'), { ResolvedRefs: { status: 'False', reason: 'InvalidCACertificateRef' }, Accepted: { status: 'False', reason: 'NoValidCACertificate' }, Programmed: { status: 'False' } });
  t.deepEqual(run.runner.nacks, []);
});

test.serial('BackendTLSPolicy: Envoy validates the backend against the CA ConfigMap and the hostname; a wrong SAN fails with 5xx', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const ca = certs.ca('backend-ca');
  const backendCert = certs.leaf('secure.example.com', ['secure.example.com', 'URI:spiffe://example.com/ns/default/sa/secure'], { ca });
  const backend = await startHttpsBackend('secure', backendCert);
  t.teardown(() => backend.close());
  const port = await freePort();
  const policy = (name: string, hostname: string, sans = ''): string => `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: ${name}, namespace: default }
spec:
  targetRefs: [{ group: "", kind: Service, name: ${name} }]
  validation: { hostname: ${hostname}, caCertificateRefs: [{ group: "", kind: ConfigMap, name: backend-ca }]${sans} }
`;
  const run = await startTlsRunner(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'http', port, protocol: 'HTTP' }]),
    'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /good } }]
      backendRefs: [{ name: good, port: 443 }]
    - matches: [{ path: { type: PathPrefix, value: /wrong-san } }]
      backendRefs: [{ name: wrong-san, port: 443 }]
    - matches: [{ path: { type: PathPrefix, value: /uri-san } }]
      backendRefs: [{ name: uri-san, port: 443 }]
    - matches: [{ path: { type: PathPrefix, value: /no-policy } }]
      backendRefs: [{ name: no-policy, port: 443 }]
`,
    'policies.yaml': [
      policy('good', 'secure.example.com'),
      policy('wrong-san', 'other.example.com'),
      policy('uri-san', 'secure.example.com', ', subjectAltNames: [{ type: URI, uri: "spiffe://example.com/ns/default/sa/secure" }]'),
    ].join('---\n'),
    'ca.yaml': caConfigMapYaml('default', 'backend-ca', ca.cert),
    'backends.yaml': ['good', 'wrong-san', 'uri-san', 'no-policy'].map((n) => loopbackServiceYaml(n, 443, backend.port)).join('---\n'),
  });
  for (const p of ['good', 'wrong-san', 'uri-san']) {
    t.like(run.status('BackendTLSPolicy', p), { ancestors: [{ ancestorRef: { kind: 'Gateway', name: 'gw' }, conditions: [{ type: 'Accepted', status: 'True' }, { type: 'ResolvedRefs', status: 'True' }] }] }, p);
  }
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  await eventually(async () => (await get('/good')).status === 200, 15_000, 'the TLS backend to be reached');
  // Validated, with the policy's hostname as SNI.
  t.deepEqual(JSON.parse((await get('/good/x')).body), { backend: 'secure', sni: 'secure.example.com', path: '/good/x' });
  t.deepEqual(JSON.parse((await get('/uri-san')).body), { backend: 'secure', sni: 'secure.example.com', path: '/uri-san' });
  // The certificate does not carry other.example.com: Envoy refuses the backend, the client gets a 5xx.
  const wrong = await get('/wrong-san');
  t.true(wrong.status >= 500 && wrong.status < 600, `status ${wrong.status}`);
  // Without a policy Envoy speaks plain HTTP to the TLS port: the backend does not answer with 200.
  t.not((await get('/no-policy')).status, 200);
  t.deepEqual(run.runner.nacks, []);
});

test.serial('backend client certificate (GatewayBackendClientCertificate): routes of a Gateway with spec.tls.backend present its certificate to a TLS backend that requires one; another Gateway\'s routes to the same Service do not', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const serverCa = certs.ca('backend-ca');
  const clientCa = certs.ca('client-ca');
  const backendCert = certs.leaf('abc.example.com', ['abc.example.com'], { ca: serverCa });
  const clientCert = certs.leaf('gateway-client', ['gateway-client.example.com'], { ca: clientCa, client: true });
  // A backend that completes the handshake only with a client certificate from clientCa, and says whose it was.
  const server = https.createServer({ cert: backendCert.cert, key: backendCert.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ client: peer.subject?.CN ?? '', fingerprint256: peer.fingerprint256 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const [withCert, without] = [await freePort(), await freePort()];
  const gateway = (name: string, port: number, backendTls: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: default }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: ${port}, protocol: HTTP }]${backendTls}
`;
  const run = await startTlsRunner(t, {
    'gateway.yaml': classYaml() + gateway('gw', withCert, '\n  tls: { backend: { clientCertificateRef: { group: "", kind: Secret, name: client } } }') + gateway('plain', without, ''),
    'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }, { name: plain }]
  rules: [{ backendRefs: [{ name: secure, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: secure, namespace: default }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure }]
  validation: { hostname: abc.example.com, caCertificateRefs: [{ group: "", kind: ConfigMap, name: backend-ca }] }
`,
    'secrets.yaml': secretsYaml({ client: clientCert }),
    'ca.yaml': caConfigMapYaml('default', 'backend-ca', serverCa.cert),
    'backends.yaml': loopbackServiceYaml('secure', 443, (server.address() as net.AddressInfo).port),
  });
  t.like(run.status('Gateway', 'gw'), { conditions: [{ type: 'Accepted', status: 'True' }, { type: 'Programmed', status: 'True' }, { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' }] });
  const get = (port: number): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'abc.example.com' }, agent: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  await eventually(async () => (await get(withCert)).status === 200, 15_000, 'the TLS backend to be reached with the client certificate');
  t.deepEqual(JSON.parse((await get(withCert)).body), { client: 'gateway-client', fingerprint256: clientCert.fingerprint256 });
  // The other Gateway's cluster presents nothing: the backend refuses the handshake, the client gets a 5xx.
  const refused = await get(without);
  t.true(refused.status >= 500 && refused.status < 600, `status ${refused.status}`);
  t.deepEqual(run.runner.nacks, []);
});

test.serial('adding and removing an HTTPS listener (GatewayModifyListeners, HTTPS part): the new SNI serves, then stops; connections of the other listener are kept', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const [a, b] = [certs.leaf('a.example.com', ['a.example.com']), certs.leaf('b.example.com', ['b.example.com'])];
  const echo = await startEchoBackend('app');
  t.teardown(() => echo.close());
  const port = await freePort();
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`;
  const one = tlsGatewayYaml([{ name: 'a', port, protocol: 'HTTPS', hostname: 'a.example.com', certs: ['a'] }]);
  const two = tlsGatewayYaml([
    { name: 'a', port, protocol: 'HTTPS', hostname: 'a.example.com', certs: ['a'] },
    { name: 'b', port, protocol: 'HTTPS', hostname: 'b.example.com', certs: ['b'] },
  ]);
  const run = await startTlsRunner(t, { 'gateway.yaml': one, 'secrets.yaml': secretsYaml({ a, b }), 'routes.yaml': route, 'app.yaml': loopbackServiceYaml('app', 80, echo.port) });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  await eventually(async () => (await httpsRequest(port, { servername: 'a.example.com', agent })).status === 200, 15_000, 'listener a to serve');
  const sockets = new Set<unknown>();
  const viaKept = async (): Promise<number> => {
    const r = await httpsRequest(port, { servername: 'a.example.com', agent });
    return r.status;
  };
  agent.on('free', (s) => sockets.add(s));
  await t.throwsAsync(tlsHandshake(port, { servername: 'b.example.com' }), undefined, 'no chain for b yet');

  let gen = run.runner.generation;
  run.write('gateway.yaml', two);
  await readyAfter(run.runner, gen);
  t.like(run.status('Gateway', 'gw'), { listeners: [{ name: 'a', attachedRoutes: 1 }, { name: 'b', attachedRoutes: 1 }] });
  await eventually(async () => (await tlsHandshake(port, { servername: 'b.example.com' }).catch(() => undefined))?.fingerprint256 === b.fingerprint256, 15_000, 'listener b to serve');
  t.is((await httpsRequest(port, { servername: 'b.example.com' })).status, 200);
  t.is(await viaKept(), 200);

  gen = run.runner.generation;
  run.write('gateway.yaml', one);
  await readyAfter(run.runner, gen);
  await eventually(async () => (await tlsHandshake(port, { servername: 'b.example.com' }).then(() => false, () => true)), 15_000, 'listener b to stop serving');
  t.is(await viaKept(), 200);
  t.is((await tlsHandshake(port, { servername: 'a.example.com' })).fingerprint256, a.fingerprint256);
  // The keep-alive connection to listener a survived both changes: one socket throughout.
  t.is(sockets.size, 1, 'the connection to listener a was kept across the listener changes');
  t.deepEqual(run.runner.nacks, []);
});

test.serial('misdirected requests (GatewayHTTPSListenerDetectMisdirectedRequests): a Host another HTTPS listener of the port serves answers 421 on a connection whose SNI chose this one, over HTTP/1.1 and HTTP/2', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  // One certificate for every name, as the suite's tls-validity-checks-certificate.
  const cert = certs.leaf('example.org', ['example.org', 'second-example.org', '*.wildcard.org', 'unknown-example.org']);
  const backends = await Promise.all(['v1', 'v2', 'v3'].map((n) => startEchoBackend(`infra-backend-${n}`)));
  t.teardown(() => Promise.all(backends.map((b) => b.close())).then(() => undefined));
  const httpsPort = await freePort();
  const route = (n: number, section: string, backend: string, hostnames = ''): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: https-listener-detect-misdirected-requests-test-${n}, namespace: default }
spec:
  parentRefs: [{ name: gw, sectionName: ${section} }]${hostnames}
  rules: [{ matches: [{ path: { type: PathPrefix, value: /detect-misdirected-requests } }], backendRefs: [{ name: ${backend}, port: 80 }] }]
`;
  const routes = [
    route(1, 'https', 'infra-backend-v1', '\n  hostnames: [example.org]'),
    route(2, 'https-with-hostname', 'infra-backend-v2'),
    route(3, 'https-with-wildcard-hostname', 'infra-backend-v3'),
    route(4, 'https-with-hostname-matching-wildcard', 'infra-backend-v1'),
  ].join('---\n');
  const gateway = tlsGatewayYaml([
    { name: 'https', port: httpsPort, protocol: 'HTTPS', certs: ['cert'] },
    { name: 'https-with-hostname', port: httpsPort, protocol: 'HTTPS', hostname: 'second-example.org', certs: ['cert'] },
    { name: 'https-with-wildcard-hostname', port: httpsPort, protocol: 'HTTPS', hostname: '*.wildcard.org', certs: ['cert'] },
    { name: 'https-with-hostname-matching-wildcard', port: httpsPort, protocol: 'HTTPS', hostname: 'fourth-example.wildcard.org', certs: ['cert'] },
  ]);
  const services = backends.map((b) => loopbackServiceYaml(b.name, 80, b.port)).join('---\n');
  const run = await startTlsRunner(t, { 'gateway.yaml': gateway, 'secrets.yaml': secretsYaml({ cert }), 'routes.yaml': routes, 'services.yaml': services });
  await eventually(async () => (await httpsRequest(httpsPort, { servername: 'example.org', path: '/detect-misdirected-requests' })).status === 200, 15_000, 'HTTPS to be served');

  // The suite's cases: [SNI, Host, status, backend].
  const cases: Array<[string, string, number, string?]> = [
    ['example.org', 'example.org', 200, 'infra-backend-v1'],
    ['example.org', 'second-example.org', 421],
    ['example.org', 'unknown-example.org', 404],
    ['second-example.org', 'second-example.org', 200, 'infra-backend-v2'],
    ['second-example.org', 'example.org', 421],
    ['second-example.org', 'unknown-example.org', 421],
    ['third-example.wildcard.org', 'third-example.wildcard.org', 200, 'infra-backend-v3'],
    ['third-example.wildcard.org', 'fith-example.wildcard.org', 200, 'infra-backend-v3'],
    ['third-example.wildcard.org', 'fourth-example.wildcard.org', 421],
    ['third-example.wildcard.org', 'second-example.org', 421],
    ['third-example.wildcard.org', 'unknown-example.org', 421],
    ['fourth-example.wildcard.org', 'fourth-example.wildcard.org', 200, 'infra-backend-v1'],
    ['fourth-example.wildcard.org', 'fith-example.wildcard.org', 421],
    ['unknown-example.org', 'example.org', 200, 'infra-backend-v1'],
    ['unknown-example.org', 'unknown-example.org', 404],
  ];
  type Outcome = [string, string, number, string?];
  const outcome = (servername: string, host: string, r: { status: number; body: string }): Outcome =>
    r.status === 200 ? [servername, host, r.status, (JSON.parse(r.body) as { backend: string }).backend] : [servername, host, r.status];
  const overH1: Outcome[] = [];
  const overH2: Outcome[] = [];
  for (const [servername, host] of cases) {
    overH1.push(outcome(servername, host, await httpsRequest(httpsPort, { servername, host, path: '/detect-misdirected-requests' })));
    overH2.push(outcome(servername, host, await h2Request(httpsPort, servername, host, '/detect-misdirected-requests')));
  }
  t.deepEqual(overH1, cases, 'HTTP/1.1');
  t.deepEqual(overH2, cases, 'HTTP/2');
  t.deepEqual(run.runner.nacks, []);
});

/** One HTTP/2 request over TLS with this SNI and :authority. */
function h2Request(port: number, servername: string, authority: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false });
    session.once('error', reject);
    const req = session.request({ ':path': path, ':authority': authority });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      session.close();
      resolve({ status, body });
    });
    req.on('error', reject);
    req.end();
  });
}
