// A node agent's request for its intermediate CA: a key pair generated here (the private key stays in this process),
// a PKCS#10 request for it in a CertificateSigningRequest of the signer weft.dev/mesh-node-intermediate labelled
// with the node, and the wait until the leader operator signs it (status.certificate) or denies it. See
// mesh-intermediate-signer.ts for what the operator checks.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { SigningAuthority } from '../mtls/ca.js';
import { buildCsr } from '../mtls/csr.js';
import { generateKeyPair } from '../mtls/keys.js';
import { MESH_SIGNER_NAME, NODE_LABEL, TRUSTED_ROOTS_ANNOTATION } from './mesh-intermediate-signer.js';

const POLL_MIN_MS = 100;
const POLL_MAX_MS = 2_000;

/** Thrown when the operator denied (or failed) the request: retrying the same way will not help soon. */
export class IntermediateRefused extends Error {}

export class NodeIntermediateClient {
  private readonly api: k8s.CertificatesV1Api;
  private stopped = false;

  constructor(kc: k8s.KubeConfig, private readonly nodeName: string, private readonly trustDomain: string) {
    this.api = kc.makeApiClient(k8s.CertificatesV1Api);
  }

  /**
   * A new intermediate for this node (valid at most `ttlMs`; the operator may shorten it), once signed. The request
   * also reports the roots the node trusts (SHA-256 fingerprints), which a CA rotation waits on.
   */
  async request(ttlMs: number, trustedRoots: string[] = []): Promise<SigningAuthority> {
    const keys = generateKeyPair('ec-p256');
    const request = buildCsr(keys, { organization: 'Weft', commonName: `Weft intermediate CA ${this.trustDomain} node ${this.nodeName}` });
    // A name of its own per request (CSRs are immutable once decided); the node is in the name for people reading.
    const name = `weft-mesh-${this.nodeName}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.slice(0, 253);
    await this.api.createCertificateSigningRequest({ body: {
      metadata: { name, labels: { [NODE_LABEL]: this.nodeName, 'app.kubernetes.io/managed-by': 'weft' }, annotations: { [TRUSTED_ROOTS_ANNOTATION]: trustedRoots.join(',') } },
      spec: { request: Buffer.from(request).toString('base64'), signerName: MESH_SIGNER_NAME, usages: ['cert sign', 'crl sign'], expirationSeconds: Math.round(ttlMs / 1000) },
    } });
    for (let wait = POLL_MIN_MS; !this.stopped; wait = Math.min(wait * 2, POLL_MAX_MS)) {
      const csr = await this.api.readCertificateSigningRequest({ name });
      const refused = (csr.status?.conditions ?? []).find((c) => c.type === 'Denied' || c.type === 'Failed');
      if (refused) throw new IntermediateRefused(`CertificateSigningRequest ${name}: ${refused.type} (${refused.reason ?? ''}): ${refused.message ?? ''}`);
      if (csr.status?.certificate) {
        const pem = Buffer.from(csr.status.certificate, 'base64').toString('utf8');
        const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
        if (!first) throw new IntermediateRefused(`CertificateSigningRequest ${name}: status.certificate holds no PEM certificate`);
        const der = Buffer.from(first[0].replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
        const sa = new SigningAuthority(der, keys.privateKey);
        if (!sa.x509.checkPrivateKey(keys.privateKey)) throw new IntermediateRefused(`CertificateSigningRequest ${name}: the certificate is not for the requested key`);
        return sa;
      }
      await new Promise((r) => setTimeout(r, wait).unref());
    }
    throw new Error('stopped');
  }

  stop(): void {
    this.stopped = true;
  }
}
