// A node agent's mesh CA on Kubernetes, without the root key: it trusts exactly the roots of the bundle ConfigMap
// the operator publishes (src/kubernetes/mesh-ca.ts), and issues through an intermediate the operator signed for a key
// generated here (a CertificateSigningRequest, node-intermediate.ts): in memory, a new one every start, asked for
// again at half-life, at once when the ConfigMap names another issuing root (a rotation's switch), and whenever the
// bundle it serves differs from the one its last request reported (a rotation's stage waits for that report).
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { CertificateAuthority, type SigningAuthority } from '../mtls/ca.js';
import { TrustDomainAuthority, type TrustedRoot } from '../mtls/trust-bundle.js';
import { startKindInformer, type KindInformer } from './informers.js';
import { ISSUING_ROOT_ANNOTATION, TRUST_BUNDLE_CONFIGMAP, TRUST_BUNDLE_KEY } from './mesh-ca.js';
import { MAX_INTERMEDIATE_TTL_MS } from './mesh-intermediate-signer.js';
import { NodeIntermediateClient } from './node-intermediate.js';
import type { WatchedKind } from './watched-kinds.js';

export interface NodeMeshCaOptions {
  nodeName: string;
  trustDomain: string;
  /** Where the operator publishes the trust bundle ConfigMap. */
  caNamespace: string;
  /** SVID lifetime (default 1 h; tests shorten it). */
  svidTtlMs?: number;
  /** The intermediate lifetime asked for (default and at most 24 h). */
  intermediateTtlMs?: number;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** The bundle ConfigMap, and it alone, as an informer watches it. */
function bundleKind(namespace: string): WatchedKind {
  return { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, namespace, fieldSelector: `metadata.name=${TRUST_BUNDLE_CONFIGMAP}` };
}

const trustedRoot = (x509: X509Certificate): TrustedRoot => ({ pem: x509.toString(), certDer: x509.raw, x509, notAfter: new Date(x509.validTo) });

export class NodeMeshCa extends EventEmitter<{ loaded: [authority: TrustDomainAuthority] }> {
  private informer: KindInformer | undefined;
  private authority: TrustDomainAuthority | undefined;
  private readonly intermediates: NodeIntermediateClient;
  /** The roots of the bundle ConfigMap last seen, and the one that issues. */
  private bundle: X509Certificate[] = [];
  private issuingRoot: string | undefined;
  /** A signed intermediate waiting for its root to appear in the bundle. */
  private pending: { sa: SigningAuthority; root: string | undefined } | undefined;
  private requesting = false;
  /** The roots the last signed request reported (comma-joined fingerprints). */
  private reported: string | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private retryMs = MIN_RETRY_MS;
  private stopped = false;

  /** `report`: a problem for the node's log (once while it lasts). */
  constructor(private readonly kc: k8s.KubeConfig, readonly opts: NodeMeshCaOptions, private readonly log: Logger, private readonly report: (message: string) => void) {
    super();
    this.intermediates = new NodeIntermediateClient(kc, opts.nodeName, opts.trustDomain);
  }

  start(): void {
    this.informer = startKindInformer(this.kc, bundleKind(this.opts.caNamespace), () => this.bundleChanged(), this.log);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    this.intermediates.stop();
    await this.informer?.stop();
  }

