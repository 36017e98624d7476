// `weft agent --mutual-auth`: the node's share of mesh mTLS on Kubernetes. It follows the CA root Secret the operator
// keeps (src/kubernetes/mesh-ca.ts), signs through an intermediate of its own (in memory, a new one every start,
// renewed at half-life), and runs a MeshNodeAgent over the mesh view of the node's Pods (src/kubernetes/mesh-view.ts):
// the SVIDs of the node's workloads and the trust bundle reach the node's Envoy over SDS, with the mesh listeners
// and clusters. Until the Secret exists (the operator creates it) the node serves no mesh resources.
import { EventEmitter } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { bundleExpiries, type CertificateExpiry } from '../metrics/certificates.js';
import { MeshNodeAgent } from '../mtls/mesh-agent.js';
import { meshIdentities, type MeshNodeView } from '../mtls/mesh-resources.js';
import { TrustDomainAuthority } from '../mtls/trust-bundle.js';
import type { Resource } from '../xds/resource.js';
import { startKindInformer, type KindInformer, type KubeObject } from './informers.js';
import { CA_SECRET_NAME, caSecretKind, rootsFromSecret, type MeshCaRoots } from './mesh-ca.js';
import { meshViewFromPods, type MeshPolicy, type MeshViewOptions } from './mesh-view.js';

export interface NodeMeshOptions extends MeshViewOptions {
  /** Where the operator keeps the CA Secret. */
  caNamespace: string;
  /** SVID lifetime (default 1 h; tests shorten it). */
  svidTtlMs?: number;
}

export class NodeMesh extends EventEmitter<{ change: [] }> {
  private informer: KindInformer | undefined;
  private authority: TrustDomainAuthority | undefined;
  private agent: MeshNodeAgent | undefined;
  private pods: readonly KubeObject[] = [];
  private policy: MeshPolicy | undefined;
  private routesServed: ReadonlySet<string> = new Set();
  private current: MeshNodeView;
  private lastError = '';
  /** The fingerprint of the Secret's previous.crt last seen. */
  private previousRoot: string | undefined;

  constructor(private readonly kc: k8s.KubeConfig, readonly opts: NodeMeshOptions, private readonly log: Logger) {
    super();
    this.current = this.view();
  }

  start(): void {
    this.informer = startKindInformer(this.kc, caSecretKind(this.opts.caNamespace), () => this.caChanged(), this.log);
  }

  /**
   * The node's mesh resources now: none until the CA is known, and none while the node has no mesh listener (Envoy
   * asks for the SDS Secrets listeners and clusters name; one it never asks for would never be ACKed).
   */
  resources(): Resource[] {
    this.routesServed = new Set();
    if (!this.agent || (!this.current.outbound && !this.current.inbound)) return [];
    try {
      const resources = this.agent.resources();
      this.routesServed = new Set(this.current.inbound?.services.flatMap((s) => (s.routeConfig ? [s.routeConfig] : [])));
      return resources;
    } catch (err) {
      this.report(`mesh view rejected: ${(err as Error).message}`);
      return [];
    }
  }

  /**
   * What the datapath redirects into the transparent listener: the other nodes' pods' mesh ports, only while the
   * node serves the listener (CA known, a chain for them), else undefined (a redirect to no listener is a drop).
   */
  transparentRedirect(): { proxyPort: number; destinations: Array<{ address: string; port: number }> } | undefined {
    const out = this.current.outbound;
    if (out?.transparentPort === undefined || this.resources().length === 0) return undefined;
    return { proxyPort: out.transparentPort, destinations: out.services.flatMap((s) => (s.destination ? [s.destination] : [])) };
  }

  /** The SVIDs served and the bundle's roots, for the certificate expiry metric. */
  certificates(): CertificateExpiry[] {
    if (!this.agent || !this.authority) return [];
    const svids = meshIdentities(this.current).flatMap((id) => {
      const svid = this.agent!.svid(id);
      return svid ? [{ kind: 'svid', name: id, notAfter: svid.notAfter }] : [];
    });
    return [...svids, ...bundleExpiries('bundle', this.authority.bundlePem())];
  }

  /** The pods (or the L7 policy's mesh routes) changed (the agent's translation): a new view. */
  setPods(pods: readonly KubeObject[], policy?: MeshPolicy): void {
    this.pods = pods;
    this.policy = policy;
    this.current = this.view();
    this.agent?.setView(this.current);
  }

