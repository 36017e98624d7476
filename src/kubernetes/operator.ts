// `weft operator`: reads Weft's inputs from the API server, translates them with the same pipeline as standalone
// mode, and (while it holds the leader Lease) writes the statuses back. Only one replica writes at a time.
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../gateway/conditions.js';
import type { Logger } from '../log/logger.js';
import type { IngressOptions } from '../ingress/options.js';
import { formatProblem, type Manifest } from '../sources/manifests.js';
import { TranslationCache, translateManifests, type Translation } from '../standalone/pipeline.js';
import { gatewayAddressesFor } from './gateway-addresses.js';
import { desiredGatewayInfrastructure, MANAGED_BY, MANAGED_BY_LABEL, type GatewayInfrastructureInput } from './gateway-infrastructure.js';
import { GatewayInfrastructureWriter } from './gateway-infrastructure-writer.js';
import type { KubeObject } from './informers.js';
import { parseAddressRange, type AddressRange } from './address-pool.js';
import { LeaderElector } from './leader-election.js';
import type { MeshCaLocation } from './mesh-ca.js';
import { MeshCaKeeper } from './mesh-ca-keeper.js';
import { TlsSecretMirror } from './tls-secret-mirror.js';
import { KubernetesSource } from './source.js';
import { StatusWriter, type StatusWriteResult } from './status-writer.js';
import { TRANSLATED_KINDS } from './watched-kinds.js';
import { Registry, type Counter } from 'prom-client';
import { CertificateMetrics, irCertificates, type CertificateExpiry } from '../metrics/certificates.js';
import { registerOperatorMetrics } from '../metrics/components.js';
import { TranslationMetrics } from '../metrics/translation.js';

export interface OperatorOptions {
  kubeConfig: k8s.KubeConfig;
  logger: Logger;
  /** This replica's name in the leader Lease; hostname and PID by default. */
  identity?: string;
  leaseNamespace?: string;
  leaseName?: string;
  leaseMs?: number;
  renewMs?: number;
  debounceMs?: number;
  /** Addresses for Gateways that ask for one ("A.B.C.D-A.B.C.E" or a CIDR); without it they are AddressNotAssigned. */
  gatewayAddressPool?: string;
  /** Where Ingresses are served (each agent must be given the same); their status.loadBalancer says so. */
  ingress?: Partial<IngressOptions>;
  /** Where the operator's metrics go (the health endpoint's /metrics); a registry of its own when omitted. */
  registry?: Registry;
  /** Mesh mTLS: the leader keeps the CA root Secret and the trust bundle ConfigMap in this namespace. */
  mutualAuth?: MeshCaLocation;
  /** The leader copies every TLS Secret into this namespace, where the agents read them (tls-secret-mirror.ts). */
  tlsSecretsNamespace?: string;
}

export interface OperatorEvents {
  translated: [Translation];
  statusesWritten: [StatusWriteResult];
  leading: [boolean];
}

const SHARED_STATUS_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'BackendTLSPolicy']);

export class Operator extends EventEmitter<OperatorEvents> {
  last: Translation | undefined;
  private readonly source: KubernetesSource;
  private readonly writer: StatusWriter;
  private readonly infrastructure: GatewayInfrastructureWriter;
  private readonly elector: LeaderElector;
  private readonly log: Logger;
  private writing: Promise<void> | undefined;
  private writeAgain = false;
  private loggedProblems = new Set<string>();
  private readonly cache = new TranslationCache();
  private readonly pool: AddressRange | undefined;
  private readonly ingress: Partial<IngressOptions> | undefined;
  readonly registry: Registry;
  private readonly translationMetrics: TranslationMetrics;
  private readonly statusWrites: Counter<'result'>;
  private certificates: CertificateExpiry[] = [];
  readonly meshCa: MeshCaKeeper | undefined;
  /** Per live route or policy object: whether its status carries an entry of Weft's (see routesShowingWeft). */
  private readonly showsWeft = new WeakMap<KubeObject, boolean>();
  readonly tlsSecretMirror: TlsSecretMirror | undefined;

