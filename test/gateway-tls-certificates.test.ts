// src/tls/certificates.ts against real openssl output: what a kubernetes.io/tls Secret or a CA ConfigMap
// must hold, with the error for each way it can be wrong, and no key material in any message.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { caBundleFromConfigMap, checkKeyPair, keyPairFromSecret } from '../src/tls/certificates.js';
import { CertFactory } from './helpers/tls.js';

const certs = new CertFactory();
test.after.always(() => certs.close());
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('a good key pair (EC and RSA, leaf + intermediate chain) passes and reports its DNS names', (t) => {
  const ca = certs.ca('chain-ca');
  for (const type of ['ec', 'rsa'] as const) {
    const leaf = certs.leaf('a.example.com', ['a.example.com', '*.b.example.com'], { ca, type });
    const chain = `${leaf.cert}${ca.cert}`;
    const r = keyPairFromSecret({ type: 'kubernetes.io/tls', data: { 'tls.crt': b64(chain), 'tls.key': b64(leaf.key) } });
    t.true('ok' in r, JSON.stringify(r));
    if ('ok' in r) {
      t.deepEqual(r.ok.dnsNames, ['a.example.com', '*.b.example.com']);
      t.is(r.ok.certificateChain, chain);
    }
  }
  // stringData (as kubectl accepts it) works too.
  const leaf = certs.leaf('s.example.com', ['s.example.com']);
  t.true('ok' in keyPairFromSecret({ type: 'kubernetes.io/tls', stringData: { 'tls.crt': leaf.cert, 'tls.key': leaf.key } }));
});

test('each way a Secret can be wrong has its own message, none quoting the key', (t) => {
  const a = certs.leaf('a.example.com', ['a.example.com']);
  const other = certs.leaf('o.example.com', ['o.example.com']);
  const encKey = path.join(certs.dir, 'enc.key');
  execFileSync('openssl', ['pkey', '-out', encKey, '-aes256', '-passout', 'pass:secret'], { input: a.key, stdio: ['pipe', 'pipe', 'pipe'] });
  const cases: Array<[string, Parameters<typeof keyPairFromSecret>[0], RegExp]> = [
    ['wrong type', { type: 'Opaque', data: { 'tls.crt': b64(a.cert), 'tls.key': b64(a.key) } }, /is of type Opaque, not kubernetes.io\/tls/],
    ['no tls.crt', { type: 'kubernetes.io/tls', data: { 'tls.key': b64(a.key) } }, /has no tls\.crt/],
    ['no tls.key', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(a.cert) } }, /has no tls\.key/],
    ['not PEM', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64('hello'), 'tls.key': b64(a.key) } }, /no PEM certificate found/],
    ['key swapped for the certificate', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(a.key), 'tls.key': b64(a.cert) } }, /no PEM certificate found/],
    ['key of another certificate', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(a.cert), 'tls.key': b64(other.key) } }, /does not match/],
    ['encrypted key', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(a.cert), 'tls.key': b64(readFileSync(encKey, 'utf8')) } }, /not a valid PEM private key \(or it is encrypted\)/],
    ['garbage key', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(a.cert), 'tls.key': b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n') } }, /not a valid PEM private key/],
  ];
  const keyLines = [a.key, other.key].flatMap((k) => k.split('\n').filter((l) => l && !l.startsWith('-----')));
  for (const [name, secret, expected] of cases) {
    const r = keyPairFromSecret(secret);
    t.true('error' in r, name);
    if (!('error' in r)) continue;
    t.regex(r.error, expected, name);
    for (const line of keyLines) t.false(r.error.includes(line), `${name}: the message quotes key material`);
  }
});

test('validity: not yet valid and expired are refused at the given time', (t) => {
  const a = certs.leaf('a.example.com', ['a.example.com']);
  t.regex((checkKeyPair(a.cert, a.key, new Date(Date.now() + 10 * 86400_000)) as { error: string }).error, /has expired/);
  t.regex((checkKeyPair(a.cert, a.key, new Date(Date.now() - 10 * 86400_000)) as { error: string }).error, /not valid yet/);
});

test('CA bundles: ca.crt must hold parseable certificates', (t) => {
  const ca1 = certs.ca('ca-1');
  const ca2 = certs.ca('ca-2');
  t.deepEqual(caBundleFromConfigMap({ data: { 'ca.crt': `${ca1.cert}${ca2.cert}` } }), { ok: `${ca1.cert}${ca2.cert}` });
  t.deepEqual(caBundleFromConfigMap({ data: {} }), { error: 'has no ca.crt' });
  t.deepEqual(caBundleFromConfigMap({ data: { 'ca.crt': 'nope' } }), { error: 'ca.crt: no PEM certificate found' });
  const broken = ca1.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\n####################');
  t.deepEqual(caBundleFromConfigMap({ data: { 'ca.crt': broken } }), { error: 'ca.crt: certificate 1 of the bundle is not a valid X.509 certificate' });
});
