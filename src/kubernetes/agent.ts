// `weft agent`: one per node. Reads the same objects as the operator, translates them with the same pipeline (the
// Gateway addresses are those the operator published in the Gateways' statuses), and serves the result over xDS
// to the node's Envoy, which it starts and supervises. With an announce interface it also puts the Gateway
// addresses on that interface. It writes no status: that is the operator's job.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { AccessLogFileLimit, type RotationReader } from '../l7policy/access-log-limit.js';
import { EnvoySupervisor, type EnvoyProcess } from '../../envoy/process.js';
import type { Logger } from '../log/logger.js';
import type { IngressOptions } from '../ingress/options.js';
import { formatProblem, type Manifest } from '../sources/manifests.js';
import { TranslationCache, translateManifests, type Translation, type TranslateOptions } from '../standalone/pipeline.js';
import type { NackEvent } from '../xds/ads-stream.js';
import { InMemorySnapshotCache } from '../xds/cache.js';
import { XdsMetrics } from '../xds/metrics.js';
import { Registry } from 'prom-client';
import { CertificateMetrics, irCertificates, type CertificateExpiry } from '../metrics/certificates.js';
import { registerEnvoyMetrics } from '../metrics/components.js';
import { TranslationMetrics } from '../metrics/translation.js';
import { ackDivergence } from '../xds/node-status.js';
import { XdsServer } from '../xds/server.js';
import { Snapshot } from '../xds/snapshot.js';
import { AddressAnnouncer } from './address-announcer.js';
import { AnnouncementElection, type AnnouncementElectionOptions } from './announcement-election.js';
import { statusAddress } from './gateway-addresses.js';
import type { NodeMesh } from './node-mesh.js';
import type { MeshRedirect } from '../datapath/controller.js';
import { KubernetesSource } from './source.js';
import type { L7Options } from '../l7policy/translate.js';
import { shortTypeName, TypeUrl } from '../xds/type-urls.js';
import { meshPolicyClientsEgress, meshPolicyRoutes } from './mesh-view.js';
import { mirroredSecretKind } from './tls-secret-mirror.js';
import { POD_KIND, POLICY_KINDS, translatedKinds, type WatchedKind } from './watched-kinds.js';

/** The node's flow agent (src/observe/kubernetes-flows.ts), as the node agent uses it. */
export interface L7AccessLogFlows {
  translateOptions(base: TranslateOptions): TranslateOptions;
  followL7AccessLog(file: string): RotationReader;
}

export interface AgentOptions {
  kubeConfig: k8s.KubeConfig;
  /** This node's name: Envoy's node id and cluster. */
  nodeName: string;
  logger: Logger;
  /** Interface to carry the Gateway addresses (L2 announcement); none when omitted. */
  announceInterface?: string;
  /** Where the per-address announcement Leases live and their timings (announcement-election.ts; Cilium's defaults). */
  announceLeases?: Omit<AnnouncementElectionOptions, 'identity'>;
  protocol?: 'delta' | 'sotw';
  envoyBinary?: string;
  debounceMs?: number;
  /** Where to serve xDS; a private temporary socket when omitted. */
  xdsSocket?: string;
  /**
   * Start and supervise the node's Envoy (default). Off: Envoy runs on its own (`weft envoy`, a separate container)
   * and reconnects to the socket, so that restarting the agent never interrupts traffic.
   */
  manageEnvoy?: boolean;
  /** Where Ingresses are served: the same options as the operator's (their addresses are computed, not read). */
  ingress?: Partial<IngressOptions>;
  /**
   * L7 policy (with the datapath): Pods and network policies are watched too, and their translation (the node
   * Envoy's transparent listener, with `l7.transparent`) is served with the rest.
   */
  l7?: L7Options;
  /** The L7 access log file's size limit (AccessLogFileLimit; default 100 MiB): past it, the file moves to `<file>.1`. */
  l7AccessLogMaxBytes?: number;
  /** The node's eBPF datapath (src/datapath/controller.ts): fed every translation with the objects it came from. */
  datapath?: { syncTranslation(manifests: readonly Manifest[], translation: Translation, mesh?: MeshRedirect): unknown };
  /** Where the agent's metrics go (the health endpoint's /metrics); a registry of its own when omitted. */
  registry?: Registry;
  /** The node's flow agent (src/observe/kubernetes-flows.ts): where Envoy streams its access log to; it follows the L7 access log file. */
  flows?: L7AccessLogFlows;
  /** Mesh mTLS (src/kubernetes/node-mesh.ts): Pods are watched too, and the node's mesh resources served with the rest. */
  mesh?: NodeMesh;
  /** Read TLS Secrets from the operator's copies in this namespace only (tls-secret-mirror.ts), not from every namespace. */
  tlsSecretsNamespace?: string;
}