  constructor(opts: OperatorOptions) {
    super();
    this.log = opts.logger;
    this.registry = opts.registry ?? new Registry();
    this.translationMetrics = new TranslationMetrics(this.registry);
    this.statusWrites = registerOperatorMetrics(this.registry, () => this.isLeader);
    CertificateMetrics.of(this.registry).add(() => this.certificates);
    this.pool = opts.gatewayAddressPool ? parseAddressRange(opts.gatewayAddressPool) : undefined;
    this.ingress = opts.ingress;
    this.meshCa = opts.mutualAuth ? new MeshCaKeeper(opts.kubeConfig, opts.mutualAuth, this.log.child({ component: 'mesh-ca' })) : undefined;
    this.tlsSecretMirror = opts.tlsSecretsNamespace ? new TlsSecretMirror(opts.kubeConfig, opts.tlsSecretsNamespace, this.log.child({ component: 'tls-secret-mirror' })) : undefined;
    // A status changed by someone else (or our own write landing) needs no translation, only a write pass that
    // compares the computed statuses with the live ones again.
    this.source = new KubernetesSource(opts.kubeConfig, { kinds: TRANSLATED_KINDS, logger: this.log, debounceMs: opts.debounceMs ?? 10, onStatusChange: () => this.scheduleWrite() },
      (manifests) => this.translate(manifests));
    this.writer = new StatusWriter(opts.kubeConfig, TRANSLATED_KINDS, (kind, ns, name) => this.source.object(kind, ns, name), this.log);
    this.infrastructure = new GatewayInfrastructureWriter(opts.kubeConfig, this.log);
    this.elector = new LeaderElector(opts.kubeConfig, {
      namespace: opts.leaseNamespace ?? 'kube-system',
      name: opts.leaseName ?? 'weft-operator',
      identity: opts.identity ?? `${hostname()}-${process.pid}`,
      ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
      ...(opts.renewMs ? { renewMs: opts.renewMs } : {}),
    }, this.log, (leading) => {
      this.emit('leading', leading);
      this.meshCa?.setLeading(leading);
      this.tlsSecretMirror?.setLeading(leading);
      // Another replica may have written meanwhile: the first pass as leader compares every object again.
      if (leading) {
        this.writer.forget();
        this.infrastructure.forget();
        this.scheduleWrite();
      }
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Resolves once no status write pass is running or scheduled (a pass emits `statusesWritten` when it ends). */
  async writesSettled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  start(): void {
    this.elector.start();
  }

  async stop(): Promise<void> {
    await this.source.stop();
    await this.meshCa?.stop();
    await this.tlsSecretMirror?.stop();
    await this.writing;
    await this.elector.stop();
  }

  private translate(manifests: Manifest[]): void {
    const gatewayAddress = gatewayAddressesFor(manifests, this.pool, (ns, name) => this.source.object('Gateway', ns, name));
    const translation = this.translationMetrics.timed(() => translateManifests(manifests, [], { cache: this.cache, gatewayAddress, ...(this.ingress ? { ingress: this.ingress } : {}) }));
    this.last = translation;
    this.certificates = irCertificates(translation.ir);
    const current = new Set<string>();
    for (const p of translation.problems) {
      const line = formatProblem(p);
      current.add(line);
      if (!this.loggedProblems.has(line)) this.log.warn({ object: p.object, field: p.field }, line);
    }
    this.loggedProblems = current;
    this.emit('translated', translation);
    this.scheduleWrite();
  }

  /** One write pass at a time; changes arriving meanwhile are written by one more pass with the latest statuses. */
  private scheduleWrite(): void {
    if (!this.elector.isLeader || !this.last) return;
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    this.writing = (async () => {
      do {
        this.writeAgain = false;
        const translation = this.last!;
        const result = await this.writer.write(translation.statuses, this.routesShowingWeft());
        if (result.written || result.failed) this.log.info({ ...result }, 'statuses written');
        this.statusWrites.inc({ result: 'written' }, result.written);
        this.statusWrites.inc({ result: 'failed' }, result.failed);
        this.statusWrites.inc({ result: 'conflict' }, result.conflicts);
        this.emit('statusesWritten', result);
        const infra = await this.infrastructure.write(desiredGatewayInfrastructure(this.weftGateways(translation)),
          this.liveInfrastructure(), (kind, ns, name) => this.source.object(kind, ns, name));
        if (infra.applied || infra.deleted || infra.failed) this.log.info({ ...infra }, 'gateway infrastructure written');
      } while (this.writeAgain && this.elector.isLeader);
    })().finally(() => {
      this.writing = undefined;
    });
  }

  /**
   * Live Services and EndpointSlices Weft generated (the only ones it may delete), with their kind (informers' list
   * items have none). Filtered before copying: a cluster's other Services are many, and this runs on every pass.
   */
  private liveInfrastructure(): KubeObject[] {
    const generated = (o: KubeObject): boolean => o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
    return [
      ...this.source.objects('Service').filter(generated).map((o) => ({ ...o, apiVersion: 'v1', kind: 'Service' })),
      ...this.source.objects('EndpointSlice').filter(generated).map((o) => ({ ...o, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' })),
    ];
  }

  /** Weft's Gateways (those it computed a status for) with the addresses that status reports. */
  private weftGateways(translation: Translation): GatewayInfrastructureInput[] {
    return translation.statuses.flatMap((s) => {
      const gateway = s.kind === 'Gateway' ? this.source.object('Gateway', s.namespace, s.name) : undefined;
      if (!gateway) return [];
      const addresses = ((s.status.addresses ?? []) as Array<{ type?: string; value?: string }>).filter((a) => (a.type ?? 'IPAddress') === 'IPAddress' && a.value).map((a) => a.value!);
      return [{ gateway, addresses }];
    });
  }

  /** Routes and policies whose live status still carries an entry of Weft's: to clean up when Weft has nothing to say. */
  private routesShowingWeft(): Array<{ kind: string; namespace?: string; name: string }> {
    const out: Array<{ kind: string; namespace?: string; name: string }> = [];
    // The live objects themselves (not manifests, which copy every object): this runs on every write pass, so each
    // object's answer is kept until the informer replaces the object.
    for (const kind of SHARED_STATUS_KINDS) {
      for (const live of this.source.objects(kind)) {
        let shows = this.showsWeft.get(live);
        if (shows === undefined) this.showsWeft.set(live, (shows = statusShowsWeft(live)));
        if (shows) out.push({ kind, ...(live.metadata?.namespace ? { namespace: live.metadata.namespace } : {}), name: live.metadata?.name ?? '' });
      }
    }
    return out;
  }
}

/** Whether a route's or policy's live status carries an entry of Weft's. */
function statusShowsWeft(live: KubeObject): boolean {
  const status = live.status as { parents?: Array<{ controllerName?: string }>; ancestors?: Array<{ controllerName?: string }> } | undefined;
  return [...(status?.parents ?? []), ...(status?.ancestors ?? [])].some((p) => p.controllerName === CONTROLLER_NAME);
}
