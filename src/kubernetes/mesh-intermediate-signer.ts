// The leader operator signs each node agent's intermediate CA, so that the root key stays with the operator alone.
// An agent asks with a Kubernetes CertificateSigningRequest (certificates.k8s.io/v1) of the signer
// `weft.dev/mesh-node-intermediate` carrying a PKCS#10 request for a key it generated (the key never leaves the node).
// Why the CSR API rather than an object of Weft's own: the API server itself records who created the request
// (spec.username, groups, extra) and the requester cannot write those fields, and it separates approving (the
// `approve` verb on the signer) from signing (`sign`), each authorized by RBAC; a Weft object would carry only what the
// agent claims. The operator approves a request when its requester is the agent's ServiceAccount with a token bound to
// the node it names (the API server puts the node of a Pod- or Node-bound token in
// extra["authentication.kubernetes.io/node-name"]), and denies any other; it then signs a path-length-0 intermediate
// for the request's key, constrained to the trust domain, and puts it in status.certificate.
import { X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import type { CertificateAuthority } from '../mtls/ca.js';
import { parseCsr } from '../mtls/csr.js';
import { toPem } from '../mtls/x509.js';
import { startKindInformer, type KindInformer } from './informers.js';
import type { WatchedKind } from './watched-kinds.js';

export const MESH_SIGNER_NAME = 'weft.dev/mesh-node-intermediate';
/** The CSR's label naming the node the agent asks for (checked against the requester's bound node). */
export const NODE_LABEL = 'weft.dev/node';
/** Where the API server records the node of a bound ServiceAccount token (KEP-4193). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
/**
 * The roots (SHA-256 fingerprints, comma-separated) the requesting agent trusts when it asks: its report of the bundle
 * it serves, which the operator's CA rotation waits on (mesh-ca-rotation.ts).
 */
export const TRUSTED_ROOTS_ANNOTATION = 'weft.dev/trusted-roots';
/** The longest intermediate the operator signs, whatever a request's expirationSeconds asks. */
export const MAX_INTERMEDIATE_TTL_MS = 24 * 3_600_000;
/** The API's minimum expirationSeconds. */
const MIN_INTERMEDIATE_TTL_MS = 600_000;

/** The mesh's CSRs, and no others, as an informer watches them. */
export const MESH_CSR_KIND: WatchedKind = {
  apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', plural: 'certificatesigningrequests', namespaced: false,
  fieldSelector: `spec.signerName=${MESH_SIGNER_NAME}`,
};

export interface SignerPolicy {
  /** The agents' identity: `system:serviceaccount:<namespace>:<name>`. */
  agentUsername: string;
}

export type CsrDecision = { approve: true; node: string; ttlMs: number } | { approve: false; reason: string };

/** Whether a request comes from the agent of the node it names (a pure function of the CSR the API server recorded). */
export function decideCsr(csr: k8s.V1CertificateSigningRequest, policy: SignerPolicy): CsrDecision {
  const spec = csr.spec;
  if (spec.signerName !== MESH_SIGNER_NAME) return { approve: false, reason: `spec.signerName is ${spec.signerName}, not ${MESH_SIGNER_NAME}` };
  if (spec.username !== policy.agentUsername) return { approve: false, reason: `requested by ${spec.username ?? 'nobody'}, not the node agents' ServiceAccount ${policy.agentUsername}` };
  const node = csr.metadata?.labels?.[NODE_LABEL];
  if (!node) return { approve: false, reason: `metadata.labels["${NODE_LABEL}"] is missing (the node the intermediate is for)` };
  const bound = spec.extra?.[NODE_NAME_EXTRA] ?? [];
  if (bound.length !== 1 || bound[0] !== node) {
    return { approve: false, reason: `the requester's token is bound to node ${bound.join(',') || '(none)'}, not ${node}: only a node's own agent may ask for its intermediate` };
  }
  const requested = spec.expirationSeconds ? spec.expirationSeconds * 1000 : MAX_INTERMEDIATE_TTL_MS;
  return { approve: true, node, ttlMs: Math.max(MIN_INTERMEDIATE_TTL_MS, Math.min(requested, MAX_INTERMEDIATE_TTL_MS)) };
}

/** True once the request is decided (approved, denied or failed) or signed. */
function settled(csr: k8s.V1CertificateSigningRequest): boolean {
  return Boolean(csr.status?.certificate) || (csr.status?.conditions ?? []).some((c) => c.type === 'Denied' || c.type === 'Failed');
}

const approvedBy = (csr: k8s.V1CertificateSigningRequest): boolean => (csr.status?.conditions ?? []).some((c) => c.type === 'Approved' && c.status === 'True');

export interface SignedIntermediate {
  csr: string;
  node: string;
  /** The issuing root's fingerprint. */
  root: string;
  fingerprint256: string;
}

export class MeshIntermediateSigner {
  private readonly api: k8s.CertificatesV1Api;
  private informer: KindInformer | undefined;
  private readonly inFlight = new Set<string>();
  private lastError = '';
  /** What this signer issued, newest last (tests and the rotation read it). */
  readonly signed: SignedIntermediate[] = [];

  constructor(private readonly kc: k8s.KubeConfig, private readonly policy: SignerPolicy, private readonly issuer: () => CertificateAuthority | undefined,
    private readonly log: Logger, private readonly onSigned: (s: SignedIntermediate) => void = () => undefined) {
    this.api = kc.makeApiClient(k8s.CertificatesV1Api);
  }

  start(): void {
    this.informer ??= startKindInformer(this.kc, MESH_CSR_KIND, () => this.poke(), this.log);
  }

  /** Looks at the pending requests again (the CSRs changed, or the issuing CA did). */
  poke(): void {
    for (const obj of this.informer?.list() ?? []) {
      const csr = obj as unknown as k8s.V1CertificateSigningRequest;
      const name = csr.metadata?.name;
      if (!name || settled(csr) || this.inFlight.has(name)) continue;
      this.inFlight.add(name);
      void this.handle(csr).catch((err: unknown) => {
        const message = `CertificateSigningRequest ${name}: ${(err as Error).message.split('\n')[0]}`;
        if (message !== this.lastError) this.log.error({ err: message }, 'mesh CA: signing a node intermediate failed; retrying on the next change');
        this.lastError = message;
      }).finally(() => this.inFlight.delete(name));
    }
  }

  async stop(): Promise<void> {
    await this.informer?.stop();
    this.informer = undefined;
  }

  /**
   * The roots the agent of `node` reported trusting in its newest request that passes the identity check (the API
   * server vouches for who made it), or undefined when there is none.
   */
  reported(node: string): string[] | undefined {
    const mine = (this.informer?.list() ?? []).map((o) => o as unknown as k8s.V1CertificateSigningRequest).filter((csr) => {
      const d = decideCsr(csr, this.policy);
      return d.approve && d.node === node && csr.metadata?.annotations?.[TRUSTED_ROOTS_ANNOTATION] !== undefined;
    });
    const newest = mine.sort((a, b) => new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime()
      || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '')).at(-1);
    return newest?.metadata?.annotations?.[TRUSTED_ROOTS_ANNOTATION]!.split(',').filter(Boolean);
  }

  private async handle(csr: k8s.V1CertificateSigningRequest): Promise<void> {
    const name = csr.metadata!.name!;
    const ca = this.issuer();
    if (!ca) return; // no valid root yet: the next check pokes again
    const decision = decideCsr(csr, this.policy);
    if (!decision.approve) {
      this.log.warn({ csr: name, requester: csr.spec.username, reason: decision.reason }, 'mesh CA: node intermediate request denied');
      await this.api.replaceCertificateSigningRequestApproval({ name, body: withCondition(csr, 'Denied', 'NotTheNodeAgent', decision.reason) });
      return;
    }
    let spki: Buffer;
    try {
      spki = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8')).spki;
    } catch (err) {
      await this.api.replaceCertificateSigningRequestApproval({ name, body: withCondition(csr, 'Denied', 'InvalidRequest', `spec.request: ${(err as Error).message}`) });
      return;
    }
    const approved = approvedBy(csr) ? csr
      : await this.api.replaceCertificateSigningRequestApproval({ name, body: withCondition(csr, 'Approved', 'NodeAgent', `the agent of node ${decision.node}`) });
    const der = ca.signIntermediate(spki, `Weft intermediate CA ${ca.trustDomain} node ${decision.node}`, decision.ttlMs);
    await this.api.replaceCertificateSigningRequestStatus({ name, body: { ...approved, status: { ...approved.status, certificate: Buffer.from(toPem(der)).toString('base64') } } });
    const signed = { csr: name, node: decision.node, root: ca.root.x509.fingerprint256, fingerprint256: new X509Certificate(der).fingerprint256 };
    this.signed.push(signed);
    if (this.signed.length > 1000) this.signed.shift();
    this.log.info(signed, 'mesh CA: node intermediate signed');
    this.onSigned(signed);
  }
}

function withCondition(csr: k8s.V1CertificateSigningRequest, type: 'Approved' | 'Denied', reason: string, message: string): k8s.V1CertificateSigningRequest {
  const condition: k8s.V1CertificateSigningRequestCondition = { type, status: 'True', reason, message, lastUpdateTime: new Date() };
  return { ...csr, status: { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] } };
}
