// PKCS#10 certification requests (RFC 2986), as a node agent sends one for its intermediate CA: the agent proves it
// holds the private key (the request is signed with it) and the key never leaves the node. The signer decides every
// other field of the certificate itself, so a request carries only a subject and the public key, and parsing returns
// only the public key (after checking the signature).
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { spkiDer, type KeyPair } from './keys.js';
import { encodeName, OID, type NameAttributes } from './x509.js';

const { asn1 } = forge;
const bin = (b: Buffer): string => b.toString('latin1');
const der = (a: forge.asn1.Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'latin1');

/** A PEM CERTIFICATE REQUEST for `keys`, signed with its private key (ECDSA P-256 with SHA-256). */
export function buildCsr(keys: KeyPair, subject: NameAttributes): string {
  if (keys.privateKey.asymmetricKeyType !== 'ec') throw new Error('a certification request is signed with an EC P-256 key here');
  const info = der(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(0).getBytes()), // version 1
    asn1.fromDer(bin(encodeName(subject))),
    asn1.fromDer(bin(spkiDer(keys.publicKey))),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []), // attributes: none
  ]));
  const algorithm = der(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID.ecdsaWithSha256).getBytes()),
  ]));
  const signature = der(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\x00${bin(sign('sha256', info, keys.privateKey))}`));
  const body = Buffer.concat([info, algorithm, signature]);
  const request = Buffer.concat([derHeader(0x30, body.length), body]);
  return `-----BEGIN CERTIFICATE REQUEST-----\n${request.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE REQUEST-----\n`;
}

export interface ParsedCsr {
  /** The requested key's SubjectPublicKeyInfo, DER. */
  spki: Buffer;
  publicKey: KeyObject;
}

/** The public key of a PEM CERTIFICATE REQUEST whose signature verifies; throws saying what is wrong. */
export function parseCsr(pem: string): ParsedCsr {
  const m = /-----BEGIN CERTIFICATE REQUEST-----([\s\S]+?)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new Error('not a PEM CERTIFICATE REQUEST');
  const request = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  const outer = tlv(request, 0, 0x30, 'CertificationRequest');
  const info = tlv(request, outer.contentStart, 0x30, 'certificationRequestInfo');
  const algorithm = tlv(request, info.end, 0x30, 'signatureAlgorithm');
  const signature = tlv(request, algorithm.end, 0x03, 'signature');
  const version = tlv(request, info.contentStart, 0x02, 'version');
  const subject = tlv(request, version.end, 0x30, 'subject');
  const spkiTlv = tlv(request, subject.end, 0x30, 'subjectPKInfo');
  const spki = request.subarray(spkiTlv.start, spkiTlv.end);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new Error(`subjectPKInfo is not a public key: ${(err as Error).message}`, { cause: err });
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`the requested key must be EC P-256, not ${publicKey.asymmetricKeyType} ${publicKey.asymmetricKeyDetails?.namedCurve ?? ''}`.trimEnd());
  }
  const algorithmOid = asn1.derToOid(asn1.fromDer(bin(request.subarray(algorithm.contentStart, algorithm.end))).value as string);
  if (algorithmOid !== OID.ecdsaWithSha256) throw new Error(`the signature algorithm must be ecdsa-with-SHA256 (${OID.ecdsaWithSha256}), not ${algorithmOid}`);
  const bits = request.subarray(signature.contentStart, signature.end);
  if (bits[0] !== 0 || !verify('sha256', request.subarray(info.start, info.end), publicKey, bits.subarray(1))) {
    throw new Error('the signature does not verify with the requested key (no proof of possession)');
  }
  return { spki: Buffer.from(spki), publicKey };
}

interface Tlv {
  start: number;
  contentStart: number;
  end: number;
}

/** The DER element at `offset`, which must have tag `tag`. */
function tlv(buf: Buffer, offset: number, tag: number, what: string): Tlv {
  if (buf[offset] !== tag) throw new Error(`${what}: expected DER tag 0x${tag.toString(16)} at offset ${offset}`);
  let length = buf[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3) throw new Error(`${what}: unsupported DER length`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[contentStart + i];
    contentStart += n;
  }
  const end = contentStart + length;
  if (Number.isNaN(length) || end > buf.length) throw new Error(`${what}: truncated`);
  return { start: offset, contentStart, end };
}

function derHeader(tag: number, n: number): Buffer {
  return n < 0x80 ? Buffer.from([tag, n]) : n < 0x100 ? Buffer.from([tag, 0x81, n]) : Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
}
