// SPIFFE IDs: what the SPIFFE-ID spec accepts and refuses, and TLS between SVIDs with Node's tls
// (OpenSSL): accepted within the trust domain, refused for another trust domain, an expired SVID
// or an unknown CA.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type net from 'node:net';
import test from 'ava';
import { CertificateAuthority, HOUR_MS } from '../src/mtls/ca.js';
import { validateLeafSvid } from '../src/mtls/leaf-validation.js';
import { namespaceAndServiceAccount, parseSpiffeId, workloadId } from '../src/mtls/spiffe-id.js';
import type { X509Svid } from '../src/mtls/svid.js';

test('valid SPIFFE IDs parse into trust domain and path', (t) => {
  for (const [input, td, p] of [
    ['spiffe://cluster.local/ns/default/sa/web', 'cluster.local', '/ns/default/sa/web'],
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://a_b-c.9/A.b-C_d/x', 'a_b-c.9', '/A.b-C_d/x'],
    [`spiffe://td/${'a'.repeat(2048 - 'spiffe://td/'.length)}`, 'td', `/${'a'.repeat(2048 - 'spiffe://td/'.length)}`],
  ]) {
    t.like(parseSpiffeId(input), { trustDomain: td, path: p, uri: input }, input);
  }
  const id = workloadId('cluster.local', 'shop', 'checkout');
  t.is(id.uri, 'spiffe://cluster.local/ns/shop/sa/checkout');
  t.deepEqual(namespaceAndServiceAccount(id), { namespace: 'shop', serviceAccount: 'checkout' });
  t.is(namespaceAndServiceAccount(parseSpiffeId('spiffe://td/other')), undefined);
});

test('invalid SPIFFE IDs are refused with the reason', (t) => {
  for (const [input, reason] of [
    ['', /scheme must be "spiffe:\/\/"/],
    ['https://example.org/x', /scheme must be "spiffe:\/\/"/],
    ['SPIFFE://example.org/x', /scheme must be lowercase/],
    ['spiffe:/example.org/x', /scheme must be "spiffe:\/\/"/],
    ['spiffe://', /trust domain is empty/],
    ['spiffe:///path', /trust domain is empty/],
    ['spiffe://Example.org/x', /character "E"/],
    ['spiffe://example.org:8080/x', /has a port/],
    ['spiffe://user@example.org/x', /has userinfo/],
    ['spiffe://exa%41mple.org/x', /character "%"/],
    ['spiffe://example.org/x?y=1', /no query/],
    ['spiffe://example.org/x#frag', /no fragment/],
    ['spiffe://example.org/', /ends with "\/"/],
    ['spiffe://example.org/x/', /ends with "\/"/],
    ['spiffe://example.org//x', /empty segment/],
    ['spiffe://example.org/./x', /"\." segment/],
    ['spiffe://example.org/x/..', /"\.\." segment/],
    ['spiffe://example.org/x%20y', /percent-encoding/],
    ['spiffe://example.org/x y', /character " "/],
    ['spiffe://example.org/*', /character "\*"/],
    ['spiffe://example.org/é', /character "é"/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255 bytes/],
    [`spiffe://td/${'a'.repeat(2049 - 'spiffe://td/'.length)}`, /longer than 2048 bytes/],
  ] as const) {
    t.throws(() => parseSpiffeId(input), { message: reason }, input);
  }
  t.throws(() => workloadId('cluster.local', 'Bad NS', 'sa'), { message: /invalid SPIFFE ID "spiffe:\/\/cluster.local\/ns\/Bad NS\/sa\/sa": .*character " "/ });
});

interface TlsOutcome {
  ok: boolean;
  error?: string;
  peerId?: string;
}