export interface AgentEvents {
  /** A translation was served (its snapshot set). */
  served: [Translation];
  /** Envoy ACKed everything the current snapshot holds. */
  synced: [string];
  nack: [NackEvent];
}

export class NodeAgent extends EventEmitter<AgentEvents> {
  /**
   * Snapshots are published at once: the source already coalesces bursts of changes (its debounce), so waiting for a
   * quiet time here again only delayed each change (its timer, late on a busy node, cost ~10 ms per new route).
   */
  readonly cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  readonly nacks: NackEvent[] = [];
  /** The agent's Prometheus metrics (served by the health endpoint): xDS, translation, certificates, Envoy. */
  readonly registry: Registry;
  readonly metrics: XdsMetrics;
  private readonly translationMetrics: TranslationMetrics;
  private certificates: CertificateExpiry[] = [];
  last: Translation | undefined;
  private lastManifests: readonly Manifest[] = [];
  private readonly log: Logger;
  private readonly workDir = mkdtempSync(path.join(tmpdir(), 'weft-agent-'));
  private accessLogLimit: AccessLogFileLimit | undefined;
  /**
   * Envoy's own stdout may be no file it can open (a managed Envoy's is a pipe or nothing): the L7 access log goes
   * to a file of the agent's unless one is given.
   */
  private get l7AccessLogPath(): string {
    return this.opts.l7?.accessLogPath ?? path.join(this.workDir, 'l7-access.log');
  }
  private readonly translations = new TranslationCache();
  private server: XdsServer | undefined;
  private supervisor: EnvoySupervisor | undefined;
  private source: KubernetesSource | undefined;
  private readonly announcer: AddressAnnouncer | undefined;
  private readonly election: AnnouncementElection | undefined;
  /** The addresses this node serves (its candidacies). */
  private serving = new Set<string>();
  private snapshot = Snapshot.of([]);
  private applying: Promise<void> = Promise.resolve();
  private stopped = false;
  private loggedProblems = new Set<string>();

  constructor(private readonly opts: AgentOptions) {
    super();
    this.log = opts.logger;
    this.registry = opts.registry ?? new Registry();
    this.metrics = new XdsMetrics(this.registry);
    this.translationMetrics = new TranslationMetrics(this.registry);
    CertificateMetrics.of(this.registry).add(() => this.certificates);
    registerEnvoyMetrics(this.registry, () => this.supervisor?.restarts ?? 0);
    this.announcer = opts.announceInterface ? new AddressAnnouncer(opts.announceInterface, this.log) : undefined;
    this.election = this.announcer && new AnnouncementElection(opts.kubeConfig, { namespace: 'kube-system', ...opts.announceLeases, identity: opts.nodeName },
      this.log.child({ component: 'announce' }), () => {
        this.applying = this.applying.then(() => this.announceHeld()).catch((err: unknown) => {
          this.log.error({ err: (err as Error).message }, 'announcing the addresses won failed');
        });
      });
  }

  /** The addresses this node won and still serves on the interface; those not decided yet left as they are. */
  private async announceHeld(): Promise<void> {
    if (!this.announcer || !this.election || this.stopped) return;
    await this.announcer.announce([...this.election.holding].filter((a) => this.serving.has(a)), this.election.undecided);
  }

  get envoy(): EnvoyProcess | undefined {
    return this.supervisor?.current;
  }

