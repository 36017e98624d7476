// IR TLS → xDS → a real Envoy, checked with independent TLS clients (Node's tls, openssl s_client): the
// certificate served per SNI (exact, wildcard, several per chain), the default chain for no/unknown SNI,
// ALPN h2 and http/1.1 with HTTP/2 requests served, and passthrough reaching the backend's own certificate.
import http2 from 'node:http2';
import test from 'ava';
import type { ClusterIR, ProxyIR, TlsCertificateIR } from '../src/ir/model.js';
import { translateIrToXds } from '../src/xds/translator/translate-ir.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { Mesh } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';
import { CertFactory, httpsRequest, opensslSClient, startHttpsBackend, tlsHandshake, type CertKey } from './helpers/tls.js';

function certIR(name: string, c: CertKey): TlsCertificateIR {
  return { name, certificateChain: c.cert, privateKey: c.key };
}

function h2Get(port: number, servername: string): Promise<{ status: number; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false });
    session.once('error', reject);
    const req = session.request({ ':path': '/h2', ':authority': servername });
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

test.serial('TLS IR on a real Envoy: SNI chains, default chain, several certificates, ALPN, passthrough', async (t) => {
  const certs = new CertFactory();
  const aRsa = certs.leaf('a.example.com', ['a.example.com'], { type: 'rsa' });
  const aEc = certs.leaf('a.example.com', ['a.example.com'], { type: 'ec' });
  const wild = certs.leaf('wildcard.example.com', ['*.example.com']);
  const dflt = certs.leaf('default.example.net', ['default.example.net']);
  const passCert = certs.leaf('pass.example.com', ['pass.example.com']);
  const echo = await startEchoBackend('echo');
  const passBackend = await startHttpsBackend('pass', passCert);
  const port = await freePort();
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(async () => {
    await mesh.stop();
    await echo.close();
    await passBackend.close();
    certs.close();
  });

  const echoCluster: ClusterIR = { name: 'default/echo/80', endpoints: [{ address: '127.0.0.1', port: echo.port }], protocol: 'http1' };
  const passCluster: ClusterIR = { name: 'default/pass/443', endpoints: [{ address: '127.0.0.1', port: passBackend.port }], protocol: 'http1' };
  const listenerName = `127.0.0.1:${port}`;
  const ir: ProxyIR = {
    httpListeners: [{
      name: listenerName, address: '127.0.0.1', port,
      virtualHosts: [{
        name: `${listenerName}/*`, hostname: '*',
        routes: [{ name: 'r', match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, action: { kind: 'forward', backends: [{ weight: 1, cluster: echoCluster }] } }],
      }],
      tls: {
        chains: [
          { name: 'a', serverNames: ['a.example.com'], terminate: { certificates: [certIR('a-rsa', aRsa), certIR('a-ec', aEc)], alpn: ['h2', 'http/1.1'] } },
          { name: 'wild', serverNames: ['*.example.com'], terminate: { certificates: [certIR('wild', wild)], alpn: ['http/1.1'] } },
          { name: 'pass', serverNames: ['pass.example.com'], tcpBackends: [{ weight: 1, cluster: passCluster }] },
          { name: 'default', serverNames: [], terminate: { certificates: [certIR('default', dflt)], alpn: ['h2', 'http/1.1'] } },
        ],
      },
    }],
  };
  await mesh.start(translateIrToXds(ir));
  await mesh.converged();
  await eventually(async () => (await httpsRequest(port, { servername: 'a.example.com' })).status === 200, 15_000, 'Envoy to serve HTTPS');

  // Exact SNI beats the wildcard; the wildcard serves other names under it; no/unknown SNI gets the default.
  t.is((await tlsHandshake(port, { servername: 'a.example.com', sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' })).fingerprint256, aRsa.fingerprint256);
  t.is((await tlsHandshake(port, { servername: 'a.example.com', sigalgs: 'ecdsa_secp256r1_sha256' })).fingerprint256, aEc.fingerprint256);
  t.is((await tlsHandshake(port, { servername: 'b.example.com' })).fingerprint256, wild.fingerprint256);
  t.is((await tlsHandshake(port, { servername: 'other.example.org' })).fingerprint256, dflt.fingerprint256);
  t.is((await tlsHandshake(port, {})).fingerprint256, dflt.fingerprint256);

  // openssl: the chain's two certificates, chosen by the signature algorithms the client offers.
  const sRsa = await opensslSClient(port, { servername: 'a.example.com', dir: certs.dir, sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
  t.regex(sRsa.output, /Peer signature type: (RSA-PSS|RSA)\n/, sRsa.output);
  const sEc = await opensslSClient(port, { servername: 'a.example.com', dir: certs.dir, sigalgs: 'ecdsa_secp256r1_sha256' });
  t.regex(sEc.output, /Peer signature type: ECDSA\n/, sEc.output);
  t.regex((await opensslSClient(port, { dir: certs.dir })).subject, /CN ?= ?default\.example\.net/);

  // ALPN: h2 where offered, http/1.1 where only that is; HTTP/2 requests are served.
  t.is((await tlsHandshake(port, { servername: 'a.example.com', alpn: ['h2', 'http/1.1'] })).alpn, 'h2');
  t.is((await tlsHandshake(port, { servername: 'b.example.com', alpn: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
  t.is((await opensslSClient(port, { servername: 'a.example.com', alpn: ['h2'], dir: certs.dir })).alpn, 'h2');
  const h2 = await h2Get(port, 'a.example.com');
  t.is(h2.status, 200);
  t.is(h2.alpn, 'h2');
  t.is((JSON.parse(h2.body) as { backend: string }).backend, 'echo');
  const h1 = await httpsRequest(port, { servername: 'b.example.com', path: '/h1' });
  t.is(h1.status, 200);
  t.is((JSON.parse(h1.body) as { path: string }).path, '/h1');

  // Passthrough: the backend's own certificate, and the backend saw the client's SNI.
  t.is((await tlsHandshake(port, { servername: 'pass.example.com' })).fingerprint256, passCert.fingerprint256);
  const viaPass = await httpsRequest(port, { servername: 'pass.example.com', path: '/p' });
  t.is(viaPass.fingerprint256, passCert.fingerprint256);
  t.deepEqual(JSON.parse(viaPass.body), { backend: 'pass', sni: 'pass.example.com', path: '/p' });

  const health = await mesh.healthy();
  t.deepEqual(health.nacks, []);
  t.deepEqual(health.warming, []);
});
