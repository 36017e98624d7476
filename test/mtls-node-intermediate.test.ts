// A node's intermediate signed from a request (the Kubernetes mode's CSR flow without the API server): the PKCS#10
// request is checked by openssl and by our parser, the operator's root signs a path-length-0 intermediate constrained
// to the trust domain, and a CA holding only that intermediate (no root key) issues SVIDs that openssl verifies
// against the root, while an SVID of another trust domain under the same intermediate is refused by the name
// constraint. decideCsr approves only a node's own agent. An agent reads the operator's copies of TLS Secrets as
// their sources.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { CertificateAuthority, SigningAuthority } from '../src/mtls/ca.js';
import { buildCsr, parseCsr } from '../src/mtls/csr.js';
import { generateKeyPair, spkiDer } from '../src/mtls/keys.js';
import { buildCertificate, randomSerial } from '../src/mtls/x509.js';
import { decideCsr, MESH_SIGNER_NAME, NODE_LABEL, NODE_NAME_EXTRA } from '../src/kubernetes/mesh-intermediate-signer.js';
import { toManifest } from '../src/kubernetes/source.js';
import { mirrorName, mirroredSecretKind, SOURCE_NAME_ANNOTATION, SOURCE_NAMESPACE_ANNOTATION } from '../src/kubernetes/tls-secret-mirror.js';