/** A TLS server presenting `server`, requiring a client certificate chaining to `serverTrusts`, then validating the client as a leaf SVID of `TD`. */
async function handshake(server: X509Svid, serverTrusts: string, client: X509Svid, clientTrusts: string): Promise<{ client: TlsOutcome; server: TlsOutcome }> {
  const serverOutcome: TlsOutcome = { ok: false };
  const srv = tls.createServer({ cert: server.chainPem(), key: server.privateKeyPem(), ca: serverTrusts, requestCert: true, rejectUnauthorized: false }, (socket) => {
    try {
      // Path validation by OpenSSL: Node reports its verdict here (rejectUnauthorized would only hang up).
      if (!socket.authorized) throw new Error(String(socket.authorizationError));
      serverOutcome.peerId = validateLeafSvid(new X509Certificate(socket.getPeerCertificate().raw), [TD]).uri;
      serverOutcome.ok = true;
    } catch (err) {
      serverOutcome.error = (err as Error).message;
    }
    socket.end();
  });
  srv.on('tlsClientError', (err) => (serverOutcome.error = err.message));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  const clientOutcome = await new Promise<TlsOutcome>((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1', port, cert: client.chainPem(), key: client.privateKeyPem(), ca: clientTrusts,
      // SPIFFE peers are checked by their URI SAN, not by a host name.
      checkServerIdentity: (_host, cert) => {
        try {
          validateLeafSvid(new X509Certificate(cert.raw), [TD]);
          return undefined;
        } catch (err) {
          return err as Error;
        }
      },
    });
    socket.once('secureConnect', () => {
      const peerId = new X509Certificate(socket.getPeerCertificate().raw).subjectAltName;
      socket.once('close', () => resolve({ ok: true, peerId }));
      socket.resume();
    });
    socket.once('error', (err: Error) => resolve({ ok: false, error: err.message }));
  });
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return { client: clientOutcome, server: serverOutcome };
}

const TD = 'cluster.local';

test('Node TLS: mutual authentication between SVIDs of one trust domain; other trust domain, expired, unknown CA refused', async (t) => {
  let now = Date.now() - 3 * HOUR_MS;
  const ca = CertificateAuthority.generate({ trustDomain: TD, now: () => new Date(now) });
  const expired = ca.issue(`spiffe://${TD}/ns/default/sa/old`);
  now = Date.now();
  const bundle = ca.root.pem;
  const web = ca.issue(`spiffe://${TD}/ns/default/sa/web`);
  const api = ca.issue(`spiffe://${TD}/ns/default/sa/api`);
  const other = CertificateAuthority.generate({ trustDomain: 'other.example' });
  const foreign = other.issue('spiffe://other.example/ns/default/sa/web');
  const unknown = CertificateAuthority.generate({ trustDomain: TD }).issue(`spiffe://${TD}/ns/default/sa/web`);

  const good = await handshake(api, bundle, web, bundle);
  t.deepEqual(good.client, { ok: true, peerId: `URI:spiffe://${TD}/ns/default/sa/api` });
  t.deepEqual(good.server, { ok: true, peerId: `spiffe://${TD}/ns/default/sa/web` });

  const expiredClient = await handshake(api, bundle, expired, bundle);
  t.false(expiredClient.server.ok);
  t.regex(expiredClient.server.error ?? '', /certificate has expired|CERT_HAS_EXPIRED/i);
  const expiredServer = await handshake(expired, bundle, web, bundle);
  t.deepEqual(expiredServer.client, { ok: false, error: 'certificate has expired' });

  const unknownClient = await handshake(api, bundle, unknown, bundle);
  t.false(unknownClient.server.ok);
  t.regex(unknownClient.server.error ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  const unknownServer = await handshake(unknown, bundle, web, bundle);
  t.false(unknownServer.client.ok);
  t.regex(unknownServer.client.error ?? '', /unable to verify the first certificate|unable to get local issuer/);

  // Another trust domain: refused by path validation with our bundle, and by SPIFFE leaf validation
  // even when its root is trusted too (federation without an allowance for that trust domain).
  const foreignClient = await handshake(api, bundle, foreign, bundle);
  t.false(foreignClient.server.ok);
  t.regex(foreignClient.server.error ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  const federated = bundle + other.root.pem;
  const foreignTrusted = await handshake(api, federated, foreign, federated);
  t.false(foreignTrusted.server.ok);
  t.is(foreignTrusted.server.error, `the peer's SPIFFE ID spiffe://other.example/ns/default/sa/web is not in trust domain ${TD}`);
  const foreignServer = await handshake(foreign, federated, web, federated);
  t.false(foreignServer.client.ok);
  t.regex(foreignServer.client.error ?? '', /not in trust domain cluster.local/);

  // A CA certificate is not a leaf SVID.
  t.throws(() => validateLeafSvid(ca.intermediate.x509, [TD]), { message: /a CA certificate, not a leaf SVID/ });
});