  async start(): Promise<void> {
    const socket = this.opts.xdsSocket ?? path.join(this.workDir, 'xds.sock');
    // A socket left by an agent that did not stop cleanly would make listen() fail.
    rmSync(socket, { force: true });
    this.server = new XdsServer({ cache: this.cache, logger: this.log, metrics: this.metrics });
    this.server.on('ack', (e) => {
      this.log.debug({ type: shortTypeName(e.typeUrl), nonce: e.nonce, latencyMs: Math.round(e.latencyMs * 10) / 10 }, 'xDS ACK');
      this.checkSynced();
    });
    // With WEFT_LOG_LEVEL=debug, the steps from a change to Envoy's ACK (bench/k8s-propagation.ts --trace reads them).
    this.server.on('response', (e) => this.log.debug({ type: shortTypeName(e.typeUrl), nonce: e.nonce, resources: e.resourceNames.length, removed: e.removedNames.length }, 'xDS response'));
    // An Envoy that reconnects (after an agent restart) already holds the configuration: nothing is sent, so no ACK
    // comes; what it declares holding is what tells that it is in sync.
    this.server.on('held', () => this.checkSynced());
    this.server.on('nack', (e) => {
      this.nacks.push(e);
      this.log.error({ typeUrl: e.typeUrl, error: e.errorMessage }, 'Envoy rejected the configuration');
      this.emit('nack', e);
    });
    await this.server.listen({ unix: socket });
    if (this.opts.l7 || this.opts.mesh) {
      const reader = this.opts.flows?.followL7AccessLog(this.l7AccessLogPath);
      this.accessLogLimit = new AccessLogFileLimit(this.l7AccessLogPath, this.opts.l7AccessLogMaxBytes, { logger: this.log, ...(reader ? { reader } : {}) });
    }
    if (this.announcer) await enableNonlocalBind();
    const secrets = this.opts.tlsSecretsNamespace ? mirroredSecretKind(this.opts.tlsSecretsNamespace) : undefined;
    const kinds: WatchedKind[] = [...translatedKinds(secrets), ...(this.opts.l7 ? POLICY_KINDS : this.opts.mesh ? [POD_KIND] : [])];
    // SVID renewals and CA changes reach Envoy without a translation: only the Secrets change.
    // The CA arriving also turns on the datapath's redirects into the transparent mesh listener.
    this.opts.mesh?.on('change', () => {
      this.serve();
      this.syncDatapath();
    });
    this.opts.mesh?.start();
    this.source = new KubernetesSource(this.opts.kubeConfig, { kinds, logger: this.log, debounceMs: this.opts.debounceMs ?? 10 },
      (manifests) => {
        // Serialized: an address must be on the interface before Envoy is asked to bind it.
        this.applying = this.applying.then(() => this.apply(manifests)).catch((err: unknown) => {
          this.log.error({ err: (err as Error).message }, 'applying a translation failed; still serving the last good configuration');
        });
      });
    if (this.opts.manageEnvoy === false) {
      this.log.info({ node: this.opts.nodeName, xds: socket }, 'serving xDS for an external Envoy');
      return;
    }
    this.supervisor = new EnvoySupervisor({
      bootstrap: nodeBootstrap({ nodeId: this.opts.nodeName, xds: { unix: socket }, protocol: this.opts.protocol ?? 'delta' }),
      logger: this.log.child({ component: 'envoy' }),
      ...(this.opts.envoyBinary ? { binary: this.opts.envoyBinary } : {}),
    }, this.log.child({ component: 'supervisor' }));
    const proc = await this.supervisor.start();
    this.log.info({ node: this.opts.nodeName, envoyPid: proc.pid, admin: proc.adminUrl }, 'envoy started');
  }

  /** What differs between the current snapshot and what Envoy ACKed, or undefined when nothing does. */
  divergence(): string | undefined {
    return ackDivergence(this.server?.nodeStatus(this.opts.nodeName), this.snapshot);
  }