const run = promisify(execFile);
const TD = 'cluster.local';
const tmp = mkdtempSync(path.join(tmpdir(), 'weft-node-intermediate-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
};

test('a node\'s PKCS#10 request verifies (openssl and ours); a tampered one does not', async (t) => {
  const keys = generateKeyPair('ec-p256');
  const pem = buildCsr(keys, { organization: 'Weft', commonName: 'node-1' });
  const out = await run('openssl', ['req', '-in', file('req.pem', pem), '-noout', '-verify', '-subject']);
  t.regex(out.stdout + out.stderr, /verify OK/i);
  t.regex(out.stdout, /CN\s*=\s*node-1/);
  t.deepEqual(parseCsr(pem).spki, spkiDer(keys.publicKey));
  // Another key's signature over the same request: no proof of possession.
  const other = buildCsr(generateKeyPair('ec-p256'), { commonName: 'node-1' });
  const der = (p: string) => Buffer.from(p.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
  const forged = Buffer.from(der(pem));
  const sig = der(other).subarray(-20);
  sig.copy(forged, forged.length - 20);
  const forgedPem = `-----BEGIN CERTIFICATE REQUEST-----\n${forged.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.throws(() => parseCsr(forgedPem), { message: /signature does not verify|expected DER tag|truncated/ });
  t.throws(() => parseCsr('nothing'), { message: 'not a PEM CERTIFICATE REQUEST' });
});

test('the root signs a path-length-0 intermediate for the node\'s key; a CA without the root key issues SVIDs that verify against the root only', async (t) => {
  const operatorCa = CertificateAuthority.generate({ trustDomain: TD });
  const keys = generateKeyPair('ec-p256');
  const der = operatorCa.signIntermediate(parseCsr(buildCsr(keys, { commonName: 'node-1' })).spki, 'Weft intermediate CA cluster.local node node-1', 3_600_000);
  const node = CertificateAuthority.ofIntermediate({ trustDomain: TD }, operatorCa.root.pem, new SigningAuthority(der, keys.privateKey));
  t.false(node.renewsIntermediate, 'the node holds no root key');
  t.throws(() => node.root.privateKeyPem(), { message: /its key is not held here/ });
  t.throws(() => node.rotateIntermediate(), { message: /its key is not held here/ });
  const text = (await run('openssl', ['x509', '-in', file('intermediate.pem', node.intermediate.pem), '-noout', '-text'])).stdout;
  t.regex(text, /CA:TRUE, pathlen:0/);
  t.regex(text, /X509v3 Name Constraints: critical\s+Permitted:\s+URI:cluster\.local/);
  t.regex(text, /URI:spiffe:\/\/cluster\.local\s/);
  t.true(node.intermediate.notAfter.getTime() - Date.now() <= 3_600_000);

  const svid = node.issue(`spiffe://${TD}/ns/a/sa/b`);
  const bundle = file('bundle.pem', operatorCa.root.pem);
  const verified = await run('openssl', ['verify', '-CAfile', bundle, '-untrusted', file('chain.pem', toPemOf(svid.chain[1])), file('leaf.pem', toPemOf(svid.chain[0]))]);
  t.regex(verified.stdout, /leaf\.pem: OK/);
  // Against another root: refused.
  const stranger = file('stranger.pem', CertificateAuthority.generate({ trustDomain: TD }).root.pem);
  await t.throwsAsync(run('openssl', ['verify', '-CAfile', stranger, '-untrusted', path.join(tmp, 'chain.pem'), path.join(tmp, 'leaf.pem')]));

  // A leaf of another trust domain signed with the node's intermediate key (what a compromised node could mint): the
  // name constraint makes openssl refuse it.
  const foreignDer = buildCertificate({
    serial: randomSerial(), issuerName: node.intermediate.subjectName, subject: { organization: 'Weft' }, notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 60_000),
    spki: spkiDer(generateKeyPair('ec-p256').publicKey), uriSan: 'spiffe://other.example/ns/a/sa/b', ca: false, keyUsage: ['digitalSignature'], extKeyUsage: ['serverAuth', 'clientAuth'], authorityKeyId: node.intermediate.keyId,
  }, keys.privateKey);
  const refused = await run('openssl', ['verify', '-CAfile', bundle, '-untrusted', path.join(tmp, 'chain.pem'), file('foreign.pem', toPemOf(foreignDer))]).then((r) => r.stdout, (err: { stdout?: string; stderr?: string }) => `${err.stdout}${err.stderr}`);
  t.regex(refused, /name constraint|permitted subtree/i);

  // An intermediate of another root is refused as a replacement.
  const elsewhere = CertificateAuthority.generate({ trustDomain: TD });
  const otherKeys = generateKeyPair('ec-p256');
  t.throws(() => node.replaceIntermediate(new SigningAuthority(elsewhere.signIntermediate(spkiDer(otherKeys.publicKey), 'x'), otherKeys.privateKey)), { message: /not signed by the root/ });
});

function toPemOf(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`.replace('\n\n', '\n');
}

test('decideCsr approves the agent ServiceAccount of the node the request names, and denies anyone else', (t) => {
  const agent = 'system:serviceaccount:weft-system:weft-agent';
  const csr = (over: { username?: string; node?: string; bound?: string[]; signer?: string; expirationSeconds?: number }): k8s.V1CertificateSigningRequest => ({
    metadata: { name: 'x', labels: over.node === undefined ? {} : { [NODE_LABEL]: over.node } },
    spec: { request: '', signerName: over.signer ?? MESH_SIGNER_NAME, username: over.username ?? agent, extra: over.bound ? { [NODE_NAME_EXTRA]: over.bound } : {}, ...(over.expirationSeconds ? { expirationSeconds: over.expirationSeconds } : {}) },
  });
  t.deepEqual(decideCsr(csr({ node: 'node-1', bound: ['node-1'], expirationSeconds: 3600 }), { agentUsername: agent }), { approve: true, node: 'node-1', ttlMs: 3_600_000 });
  t.like(decideCsr(csr({ node: 'node-1', bound: ['node-1'], expirationSeconds: 10 * 24 * 3600 }), { agentUsername: agent }), { approve: true, ttlMs: 24 * 3_600_000 }, 'capped at 24 h');
  t.like(decideCsr(csr({ node: 'node-1', bound: ['node-2'] }), { agentUsername: agent }), { approve: false, reason: 'the requester\'s token is bound to node node-2, not node-1: only a node\'s own agent may ask for its intermediate' });
  const unbound = decideCsr(csr({ node: 'node-1' }), { agentUsername: agent });
  t.regex(unbound.approve ? '' : unbound.reason, /bound to node \(none\)/, 'a token bound to no node (a plain ServiceAccount token)');
  t.like(decideCsr(csr({ node: 'node-1', bound: ['node-1'], username: 'system:serviceaccount:default:default' }), { agentUsername: agent }), { approve: false });
  t.like(decideCsr(csr({ bound: ['node-1'] }), { agentUsername: agent }), { approve: false });
});

test('an agent reads a TLS Secret\'s copy in the secrets namespace as its source; objects that are no faithful copy keep their own name', (t) => {
  const kind = mirroredSecretKind('weft-secrets');
  t.like(kind, { namespace: 'weft-secrets', fieldSelector: 'type=kubernetes.io/tls', mirrored: true });
  const copy = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' },
    metadata: { name: 'shop.site-tls', namespace: 'weft-secrets', annotations: { [SOURCE_NAMESPACE_ANNOTATION]: 'shop', [SOURCE_NAME_ANNOTATION]: 'site-tls' } } };
  const m = toManifest(kind, copy);
  t.like(m, { kind: 'Secret', metadata: { namespace: 'shop', name: 'site-tls' }, data: { 'tls.crt': 'Y2VydA==' } });
  // Annotations that do not match the copy's name (someone else's object in the namespace) are not believed.
  const odd = { ...copy, metadata: { ...copy.metadata, name: 'other' } };
  t.like(toManifest(kind, odd), { metadata: { namespace: 'weft-secrets', name: 'other' } });
  t.is(mirrorName('a'.repeat(63), 'b'.repeat(200)), undefined, 'longer than a Secret name may be');
});
