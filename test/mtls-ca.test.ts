// The CA and its X.509-SVIDs, checked by parsers that are not ours: openssl (x509 -text, verify) and
// Node's X509Certificate; refusals by openssl verify and by Node's TLS stack.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import { CertificateAuthority, HOUR_MS, uriSans } from '../src/mtls/ca.js';
import { ROOT_CERT_FILE, ROOT_KEY_FILE, loadOrCreateCa } from '../src/mtls/ca-store.js';
import { TrustDomainAuthority } from '../src/mtls/trust-bundle.js';
import { buildCertificate, randomSerial, subjectNameOf, toPem } from '../src/mtls/x509.js';
import { generateKeyPair, spkiDer } from '../src/mtls/keys.js';
import type { X509Svid } from '../src/mtls/svid.js';

const TD = 'cluster.local';
const WEB = `spiffe://${TD}/ns/default/sa/web`;

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-mtls-ca-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `openssl verify` of a leaf against a CA file, with the intermediates as untrusted; '' when OK, else openssl's error. */
function opensslVerify(dir: string, bundlePem: string, svid: X509Svid, extra: string[] = []): string {
  const ca = path.join(dir, `bundle-${Math.random()}.pem`);
  const inter = path.join(dir, `inter-${Math.random()}.pem`);
  const leaf = path.join(dir, `leaf-${Math.random()}.pem`);
  writeFileSync(ca, bundlePem);
  writeFileSync(inter, svid.chain.slice(1).map(toPem).join(''));
  writeFileSync(leaf, toPem(svid.certificateDer));
  try {
    const out = execFileSync('openssl', ['verify', ...extra, '-CAfile', ca, '-untrusted', inter, leaf], { stdio: 'pipe' }).toString();
    return out.trim() === `${leaf}: OK` ? '' : out;
  } catch (err) {
    return `${(err as { stdout: Buffer }).stdout.toString()}${(err as { stderr: Buffer }).stderr.toString()}`;
  }
}

function opensslText(der: Buffer): string {
  return execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-text'], { input: der }).toString();
}

/** The lines of an extension in `openssl x509 -text`: its header (with ": critical" when it is) and its value. */
function extensionOf(text: string, name: string): { critical: boolean; value: string } | undefined {
  const m = new RegExp(`X509v3 ${name}:( critical)?\\s*\\n\\s*(.*)`).exec(text);
  return m ? { critical: m[1] !== undefined, value: m[2].trim() } : undefined;
}