  /**
   * The L7 policy routes the inbound listener of the last resources() names. The translation emits one for every policed pod port
   * of the cluster; Envoy fetches only those a listener names, and the agent is ready only once Envoy holds all
   * it serves, so it serves only these.
   */
  policyRoutesServed(): ReadonlySet<string> {
    return this.routesServed;
  }

  /** The trust domain's authority (tests read the SVIDs served). */
  get meshAgent(): MeshNodeAgent | undefined {
    return this.agent;
  }

  async stop(): Promise<void> {
    await this.informer?.stop();
    this.agent?.stop();
  }

  private view(): MeshNodeView {
    return meshViewFromPods(this.pods, this.opts, this.policy);
  }

  private caChanged(): void {
    const secret = this.informer?.get(CA_SECRET_NAME, this.opts.caNamespace) as k8s.V1Secret | undefined;
    if (!secret) {
      if (this.informer?.synced()) this.report(`Secret ${this.opts.caNamespace}/${CA_SECRET_NAME} does not exist yet (the operator creates it with --mutual-auth); no mesh until it does`);
      return;
    }
    let roots: MeshCaRoots;
    try {
      roots = rootsFromSecret(secret, { trustDomain: this.opts.trustDomain });
    } catch (err) {
      this.report(`${(err as Error).message}; keeping the last good CA`);
      return;
    }
    this.lastError = '';
    const ca = roots.active;
    if (!this.authority) {
      this.authority = new TrustDomainAuthority(ca, this.opts.svidTtlMs);
      this.agent = new MeshNodeAgent(this.authority, this.current, this.opts.svidTtlMs);
      this.agent.on('change', () => this.emit('change'));
      this.log.info({ trustDomain: ca.trustDomain, root: ca.root.x509.fingerprint256, intermediate: ca.intermediate.x509.fingerprint256 }, 'mesh CA loaded');
      this.emit('change');
    } else if (this.authority.ca.root.x509.fingerprint256 !== ca.root.x509.fingerprint256) {
      // Step 2: issue from the root staged in step 1 (every node trusts it already); the old root stays trusted for
      // the SVIDs' lifetime. A root replaced without staging is activated at once (not overlap-safe: see README).
      if (this.authority.staged?.root.x509.fingerprint256 !== ca.root.x509.fingerprint256) this.authority.stage(ca);
      this.authority.activate();
      this.log.info({ root: ca.root.x509.fingerprint256 }, 'mesh CA root activated');
    }
    this.followRotation(roots);
  }

  /** Steps 1 and 3 of a rotation: a staged root joins the bundle; a retired root removed from the Secret leaves it. */
  private followRotation(roots: MeshCaRoots): void {
    const authority = this.authority!;
    const nextFp = roots.next?.root.x509.fingerprint256;
    if (roots.next && nextFp !== authority.ca.root.x509.fingerprint256 && authority.staged?.root.x509.fingerprint256 !== nextFp) {
      authority.stage(roots.next);
      this.log.info({ root: nextFp }, 'mesh CA root staged (trusted, not issuing yet)');
    } else if (!roots.next && authority.staged) {
      authority.unstage();
      this.log.info('mesh CA staged root withdrawn');
    }
    const previous = roots.previous;
    if (previous && previous.fingerprint256 !== authority.ca.root.x509.fingerprint256) {
      authority.retain({ pem: previous.toString(), certDer: previous.raw, x509: previous, notAfter: new Date(previous.validTo) });
    }
    // The retired root was in the Secret and is gone now: removed from the bundle at once (step 3, or a revocation).
    const gone = this.previousRoot;
    const issuingOrStaged = [authority.ca, authority.staged].some((c) => c?.root.x509.fingerprint256 === gone);
    if (gone && gone !== previous?.fingerprint256 && !issuingOrStaged && authority.roots().some((r) => r.x509.fingerprint256 === gone)) {
      authority.revoke(gone);
      this.log.info({ root: gone }, 'mesh CA retired root removed from the bundle');
    }
    this.previousRoot = previous?.fingerprint256;
  }

  private report(message: string): void {
    if (message !== this.lastError) this.log.warn(message);
    this.lastError = message;
  }
}