  /** The bundle ConfigMap changed: trust its roots, and ask for an intermediate of its issuing root if ours is not. */
  private bundleChanged(): void {
    const cm = this.informer?.get(TRUST_BUNDLE_CONFIGMAP, this.opts.caNamespace) as k8s.V1ConfigMap | undefined;
    if (!cm) {
      if (this.informer?.synced()) this.report(`ConfigMap ${this.opts.caNamespace}/${TRUST_BUNDLE_CONFIGMAP} does not exist yet (the operator publishes it with --mutual-auth); no mesh until it does`);
      return;
    }
    let roots: X509Certificate[];
    try {
      roots = [...(cm.data?.[TRUST_BUNDLE_KEY] ?? '').matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
      if (!roots.length) throw new Error(`data.${TRUST_BUNDLE_KEY} holds no certificate`);
    } catch (err) {
      this.report(`ConfigMap ${this.opts.caNamespace}/${TRUST_BUNDLE_CONFIGMAP}: ${(err as Error).message}; keeping the last good bundle`);
      return;
    }
    this.bundle = roots;
    this.issuingRoot = cm.metadata?.annotations?.[ISSUING_ROOT_ANNOTATION];
    this.authority?.setPublished(roots.map(trustedRoot));
    this.adoptPending();
    // Our intermediate is of a root that no longer issues (a rotation's switch), or the bundle we serve is not the
    // one we last reported (a rotation's stage waits for it): a new request at once.
    const ours = this.authority?.ca.root.x509.fingerprint256;
    const stale = this.issuingRoot !== undefined && this.issuingRoot !== ours && this.pending?.root !== this.issuingRoot;
    if (!ours || stale || this.unreported()) this.requestIntermediate(0);
  }

  /** Asks the operator for a new intermediate after `delayMs` (one request at a time; retried with backoff). */
  private requestIntermediate(delayMs: number): void {
    if (this.requesting || this.stopped) return;
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      this.requesting = true;
      const report = this.servedRoots();
      this.intermediates.request(this.opts.intermediateTtlMs ?? MAX_INTERMEDIATE_TTL_MS, report).then((sa) => {
        this.requesting = false;
        this.reported = report.join();
        this.retryMs = MIN_RETRY_MS;
        const root = this.bundle.find((r) => sa.x509.checkIssued(r) && sa.x509.verify(r.publicKey));
        this.pending = { sa, root: root?.fingerprint256 };
        this.adoptPending();
      }, (err: unknown) => {
        this.report(`mesh intermediate not obtained: ${(err as Error).message}; asking again`);
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        this.requesting = false;
        this.requestIntermediate(this.retryMs);
      });
    }, delayMs);
    this.renewTimer.unref();
  }

  /** Issues through the signed intermediate once its root is in the bundle (the ConfigMap may lag the signature). */
  private adoptPending(): void {
    const pending = this.pending;
    if (!pending) return;
    const root = this.bundle.find((r) => pending.sa.x509.checkIssued(r) && pending.sa.x509.verify(r.publicKey));
    if (!root) return;
    this.pending = undefined;
    let ca: CertificateAuthority;
    try {
      ca = CertificateAuthority.ofIntermediate({ trustDomain: this.opts.trustDomain }, root.toString(), pending.sa);
    } catch (err) {
      this.report(`mesh intermediate rejected: ${(err as Error).message}; asking again`);
      this.requestIntermediate(this.retryMs);
      return;
    }
    const fields = { root: root.fingerprint256, intermediate: pending.sa.x509.fingerprint256, notAfter: pending.sa.notAfter.toISOString() };
    if (!this.authority) {
      this.authority = new TrustDomainAuthority(ca, this.opts.svidTtlMs);
      this.authority.setPublished(this.bundle.map(trustedRoot));
      this.log.info({ trustDomain: ca.trustDomain, ...fields }, 'mesh CA loaded: intermediate signed by the operator');
      this.emit('loaded', this.authority);
    } else if (this.authority.ca.root.x509.fingerprint256 === root.fingerprint256) {
      this.authority.ca.replaceIntermediate(pending.sa);
      this.log.info(fields, 'mesh intermediate renewed');
    } else {
      // The operator issues from another root now (every node trusts it already: it was in the bundle first).
      this.authority.switchTo(ca);
      this.log.info(fields, 'mesh CA root switched: SVIDs re-issued through an intermediate of the new root');
    }
    // Renewed at half-life, as the standalone CA renews its own; at once (with backoff) when signed by a root that no
    // longer issues (a request that crossed a rotation's switch).
    const { notBefore, notAfter } = pending.sa;
    const stale = this.issuingRoot !== undefined && this.issuingRoot !== root.fingerprint256;
    this.requestIntermediate(stale ? this.retryMs : this.unreported() ? 0 : Math.max(0, (notBefore.getTime() + notAfter.getTime()) / 2 - Date.now()));
  }

  /** True when the bundle served differs from the one the last request reported (and the mesh serves one). */
  private unreported(): boolean {
    return this.authority !== undefined && this.reported !== this.servedRoots().join();
  }

  /** The roots this node trusts (the bundle it serves, else the one it read), sorted. */
  private servedRoots(): string[] {
    return (this.authority ? this.authority.roots().map((r) => r.x509.fingerprint256) : this.bundle.map((r) => r.fingerprint256)).sort();
  }
}
