// `weft agent --mutual-auth`: the node's share of mesh mTLS on Kubernetes. It never sees the root key: its CA is an
// intermediate the operator signed, trusting the roots the operator publishes (node-mesh-ca.ts). A MeshNodeAgent over
// the mesh view of the node's Pods (src/kubernetes/mesh-view.ts) keeps the SVIDs of the node's workloads and the
// bundle in the node's Envoy over SDS, with the mesh listeners and clusters. Until the first intermediate is signed
// the node serves no mesh resources.
import { EventEmitter } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { bundleExpiries, type CertificateExpiry } from '../metrics/certificates.js';
import { MeshNodeAgent } from '../mtls/mesh-agent.js';
import { meshIdentities, type MeshNodeView } from '../mtls/mesh-resources.js';
import type { TrustDomainAuthority } from '../mtls/trust-bundle.js';
import type { Resource } from '../xds/resource.js';
import type { KubeObject } from './informers.js';
import { NodeMeshCa, type NodeMeshCaOptions } from './node-mesh-ca.js';
import { meshViewFromPods, type MeshPolicy, type MeshViewOptions } from './mesh-view.js';

export interface NodeMeshOptions extends MeshViewOptions, NodeMeshCaOptions {}

export class NodeMesh extends EventEmitter<{ change: [] }> {
  private authority: TrustDomainAuthority | undefined;
  private agent: MeshNodeAgent | undefined;
  private pods: readonly KubeObject[] = [];
  private policy: MeshPolicy | undefined;
  private routesServed: ReadonlySet<string> = new Set();
  private current: MeshNodeView;
  private lastError = '';
  private readonly ca: NodeMeshCa;

  constructor(kc: k8s.KubeConfig, readonly opts: NodeMeshOptions, private readonly log: Logger) {
    super();
    this.current = this.view();
    this.ca = new NodeMeshCa(kc, opts, log, (message) => this.report(message));
    // The first intermediate signed: the node's SVIDs can be issued.
    this.ca.once('loaded', (authority) => {
      this.authority = authority;
      this.agent = new MeshNodeAgent(authority, this.current, this.opts.svidTtlMs);
      this.agent.on('change', () => this.emit('change'));
      this.emit('change');
    });
  }

  start(): void {
    this.ca.start();
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
    await this.ca.stop();
    this.agent?.stop();
  }

  private view(): MeshNodeView {
    return meshViewFromPods(this.pods, this.opts, this.policy);
  }

  private report(message: string): void {
    if (message !== this.lastError) this.log.warn(message);
    this.lastError = message;
  }
}