test('an X.509-SVID has every field the SPIFFE X.509-SVID spec requires (openssl and Node parse it)', (t) => {
  const ca = CertificateAuthority.generate({ trustDomain: TD });
  const svid = ca.issue(WEB);
  const leaf = new X509Certificate(svid.certificateDer);
  // Node's parser.
  t.deepEqual(uriSans(leaf), [WEB], 'exactly one URI SAN, the SPIFFE ID');
  t.is(leaf.subjectAltName, `URI:${WEB}`, 'no other SAN, no wildcard');
  t.false(leaf.ca);
  t.deepEqual(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extended key usage serverAuth and clientAuth');
  t.is(leaf.publicKey.asymmetricKeyType, 'ec');
  t.is(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'ECDSA P-256');
  t.true(leaf.checkIssued(ca.intermediate.x509));
  t.true(leaf.verify(ca.intermediate.x509.publicKey));
  t.true(leaf.checkPrivateKey(createPrivateKey(svid.privateKeyPem())));
  const lifetime = new Date(leaf.validTo).getTime() - Date.now();
  t.true(lifetime > HOUR_MS - 60_000 && lifetime <= HOUR_MS + 1000, `lifetime 1 h (${lifetime} ms left)`);
  t.true(Math.abs(svid.renewAt().getTime() - (Date.now() + HOUR_MS / 2)) < 60_000, 'renewal at half-life');
  // openssl's parser.
  const text = opensslText(svid.certificateDer);
  t.deepEqual(extensionOf(text, 'Basic Constraints'), { critical: true, value: 'CA:FALSE' });
  t.deepEqual(extensionOf(text, 'Key Usage'), { critical: true, value: 'Digital Signature' }, 'digitalSignature only: no keyCertSign, no cRLSign');
  t.deepEqual(extensionOf(text, 'Extended Key Usage'), { critical: false, value: 'TLS Web Server Authentication, TLS Web Client Authentication' });
  t.deepEqual(extensionOf(text, 'Subject Alternative Name'), { critical: false, value: `URI:${WEB}` });
  t.regex(text, /Version: 3 \(0x2\)/);
  t.regex(text, /Signature Algorithm: ecdsa-with-SHA256/);
  t.regex(text, /Subject: O = Weft\n/, 'a non-empty subject, so the SAN may be non-critical (RFC 5280 §4.2.1.6)');

  // The signing certificates: CA=true, keyCertSign (and cRLSign), the trust domain's ID without a path.
  for (const [name, cert, pathLen] of [['intermediate', ca.intermediate, ', pathlen:0'], ['root', ca.root, '']] as const) {
    const caText = opensslText(cert.certDer);
    t.true(cert.x509.ca, `${name} is a CA`);
    t.deepEqual(extensionOf(caText, 'Basic Constraints'), { critical: true, value: `CA:TRUE${pathLen}` }, name);
    t.deepEqual(extensionOf(caText, 'Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' }, name);
    t.deepEqual(uriSans(cert.x509), [`spiffe://${TD}`], `${name} carries the trust domain's SPIFFE ID`);
  }
  t.true(ca.root.x509.checkIssued(ca.root.x509), 'the root is self-signed');
  t.true(ca.intermediate.x509.checkIssued(ca.root.x509));
  t.is(opensslVerify(tmp(t), ca.root.pem, svid), '', 'openssl verify -CAfile root -untrusted intermediate leaf');
  // A leaf cannot sign: openssl refuses a chain in which the leaf acts as a CA.
  const childKeys = generateKeyPair();
  const childDer = buildCertificate(
    {
      serial: randomSerial(), issuerName: subjectNameOf(svid.certificateDer), subject: { commonName: 'child' }, notBefore: new Date(Date.now() - 1000),
      notAfter: new Date(Date.now() + HOUR_MS), spki: spkiDer(childKeys.publicKey), uriSan: `${WEB}-child`, ca: false, keyUsage: ['digitalSignature'],
    },
    createPrivateKey(svid.privateKeyPem()),
  );
  t.true(new X509Certificate(childDer).verify(leaf.publicKey), 'the child is signed by the leaf');
  const child = { chain: [childDer, ...svid.chain], certificateDer: childDer } as unknown as X509Svid;
  t.regex(opensslVerify(tmp(t), ca.root.pem, child), /invalid CA certificate/, 'a certificate signed by a leaf does not verify');
});

test('serial numbers are unique and positive; RSA 2048 on request; IDs outside the trust domain or without a path are not issued', (t) => {
  const ca = CertificateAuthority.generate({ trustDomain: TD });
  const serials = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const s = ca.issue(WEB);
    const serial = new X509Certificate(s.certificateDer).serialNumber;
    serials.add(serial);
    t.is(serial.toLowerCase(), s.serialHex);
    if (parseInt(serial.slice(0, 2), 16) >= 0x80) t.fail(`serial ${serial} would be negative`);
  }
  t.is(serials.size, 500);
  const rsa = ca.issue(WEB, { keyAlgorithm: 'rsa-2048' });
  t.is(new X509Certificate(rsa.certificateDer).publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.is(opensslVerify(tmp(t), ca.root.pem, rsa), '');
  t.throws(() => ca.issue('spiffe://other.example/ns/default/sa/web'), { message: /not in trust domain cluster.local/ });
  t.throws(() => ca.issue(`spiffe://${TD}`), { message: /needs a path/ });
  t.throws(() => ca.issue(`spiffe://${TD}/ns/default/sa/*`), { message: /character "\*"/ }, 'no wildcard');
  t.throws(() => ca.issue(WEB, { ttlMs: 0 }), { message: /lifetime must be positive/ });
  t.throws(() => CertificateAuthority.generate({ trustDomain: 'Cluster.Local' }), { message: /trust domain "Cluster.Local": .*character "C"/ });
});

test('refused by openssl verify: another trust domain, an expired SVID, an unknown CA; a retired root stops verifying after the overlap', (t) => {
  const dir = tmp(t);
  let caNow = Date.now() - 3 * HOUR_MS;
  const ca = CertificateAuthority.generate({ trustDomain: TD, now: () => new Date(caNow) });
  const expired = ca.issue(WEB);
  caNow = Date.now();
  const other = CertificateAuthority.generate({ trustDomain: 'other.example' });
  const unknown = CertificateAuthority.generate({ trustDomain: TD });

  t.is(opensslVerify(dir, ca.root.pem, ca.issue(WEB)), '');
  t.regex(opensslVerify(dir, ca.root.pem, other.issue('spiffe://other.example/ns/default/sa/web')), /unable to get local issuer certificate/);
  t.regex(opensslVerify(dir, ca.root.pem, expired), /certificate has expired/);
  t.regex(opensslVerify(dir, ca.root.pem, unknown.issue(WEB)), /unable to get local issuer certificate/);

  // CA rotation: both roots in the bundle for the overlap, so SVIDs of either verify; then the old root goes.
  let now = Date.now();
  const clock = (): Date => new Date(now);
  const first = CertificateAuthority.generate({ trustDomain: TD, now: clock });
  const authority = new TrustDomainAuthority(first);
  const before = first.issue(WEB);
  authority.rotate(CertificateAuthority.generate({ trustDomain: TD, now: clock }));
  const after = authority.ca.issue(WEB);
  t.is(authority.roots().length, 2);
  t.is(opensslVerify(dir, authority.bundlePem(), before), '', 'an SVID of the old root verifies during the overlap');
  t.is(opensslVerify(dir, authority.bundlePem(), after), '');
  now += HOUR_MS + 1000;
  t.is(authority.roots().length, 1, 'the old root leaves the bundle once every SVID it chains has expired');
  t.regex(opensslVerify(dir, authority.bundlePem(), before, ['-attime', String(Math.floor(Date.now() / 1000))]), /unable to get local issuer certificate/);
  t.is(opensslVerify(dir, authority.bundlePem(), after), '');
  // Revocation drops a retired root at once.
  authority.rotate(CertificateAuthority.generate({ trustDomain: TD, now: clock }));
  const retired = authority.roots()[1];
  authority.revoke(retired.x509.fingerprint256);
  t.regex(opensslVerify(dir, authority.bundlePem(), after), /unable to get local issuer certificate/);
  t.throws(() => authority.revoke(authority.ca.root.x509.fingerprint256), { message: /cannot revoke the root that issues SVIDs/ });
});

test('CA key material at rest: a 0700 directory, 0600 files, reloaded on the next start; a supplied root is used and checked', (t) => {
  const base = tmp(t);
  const dir = path.join(base, 'ca');
  const first = loadOrCreateCa(dir, { trustDomain: TD });
  t.true(first.created);
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.deepEqual(readdirSync(dir).sort(), [ROOT_CERT_FILE, ROOT_KEY_FILE]);
  for (const f of readdirSync(dir)) t.is(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  const again = loadOrCreateCa(dir, { trustDomain: TD });
  t.false(again.created);
  t.is(again.ca.root.x509.fingerprint256, first.ca.root.x509.fingerprint256, 'the same root after a restart');
  t.not(again.ca.intermediate.x509.fingerprint256, first.ca.intermediate.x509.fingerprint256, 'a new intermediate each start');
  t.is(opensslVerify(base, first.ca.root.pem, again.ca.issue(WEB)), '');

  chmodSync(path.join(dir, ROOT_KEY_FILE), 0o644);
  t.throws(() => loadOrCreateCa(dir, { trustDomain: TD }), { message: /root\.key: the CA key must not be accessible by group or others \(mode 0644/ });
  chmodSync(dir, 0o755);
  chmodSync(path.join(dir, ROOT_KEY_FILE), 0o600);
  loadOrCreateCa(dir, { trustDomain: TD });
  t.is(statSync(dir).mode & 0o777, 0o700, 'a looser directory is tightened');

  // A root made by openssl, supplied by the user.
  const key = path.join(base, 'user.key');
  const cert = path.join(base, 'user.crt');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '30',
    '-subj', '/O=Example/CN=Example root', '-addext', `subjectAltName=URI:spiffe://${TD}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], { stdio: 'pipe' });
  chmodSync(key, 0o600);
  const supplied = loadOrCreateCa(path.join(base, 'unused'), { trustDomain: TD }, { cert, key });
  t.is(supplied.ca.root.x509.fingerprint256, new X509Certificate(readFileSync(cert)).fingerprint256);
  t.is(opensslVerify(base, readFileSync(cert, 'utf8'), supplied.ca.issue(WEB)), '', 'SVIDs chain to the supplied root');
  t.throws(() => loadOrCreateCa(base, { trustDomain: 'other.example' }, { cert, key }), { message: /its SPIFFE ID spiffe:\/\/cluster.local is not of trust domain other.example/ });
  const leafAsRoot = path.join(base, 'leaf.crt');
  writeFileSync(leafAsRoot, supplied.ca.issue(WEB).chainPem());
  const leafKey = path.join(base, 'leaf.key');
  writeFileSync(leafKey, readFileSync(key), { mode: 0o600 });
  t.throws(() => loadOrCreateCa(base, { trustDomain: TD }, { cert: leafAsRoot, key: leafKey }), { message: /the key does not match the certificate/ });
  writeFileSync(path.join(base, 'garbage.crt'), 'not a certificate');
  t.throws(() => loadOrCreateCa(base, { trustDomain: TD }, { cert: path.join(base, 'garbage.crt'), key }), { message: /garbage\.crt .* certificate: not a PEM X\.509 certificate/ });
});

test('private keys never reach logs, JSON or inspection', (t) => {
  const ca = CertificateAuthority.generate({ trustDomain: TD });
  const svid = ca.issue(WEB);
  const secrets = [svid.privateKeyPem(), ca.root.privateKeyPem(), ca.intermediate.privateKeyPem()];
  const secretBodies = secrets.map((pem) => pem.split('\n')[1]).concat(svid.privateKeyDer().toString('base64').slice(0, 40));
  let logged = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { logged += chunk.toString(); done(); } });
  const log = pino({ level: 'trace' }, sink);
  log.info({ svid, ca, root: ca.root, intermediate: ca.intermediate }, 'issued');
  log.info(`svid ${String(svid as unknown as string)} ${inspect(svid)} ${inspect(ca, { depth: 10 })} ${JSON.stringify({ svid, ca })}`);
  t.true(logged.includes(WEB), 'the log does say what was issued');
  t.true(logged.includes('[redacted]'));
  t.false(logged.includes('PRIVATE KEY'));
  for (const body of secretBodies) t.false(logged.includes(body), 'no key bytes in the log');
});
