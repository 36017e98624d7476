// A small X.509 v3 certificate builder: node-forge's asn1 module encodes the TBSCertificate, Node's
// crypto (OpenSSL) makes keys and signs. node-forge's own pki cannot sign with ECDSA and generates
// RSA keys in JavaScript (~100× slower; see bench/mtls.ts), so only its DER encoder is used here.
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { p256Point } from './keys.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  nameConstraints: '2.5.29.30',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Key usage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first octet. */
export const KeyUsage = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 } as const;
export type KeyUsageName = keyof typeof KeyUsage;

export interface NameAttributes {
  organization?: string;
  commonName?: string;
}

export interface CertificateTemplate {
  serial: Buffer;
  /** DER of the issuer's Name (its certificate's subject, byte for byte). */
  issuerName: Buffer;
  subject: NameAttributes;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER of the certified key. */
  spki: Buffer;
  uriSan: string;
  ca: boolean;
  pathLen?: number;
  keyUsage: KeyUsageName[];
  extKeyUsage?: Array<'serverAuth' | 'clientAuth'>;
  /** The issuer's subject key identifier (omitted on a self-signed root). */
  authorityKeyId?: Buffer;
  /**
   * A CA's name constraints: the only URI hosts the certificates below it may name (RFC 5280 §4.2.1.10; a SPIFFE ID's
   * host is its trust domain), critical as the RFC requires.
   */
  permittedUriHosts?: string[];
}

const bin = (b: Buffer): string => b.toString('latin1');
const seq = (items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const oid = (o: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
const octets = (b: Buffer): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bin(b));
const der = (a: Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'latin1');

function integer(n: number | Buffer): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, typeof n === 'number' ? asn1.integerToDer(n).getBytes() : bin(n));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Asn1 {
  return d.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

/** A DER Name with the given attributes, each in its own RDN. */
export function encodeName(attrs: NameAttributes): Buffer {
  const rdns: Asn1[] = [];
  const add = (o: string, v: string | undefined): void => {
    if (v === undefined) return;
    rdns.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [seq([oid(o), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(v))])]));
  };
  add(OID.organization, attrs.organization);
  add(OID.commonName, attrs.commonName);
  return der(seq(rdns));
}

const encodedNames = new Map<string, Buffer>();
function encodedName(attrs: NameAttributes): Buffer {
  const key = `${attrs.organization ?? ''}\u0000${attrs.commonName ?? ''}`;
  let der = encodedNames.get(key);
  if (!der) {
    der = encodeName(attrs);
    if (encodedNames.size > 1000) encodedNames.clear();
    encodedNames.set(key, der);
  }
  return der;
}

/** DER of a named BIT STRING: trailing zero bits dropped, as DER requires (X.690 §11.2.2). */
function namedBits(bits: number[]): Asn1 {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
  const unused = 7 - (highest & 7);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  // DER omits a BOOLEAN that equals its DEFAULT (critical DEFAULT FALSE).
  if (critical) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff'));
  parts.push(octets(der(value)));
  return seq(parts);
}

/** The key identifier of RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const point = p256Point(spki);
  if (point) return createHash('sha1').update(point).digest();
  const parsed = asn1.fromDer(bin(spki));
  const bitString = (parsed.value as Asn1[])[1];
  const raw = Buffer.from((bitString as Asn1 & { bitStringContents?: string }).bitStringContents ?? (bitString.value as string), 'latin1');
  return createHash('sha1').update(raw.subarray(1)).digest();
}

function algorithmFor(key: KeyObject): { identifier: Asn1; digest: string } {
  if (key.asymmetricKeyType === 'ec') return { identifier: seq([oid(OID.ecdsaWithSha256)]), digest: 'sha256' };
  if (key.asymmetricKeyType === 'rsa') {
    return { identifier: seq([oid(OID.sha256WithRsa), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), digest: 'sha256' };
  }
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
}

/** A positive serial of 16 random octets (RFC 5280 §4.1.2.2 allows up to 20): collisions are 2^-64 unlikely after 2^32 certificates. */
export function randomSerial(): Buffer {
  const s = randomBytes(16);
  s[0] = (s[0] & 0x7f) | 0x01; // positive and no leading zero octet
  return s;
}

/** Prefixes `content` with a DER SEQUENCE header. */
function derSequence(content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([0x30]), len, content]);
}

/** Parsed Names by their DER: issuers and leaf subjects repeat, so each is parsed once. */
const parsedNames = new Map<string, Asn1>();
function parsedName(nameDer: Buffer): Asn1 {
  const key = bin(nameDer);
  let parsed = parsedNames.get(key);
  if (!parsed) {
    parsed = asn1.fromDer(key);
    if (parsedNames.size > 1000) parsedNames.clear();
    parsedNames.set(key, parsed);
  }
  return parsed;
}

/** Encodes the template as a TBSCertificate, signs it with `issuerKey`, and returns the certificate's DER. */
export function buildCertificate(t: CertificateTemplate, issuerKey: KeyObject): Buffer {
  const alg = algorithmFor(issuerKey);
  const extensions: Asn1[] = [];
  const basic: Asn1[] = [];
  if (t.ca) basic.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff'));
  if (t.ca && t.pathLen !== undefined) basic.push(integer(t.pathLen));
  extensions.push(extension(OID.basicConstraints, true, seq(basic)));
  extensions.push(extension(OID.keyUsage, true, namedBits(t.keyUsage.map((u) => KeyUsage[u]))));
  if (t.extKeyUsage?.length) extensions.push(extension(OID.extKeyUsage, false, seq(t.extKeyUsage.map((u) => oid(OID[u])))));
  extensions.push(extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(t.spki))));
  if (t.authorityKeyId) {
    extensions.push(extension(OID.authorityKeyIdentifier, false, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, bin(t.authorityKeyId))])));
  }
  if (t.permittedUriHosts?.length) {
    // NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees }; GeneralSubtree ::= SEQUENCE { base GeneralName }.
    const subtrees = t.permittedUriHosts.map((host) => seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, host)]));
    extensions.push(extension(OID.nameConstraints, true, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, subtrees)])));
  }
  const subjectName = encodedName(t.subject);
  // The subject is never empty here, so the SAN need not be critical (RFC 5280 §4.2.1.6).
  extensions.push(extension(OID.subjectAltName, false, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, t.uriSan)])));

  const tbs = der(
    seq([
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [integer(2)]), // v3
      integer(t.serial),
      alg.identifier,
      parsedName(t.issuerName),
      seq([time(t.notBefore), time(t.notAfter)]),
      parsedName(subjectName),
      asn1.fromDer(bin(t.spki)),
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(extensions)]),
    ]),
  );
  const signature = sign(alg.digest, tbs, issuerKey);
  const bitString = der(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\x00${bin(signature)}`));
  return derSequence(Buffer.concat([tbs, der(alg.identifier), bitString]));
}

/** The subject Name DER of a certificate (so that children name their issuer byte for byte). */
export function subjectNameOf(certDer: Buffer): Buffer {
  const cert = asn1.fromDer(bin(certDer));
  const tbs = (cert.value as Asn1[])[0].value as Asn1[];
  const offset = tbs[0].tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0; // the optional [0] version
  return der(tbs[offset + 4]);
}

export function toPem(certDer: Buffer): string {
  const b64 = certDer.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