  private async apply(manifests: Manifest[]): Promise<void> {
    if (this.stopped) return;
    const source = this.source!;
    const options: TranslateOptions = {
      cache: this.translations,
      ...(this.opts.ingress ? { ingress: this.opts.ingress } : {}),
      // With the mesh, the policy also gets the mesh's inbound routes (deciding by the verified SPIFFE ID): mesh
      // requests are policed as the datapath's redirected ones are.
      ...(this.opts.l7 ? { l7: { accessLogPath: this.l7AccessLogPath, ...this.opts.l7, ...(this.opts.mesh ? { mesh: { trustDomain: this.opts.mesh.opts.trustDomain } } : {}) } } : {}),
      gatewayAddress: (g) => statusAddress(source.object('Gateway', g.namespace, g.name)),
    };
    const t0 = performance.now();
    const translation = this.translationMetrics.timed(() => translateManifests(manifests, [], this.opts.flows?.translateOptions(options) ?? options));
    const translateMs = Math.round((performance.now() - t0) * 10) / 10;
    this.certificates = irCertificates(translation.ir);
    // Each problem is logged once while it lasts (the operator reports Gateway API ones in statuses; policies have none).
    const current = new Set(translation.problems.map(formatProblem));
    for (const line of current) if (!this.loggedProblems.has(line)) this.log.warn(line);
    this.loggedProblems = current;
    // Every node serves every address (its Envoy binds them all, see enableNonlocalBind), but only the elected one
    // announces each; dropping an address releases its Lease.
    this.serving = new Set(translation.ir.httpListeners.map((l) => l.address).filter(announceable));
    await this.election?.setCandidacies(this.serving);
    await this.announceHeld();
    if (this.stopped) return;
    this.opts.mesh?.setPods(source.objects('Pod'), translation.l7 ? { routes: meshPolicyRoutes(translation.l7.listeners), clientsEgress: meshPolicyClientsEgress(translation.l7.meshEgress), accessLogPath: this.l7AccessLogPath } : undefined);
    this.serve(translation);
    this.lastManifests = manifests;
    this.syncDatapath(translation);
    this.last = translation;
    this.log.info({ resources: translation.resources.length, listeners: translation.ir.httpListeners.length, translateMs }, 'configuration served');
    this.emit('served', translation);
    this.checkSynced();
  }

  /** The translation (and the mesh's redirects) into the datapath's maps. */
  private syncDatapath(translation = this.last): void {
    if (!translation || this.stopped || !this.opts.datapath) return;
    try {
      this.opts.datapath.syncTranslation(this.lastManifests, translation, this.opts.mesh?.transparentRedirect());
    } catch (err) {
      // The maps keep their last good state; the next translation tries again.
      this.log.error({ err: (err as Error).message }, 'datapath update failed');
    }
  }

  /** The node's snapshot: the translation's resources and the mesh's. */
  private serve(translation = this.last): void {
    if (!translation || this.stopped) return;
    const mesh = this.opts.mesh?.resources() ?? [];
    // The L7 policy's mesh routes of pods on other nodes (or of ports no mesh listener serves): no listener here
    // names them, so Envoy would never fetch them.
    const served = this.opts.mesh?.policyRoutesServed() ?? new Set<string>();
    const unserved = new Set(translation.l7?.listeners.flatMap((l) => (l.meshRoute && !served.has(l.meshRoute) ? [l.meshRoute] : [])));
    const own = unserved.size ? translation.resources.filter((r) => r.typeUrl !== TypeUrl.RouteConfiguration || !unserved.has(r.name)) : translation.resources;
    this.snapshot = Snapshot.of([...own, ...mesh]);
    this.cache.setSnapshot(this.opts.nodeName, this.snapshot);
  }

  private checkSynced(): void {
    if (!this.last || this.divergence() !== undefined) return;
    this.emit('synced', this.opts.nodeName);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.accessLogLimit?.stop();
    await this.source?.stop();
    await this.opts.mesh?.stop();
    await this.applying;
    await this.supervisor?.stop();
    await this.server?.shutdown(1000);
    // With an external Envoy, traffic goes on while the agent is away: its addresses must stay.
    if (this.opts.manageEnvoy !== false) await this.announcer?.withdrawAll().catch(() => undefined);
    // Released with the addresses, so another node takes over at once; kept (renewed on return) with them.
    await this.election?.stop(this.opts.manageEnvoy !== false);
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Envoy binds every Gateway address, announced here or not, so that a node that wins an address's Lease serves it
 * the moment the address is on its interface. (Per network namespace: the node's.)
 */
async function enableNonlocalBind(): Promise<void> {
  await writeFile('/proc/sys/net/ipv4/ip_nonlocal_bind', '1');
}

/** Loopback and wildcard listener addresses (an Ingress left on the default 127.0.0.1) are never put on an interface. */
function announceable(address: string): boolean {
  return !address.startsWith('127.') && address !== '0.0.0.0' && address !== '::' && address !== '::1';
}
