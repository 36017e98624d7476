// X.509-SVID leaf validation (X.509-SVID spec §5.2), on top of the X.509 path validation the TLS
// stack does: the peer's certificate must be a leaf (cA false; neither keyCertSign nor cRLSign, which
// Node does not expose, so a CA certificate is recognised by cA alone), carry exactly one URI SAN,
// a valid spiffe:// ID with a non-root path, in an accepted trust domain.
import type { X509Certificate } from 'node:crypto';
import { uriSans } from './ca.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';

export function validateLeafSvid(cert: X509Certificate, trustDomains: readonly string[]): SpiffeId {
  if (cert.ca) throw new Error('the peer certificate is a CA certificate, not a leaf SVID');
  const uris = uriSans(cert);
  if (uris.length !== 1) throw new Error(`the peer certificate has ${uris.length} URI SANs (an X.509-SVID has exactly one)`);
  const id = parseSpiffeId(uris[0]);
  if (id.path === '') throw new Error(`the peer's SPIFFE ID ${id.uri} has no path (a leaf SVID's must)`);
  if (!trustDomains.includes(id.trustDomain)) throw new Error(`the peer's SPIFFE ID ${id.uri} is not in trust domain ${trustDomains.join(' or ')}`);
  return id;
}
