// Mutual TLS between relay, agents and clients, from X.509-SVIDs of Weft's CA (src/mtls): each side
// presents its SVID and accepts only a peer whose chain leads to the trust bundle and whose SPIFFE ID is
// in the same trust domain. SVIDs carry no DNS name, so the server check is on the URI SAN, not the host.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { X509Svid } from '../mtls/svid.js';
import { parseSpiffeId } from '../mtls/spiffe-id.js';

export interface MtlsMaterial {
  chainPem: string;
  keyPem: string;
  bundlePem: string;
  /** Our own trust domain (from our SVID): peers must be in it. */
  trustDomain: string;
}

function trustDomainOf(chainPem: string, source: string): string {
  const uri = new X509Certificate(chainPem).subjectAltName?.split(', ').find((s) => s.startsWith('URI:spiffe://'));
  if (!uri) throw new Error(`${source}: the certificate has no spiffe:// URI SAN (not an X.509-SVID)`);
  return parseSpiffeId(uri.slice(4)).trustDomain;
}

/** The files `weft ca issue --out DIR` writes: svid.pem (chain), svid.key, bundle.pem. */
export function mtlsFromDir(dir: string): MtlsMaterial {
  const read = (name: string): string => {
    try {
      return readFileSync(path.join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(`TLS directory ${dir}: cannot read ${name} (${(err as Error).message}); \`weft ca issue --out ${dir}\` writes svid.pem, svid.key and bundle.pem`, { cause: err });
    }
  };
  const chainPem = read('svid.pem');
  return { chainPem, keyPem: read('svid.key'), bundlePem: read('bundle.pem'), trustDomain: trustDomainOf(chainPem, path.join(dir, 'svid.pem')) };
}

export function mtlsFromSvid(svid: X509Svid, bundlePem: string): MtlsMaterial {
  return { chainPem: svid.chainPem(), keyPem: svid.privateKeyPem(), bundlePem, trustDomain: svid.id.trustDomain };
}

function spiffeIdOf(cert: PeerCertificate | undefined): string | undefined {
  const uri = cert?.subjectaltname?.split(', ').find((s) => s.startsWith('URI:spiffe://'));
  return uri?.slice(4);
}

export function serverCredentials(m: MtlsMaterial): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(Buffer.from(m.bundlePem), [{ cert_chain: Buffer.from(m.chainPem), private_key: Buffer.from(m.keyPem) }], true);
}

export function clientCredentials(m: MtlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(m.bundlePem), Buffer.from(m.keyPem), Buffer.from(m.chainPem), {
    checkServerIdentity: (_host, cert) => {
      const id = spiffeIdOf(cert);
      if (!id) return new Error('the server presented no SPIFFE ID');
      if (parseSpiffeId(id).trustDomain !== m.trustDomain) return new Error(`the server's SPIFFE ID ${id} is not in trust domain ${m.trustDomain}`);
      return undefined;
    },
  });
}

/** The calling peer's SPIFFE ID if it is in our trust domain (the chain itself TLS has verified). */
export function authorizedPeer(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>, m: MtlsMaterial): string | undefined {
  const id = spiffeIdOf(call.getAuthContext()?.sslPeerCertificate);
  if (!id) return undefined;
  try {
    return parseSpiffeId(id).trustDomain === m.trustDomain ? id : undefined;
  } catch {
    return undefined;
  }
}
