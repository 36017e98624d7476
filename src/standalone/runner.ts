// `weft run -c DIR` as a library: translate a directory of manifests, serve the result over xDS to a
// local Envoy that it starts and supervises, watch the directory and re-translate on every change.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, watch, type FSWatcher } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { EnvoySupervisor, type EnvoyProcess } from '../../envoy/process.js';
import { startAdminServer } from './admin-server.js';
import type { ObjectStatus } from '../gateway/conditions.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { formatProblem } from '../sources/manifests.js';
import type { NackEvent } from '../xds/ads-stream.js';
import { InMemorySnapshotCache } from '../xds/cache.js';
import { XdsServer } from '../xds/server.js';
import { Snapshot } from '../xds/snapshot.js';
import { ackDivergence } from '../xds/node-status.js';
import { TranslationCache, translateManifests, type TranslateOptions, type Translation } from './pipeline.js';
import { loadManifestDir, ManifestFileCache, type LoadedManifests } from '../sources/manifests.js';
import { Registry } from 'prom-client';
import { translationReport } from '../cli/translate.js';
import { CertificateMetrics, irCertificates, type CertificateExpiry } from '../metrics/certificates.js';
import { registerEnvoyMetrics } from '../metrics/components.js';
import { TranslationMetrics } from '../metrics/translation.js';
import { XdsMetrics } from '../xds/metrics.js';
import type { Resource } from '../xds/resource.js';
import { loadOrCreateCa } from '../mtls/ca-store.js';
import { MeshNodeAgent } from '../mtls/mesh-agent.js';
import { policiesRequireAuthentication, standaloneMeshView } from '../mtls/standalone-mesh.js';
import { TrustDomainAuthority } from '../mtls/trust-bundle.js';
import { AccessLogFileLimit, type RotationReader } from '../l7policy/access-log-limit.js';

export const STANDALONE_NODE_ID = 'weft-node';

/**
 * Quiet time that makes changes a burst. The first change after a quiet period is read at once; changes within
 * this time of the last reload wait until the directory has been quiet this long. A read taken at once may see a
 * file half written (editors write in a few steps within microseconds): what such a read would lose (a file
 * emptied, cut, gone or not YAML) is held until a read after the quiet time (ManifestFileCache holdLosses).
 */
export const DEFAULT_DEBOUNCE_MS = 10;

export interface RunnerOptions {
  /** Directory of YAML manifests (every *.yaml / *.yml file directly in it, multi-document). */
  dir: string;
  protocol?: 'delta' | 'sotw';
  /** Port of Weft's own admin endpoint (/metrics, /debug/xds) on 127.0.0.1; none when omitted. */
  adminPort?: number;
  logger?: Logger;
  nodeId?: string;
  /** Changes within this time of the last reload are coalesced: read once the directory is quiet this long. */
  debounceMs?: number;
  /** Where the one-time `ready` line goes; stdout by default. */
  print?: (line: string) => void;
  /** Envoy binary; the pinned one (WEFT_ENVOY_BIN, .cache/envoy, PATH) when omitted. */
  envoyBinary?: string;
  /** Translation options (where Ingresses are served). */
  translate?: TranslateOptions;
  /** Where the runner's metrics go (the admin endpoint's /metrics); a registry of its own when omitted. */
  registry?: Registry;
  /** The mesh (mutual TLS between pods), started when a CiliumNetworkPolicy requires authentication. */
  mesh?: StandaloneMeshSettings;
  /** The L7 access log file's size limit (AccessLogFileLimit; default 100 MiB). */
  l7AccessLogMaxBytes?: number;
  /** Flows (src/observe/standalone.ts): follows the L7 access log file, which its size limit rotates around. */
  followL7AccessLog?: (file: string) => RotationReader;
}

export interface StandaloneMeshSettings {
  /** Default cluster.local. */
  trustDomain?: string;
  /** The CA root's directory (`weft ca init`); default: one in the run's temporary directory, new every run. */
  caDir?: string;
  /** Ports of the outbound and inbound listeners on 127.0.0.1 (defaults 15001 and 15008). */
  outboundPort?: number;
  inboundPort?: number;
  /** SVID lifetime (default 1 h, renewed at half-life). */
  svidTtlMs?: number;
}

export const DEFAULT_MESH_OUTBOUND_PORT = 15001;
export const DEFAULT_MESH_INBOUND_PORT = 15008;

/** One changed condition of one object, as logged. */
export interface StatusChange {
  object: string;
  /** Where the condition sits: '' for status.conditions, `listener http`, `parent quickstart`. */
  scope: string;
  /** Where the object is defined: `file:line`. */
  source: string;
  type: string;
  status: string | undefined;
  reason: string | undefined;
  previousStatus: string | undefined;
  previousReason: string | undefined;
  message: string | undefined;
}

export interface ReadyInfo {
  generation: number;
  gateways: number;
  version: string;
  envoyPid: number | undefined;
}

export interface RunnerEvents {
  /** A translation was taken and its snapshot set (problems included: invalid objects are left out). */
  reloaded: [Translation];
  /** A read taken at once after a change kept what `n` files would lose (half written?) until the directory is quiet. */
  lossesHeld: [number];
  /** A reload failed entirely (e.g. the directory vanished); the last good state keeps being served. */
  reloadFailed: [Error];
  statusChange: [StatusChange];
  /** Every Gateway is Programmed and Envoy ACKed the current snapshot; once per generation. */
  ready: [ReadyInfo];
  nack: [NackEvent];
}

export interface RunnerStatus {
  ready: boolean;
  generation: number;
  version: string;
  nodeId: string;
  /** What Envoy has not ACKed of the current snapshot. */
  divergence: string | null;
  unprogrammedGateways: string[];
  problems: number;
  envoy: { running: boolean; pid: number | null; restarts: number };
  nacks: number;
  lastNack: { typeUrl: string; error: string } | null;
  certificates: Array<{ kind: string; name: string; notAfter: string; secondsLeft: number }>;
}

interface Flat {
  status: string | undefined;
  reason: string | undefined;
  message?: string;
}

interface LoggedStatus {
  /** The object (its ObjectStatus's kind, namespace and name). */
  of: ObjectStatus;
  /** The status the conditions below come from. */
  status: Record<string, unknown>;
  conditions: Map<string, Flat>;
  source: ObjectStatus['source'];
  /** The logStatusChanges pass that last saw the object. */
  pass: number;
}

export class StandaloneRunner extends EventEmitter<RunnerEvents> {
  readonly nodeId: string;
  readonly nacks: NackEvent[] = [];
  /**
   * Snapshots are published at once: the watcher already coalesces bursts (a reload follows a quiet time, or
   * is a lone change), so the cache's own quiet time would only delay each change by a timer.
   */
  readonly cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  server!: XdsServer;
  /** The last translation that was served. */
  last: Translation | undefined;
  /** Bumped on every snapshot set. */
  generation = 0;
  private readonly log: Logger;
  private readonly workDir = mkdtempSync(path.join(tmpdir(), 'weft-run-'));
  private accessLogLimit: AccessLogFileLimit | undefined;
  private supervisor: EnvoySupervisor | undefined;
  private admin: http.Server | undefined;
  private watcher: FSWatcher | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  /** A lone change's read, taken at once (after the other events of the same poll). */
  private eagerRead: NodeJS.Immediate | undefined;
  /** When the last reload ended (performance.now()). */
  private lastReloadAt = -Infinity;
  /** Whether the last reload translated without an error (if not, the next one translates even if nothing changed). */
  private lastReloadOk = true;
  /** Parses of the directory's files, so that a reload re-parses only what changed. */
  private readonly files = new ManifestFileCache();
  /** What reloads reuse of earlier translations: only changed objects are translated and encoded again. */
  private readonly translations = new TranslationCache();
  private snapshot = Snapshot.of([]);
  /** Each object's conditions as last logged, updated in place (a reload changes few of 3,000 routes' statuses). */
  private readonly loggedStatuses = new Map<string, LoggedStatus>();
  /** The same entries by status object: an unchanged route hands back the same one, found without a key string. */
  private readonly loggedByStatus = new WeakMap<object, LoggedStatus>();
  /** Bumped per logStatusChanges pass; an entry not seen in the current pass is an object that is gone. */
  private statusPass = 0;
  private readyGeneration = -1;
  private printedReady = false;
  private stopped = false;
  /** Readiness can change on an ACK, or when Envoy stops holding something without one (an unsubscribe). */
  private readonly onAck = (): void => this.checkReady();
  readonly registry: Registry;
  private readonly translationMetrics: TranslationMetrics;
  /** The listener certificates of the last translation (computed once per translation, read per scrape). */
  private certificates: CertificateExpiry[] = [];
  /** Whether the manifests ask for the mesh (a policy requires authentication): translations then emit its routes. */
  private meshWanted = false;
  /** The mesh's node agent (SVIDs, bundle, listeners) while the mesh is on. */
  mesh: MeshNodeAgent | undefined;
  private meshResources: Resource[] = [];

  constructor(private readonly opts: RunnerOptions) {
    super();
    this.nodeId = opts.nodeId ?? STANDALONE_NODE_ID;
    this.log = opts.logger ?? silentLogger;
    this.registry = opts.registry ?? new Registry();
    this.translationMetrics = new TranslationMetrics(this.registry);
    CertificateMetrics.of(this.registry).add(() => this.certificates);
    registerEnvoyMetrics(this.registry, () => this.envoyRestarts);
  }

  /** Translation options; L7 policy's access log defaults to a file in the run's work directory. */
  get translateOptions(): TranslateOptions {
    const mesh = this.meshWanted ? { mesh: { trustDomain: this.meshTrustDomain } } : {};
    return { ...this.opts.translate, l7: { accessLogPath: path.join(this.workDir, 'l7-access.log'), ...this.opts.translate?.l7, ...mesh } };
  }

  get meshTrustDomain(): string {
    return this.opts.mesh?.trustDomain ?? 'cluster.local';
  }

  /** Where pods send to reach a policed endpoint port over the mesh (Host: meshServiceHost(…)). */
  get meshOutbound(): { address: string; port: number } {
    return { address: '127.0.0.1', port: this.opts.mesh?.outboundPort ?? DEFAULT_MESH_OUTBOUND_PORT };
  }

  /** Where Envoy writes the L7 policy access log (JSON lines; read them with parseL7AccessLogLine). */
  get l7AccessLogPath(): string {
    return this.translateOptions.l7!.accessLogPath!;
  }

  get envoy(): EnvoyProcess | undefined {
    return this.supervisor?.current;
  }

  /** The bound port of Weft's admin endpoint, or undefined when there is none. */
  get adminPort(): number | undefined {
    const address = this.admin?.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  get envoyRestarts(): number {
    return this.supervisor?.restarts ?? 0;
  }

  async start(): Promise<void> {
    const socket = path.join(this.workDir, 'xds.sock');
    const reader = this.opts.followL7AccessLog?.(this.l7AccessLogPath);
    this.accessLogLimit = new AccessLogFileLimit(this.l7AccessLogPath, this.opts.l7AccessLogMaxBytes, { logger: this.log, ...(reader ? { reader } : {}) });
    this.server = new XdsServer({ cache: this.cache, logger: this.log, metrics: new XdsMetrics(this.registry) });
    this.server.on('ack', this.onAck);
    this.server.on('held', this.onAck);
    this.server.on('nack', (e) => {
      this.nacks.push(e);
      this.log.error({ typeUrl: e.typeUrl, error: e.errorMessage }, 'Envoy rejected the configuration');
      this.emit('nack', e);
    });
    await this.server.listen({ unix: socket });
    if (this.opts.adminPort !== undefined) {
      this.admin = await startAdminServer(this.server, this.opts.adminPort, {
        registry: this.registry,
        envoyAdminUrl: () => (this.envoy?.adminPort ? this.envoy.adminUrl : undefined),
        ready: () => this.isReady(),
        status: () => this.statusReport(),
        translation: (withXds) => (this.last ? translationReport(this.last, withXds ? 'all' : 'status') : {}),
      });
    }
    // The first translation must work (a missing directory is a usage error); later ones may fail.
    const loaded = this.load(false);
    this.files.takeChanged();
    const first = this.translate(loaded);
    this.apply(first);
    this.watchDir();
    if (this.stopped) return;
    this.supervisor = new EnvoySupervisor(
      {
        bootstrap: nodeBootstrap({ nodeId: this.nodeId, xds: { unix: socket }, protocol: this.opts.protocol ?? 'delta' }),
        logger: this.log.child({ component: 'envoy' }),
        ...(this.opts.envoyBinary ? { binary: this.opts.envoyBinary } : {}),
      },
      this.log.child({ component: 'supervisor' }),
    );
    const proc = await this.supervisor.start();
    if (this.stopped) {
      // stop() came while Envoy was starting.
      await this.supervisor.stop();
      return;
    }
    this.log.info({ envoyPid: proc.pid, admin: proc.adminUrl }, 'envoy started');
    this.checkReady();
  }

  /**
   * Re-reads the directory now (the watcher calls this). `holdLosses`: a read taken at once after a change, which
   * keeps what a half-written file would lose until a read after the quiet time (scheduled here).
   */
  reload(holdLosses = false): void {
    if (this.stopped) return;
    let t: Translation;
    try {
      const loaded = this.load(holdLosses);
      if (loaded.held > 0) {
        this.log.debug({ files: loaded.held }, 'a file looks half written (emptied, cut, gone or not YAML): its objects are kept until the directory is quiet');
        this.debounce();
        this.emit('lossesHeld', loaded.held);
      }
      // Nothing changed in the directory (e.g. the second event of one write): the translation would be the same.
      if (!this.files.takeChanged() && this.lastReloadOk) {
        this.lastReloadAt = performance.now();
        return;
      }
      this.lastReloadOk = false;
      t = this.translate(loaded);
    } catch (err) {
      this.lastReloadAt = performance.now();
      const error = err instanceof Error ? err : new Error(String(err));
      this.log.error({ err: error.message }, 'reload failed; still serving the last good configuration');
      this.emit('reloadFailed', error);
      return;
    }
    try {
      this.apply(t);
      this.lastReloadOk = true;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.log.error({ err: error.message }, 'reload failed; still serving the last good configuration');
      this.emit('reloadFailed', error);
    }
    this.lastReloadAt = performance.now();
  }

  private load(holdLosses: boolean): LoadedManifests & { held: number } {
    return loadManifestDir(this.opts.dir, this.files, { holdLosses });
  }

  private translate(loaded: LoadedManifests): Translation {
    const once = (): Translation => this.translationMetrics.timed(() => translateManifests(loaded.manifests, loaded.problems, { ...this.translateOptions, cache: this.translations }));
    const t = once();
    // The mesh's routes are emitted only while some policy asks for authentication (Envoy fetches only what
    // a listener names); when that changes, translate again with the other setting.
    const wanted = policiesRequireAuthentication(t.l7?.policies ?? []);
    if (wanted === this.meshWanted) return t;
    this.meshWanted = wanted;
    return once();
  }

  /** The mesh's resources for a translation: starts, updates or stops the node agent. */
  private meshFor(t: Translation): Resource[] {
    if (!this.meshWanted || !t.l7) {
      this.mesh?.stop();
      this.mesh = undefined;
      return [];
    }
    const outbound = this.meshOutbound;
    const { view, problems } = standaloneMeshView(t.l7, { trustDomain: this.meshTrustDomain, outbound, inbound: { address: '127.0.0.1', port: this.opts.mesh?.inboundPort ?? DEFAULT_MESH_INBOUND_PORT }, accessLogPath: this.l7AccessLogPath });
    for (const p of problems) this.log.warn(p);
    if (!this.mesh) {
      const { ca, created } = loadOrCreateCa(this.opts.mesh?.caDir ?? path.join(this.workDir, 'ca'), { trustDomain: this.meshTrustDomain });
      this.log.info({ trustDomain: this.meshTrustDomain, created, outbound: `${outbound.address}:${outbound.port}` }, 'a policy requires authentication: mesh mutual TLS on');
      const agent = new MeshNodeAgent(new TrustDomainAuthority(ca), view, this.opts.mesh?.svidTtlMs);
      // Renewals and rotations: the same translation with the agent's new resources.
      agent.on('change', (resources) => {
        if (this.mesh !== agent || !this.last || this.stopped) return;
        this.meshResources = resources;
        this.setSnapshot(this.last);
        this.checkReady();
      });
      this.mesh = agent;
    } else {
      this.mesh.setView(view);
    }
    return this.mesh.resources();
  }

  private setSnapshot(t: Translation): void {
    this.snapshot = Snapshot.of([...t.resources, ...this.meshResources]);
    this.generation++;
    this.cache.setSnapshot(this.nodeId, this.snapshot);
  }

  /** What `weft status` reads (the admin endpoint's /debug/status). */
  statusReport(): RunnerStatus {
    const now = Date.now();
    return {
      ready: this.isReady(),
      generation: this.generation,
      version: this.version(),
      nodeId: this.nodeId,
      divergence: this.divergence() ?? null,
      unprogrammedGateways: this.unprogrammedGateways(),
      problems: this.last?.problems.length ?? 0,
      envoy: { running: this.envoy?.pid !== undefined, pid: this.envoy?.pid ?? null, restarts: this.envoyRestarts },
      nacks: this.nacks.length,
      lastNack: this.nacks.at(-1) ? { typeUrl: this.nacks.at(-1)!.typeUrl, error: this.nacks.at(-1)!.errorMessage } : null,
      certificates: this.certificates.map((c) => ({ kind: c.kind, name: c.name, notAfter: c.notAfter.toISOString(), secondsLeft: Math.round((c.notAfter.getTime() - now) / 1000) })),
    };
  }

  private apply(t: Translation): void {
    this.meshResources = this.meshFor(t);
    this.certificates = irCertificates(t.ir);
    for (const p of t.problems) this.log.warn({ file: p.source.file, line: p.source.line }, formatProblem(p));
    this.setSnapshot(t);
    this.last = t;
    this.logStatusChanges(t.statuses);
    this.log.info({ generation: this.generation, resources: t.resources.length, problems: t.problems.length, version: this.version() }, 'configuration loaded');
    this.emit('reloaded', t);
    this.checkReady();
  }

  private watchDir(): void {
    if (this.stopped) return;
    try {
      const watcher = watch(this.opts.dir, { persistent: true }, () => this.changed());
      watcher.on('error', (err) => {
        this.log.warn({ err: err.message }, 'watching the manifest directory failed; retrying');
        this.rewatch();
      });
      this.watcher = watcher;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir: this.opts.dir }, 'cannot watch the manifest directory; retrying');
      this.rewatch();
    }
  }

  /** The directory itself went away (or was replaced): watch it again once it is back. */
  private rewatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.stopped || this.rewatchTimer) return;
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      if (existsSync(this.opts.dir)) {
        this.watchDir();
        this.changed();
      } else {
        this.rewatch();
      }
    }, 250);
  }

  private changed(): void {
    if (this.stopped) return;
    // A directory that was removed (or renamed away) leaves a watcher that sees nothing more.
    if (!existsSync(this.opts.dir)) this.rewatch();
    if (this.eagerRead) return; // that read has not happened yet and will see this change too
    if (this.debounceTimer === undefined && performance.now() - this.lastReloadAt >= this.debounceMs) {
      // A lone change (after a quiet period) is read at once, not held for the quiet time.
      this.eagerRead = setImmediate(() => {
        this.eagerRead = undefined;
        this.reload(true);
      });
      return;
    }
    this.debounce();
  }

  /** Reloads once the directory has been quiet for the debounce time (each call restarts the wait). */
  private debounce(): void {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.reload();
    }, this.debounceMs);
  }

  private get debounceMs(): number {
    return this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  }

  /** A short content hash of every resource version in the current snapshot. */
  version(): string {
    const h = createHash('sha256');
    for (const r of this.snapshot.all()) h.update(`${r.typeUrl} ${r.name} ${r.version}\n`);
    return h.digest('hex').slice(0, 12);
  }

  /** What differs between the current snapshot and what Envoy ACKed, or undefined when nothing does. */
  divergence(): string | undefined {
    return ackDivergence(this.server?.nodeStatus(this.nodeId), this.snapshot);
  }

  /** Gateways of the current translation that are not Programmed=True. */
  unprogrammedGateways(): string[] {
    return (this.last?.statuses ?? [])
      .filter((s) => s.kind === 'Gateway')
      .filter((s) => !conditionsOf(s.status).some((c) => c.type === 'Programmed' && c.status === 'True'))
      .map((s) => `${s.namespace ?? ''}/${s.name}`);
  }

  isReady(): boolean {
    return this.last !== undefined && this.unprogrammedGateways().length === 0 && this.divergence() === undefined;
  }

  /** Resolves once the current (or a later) generation is ready. */
  ready(): Promise<ReadyInfo> {
    return new Promise((resolve) => {
      if (this.readyGeneration === this.generation && this.isReady()) {
        resolve(this.readyInfo());
        return;
      }
      this.once('ready', resolve);
    });
  }

  private readyInfo(): ReadyInfo {
    const gateways = (this.last?.statuses ?? []).filter((s) => s.kind === 'Gateway').length;
    return { generation: this.generation, gateways, version: this.version(), envoyPid: this.envoy?.pid };
  }

  private checkReady(): void {
    if (this.stopped || this.readyGeneration === this.generation || !this.supervisor || !this.isReady()) return;
    this.readyGeneration = this.generation;
    const info = this.readyInfo();
    const line = `weft: ready: ${info.gateways} Gateway${info.gateways === 1 ? '' : 's'} programmed, Envoy ACKed version ${info.version}`;
    if (!this.printedReady) {
      this.printedReady = true;
      (this.opts.print ?? ((l: string) => process.stdout.write(l + '\n')))(line);
    } else {
      this.log.info({ generation: info.generation, version: info.version, gateways: info.gateways }, 'ready');
    }
    this.emit('ready', info);
  }

  private logStatusChanges(statuses: ObjectStatus[]): void {
    const pass = ++this.statusPass;
    for (const s of statuses) {
      const same = this.loggedByStatus.get(s.status);
      // Still this object's latest status (not one it had before), and not a status object two objects share.
      if (same !== undefined && same.status === s.status && same.of.name === s.name && same.of.kind === s.kind && same.of.namespace === s.namespace) {
        same.pass = pass;
        same.source = s.source;
        continue;
      }
      const object = `${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`;
      // Most objects' conditions are as they were: compared in place, without flattening (3,000 routes).
      const logged = this.loggedStatuses.get(object);
      // The same object (a route the translation cache kept) has the same conditions.
      if (logged && (logged.status === s.status || sameConditions(logged.status, s.status))) {
        logged.status = s.status;
        logged.of = s;
        logged.pass = pass;
        logged.source = s.source;
        this.loggedByStatus.set(s.status, logged);
        continue;
      }
      const flat = flatten(s.status);
      const source = `${s.source.file}:${s.source.line}`;
      const before = logged?.conditions ?? new Map<string, Flat>();
      for (const [key, now] of flat) {
        const was = before.get(key);
        if (was && was.status === now.status && was.reason === now.reason) continue;
        this.report(object, key, now, was, source);
      }
      for (const [key, was] of before) if (!flat.has(key)) this.report(object, key, { status: undefined, reason: undefined }, was, source);
      const entry: LoggedStatus = { of: s, status: s.status, conditions: flat, source: s.source, pass };
      this.loggedStatuses.set(object, entry);
      this.loggedByStatus.set(s.status, entry);
    }
    for (const [object, logged] of this.loggedStatuses) {
      if (logged.pass === pass) continue;
      this.loggedStatuses.delete(object);
      this.loggedByStatus.delete(logged.status);
      for (const [key, was] of logged.conditions) this.report(object, key, { status: undefined, reason: undefined }, was, `${logged.source.file}:${logged.source.line}`);
    }
  }

  private report(object: string, key: string, now: Flat, was: Flat | undefined, source: string): void {
    const [scope, type] = splitKey(key);
    const change: StatusChange = { object, scope, source, type, status: now.status, reason: now.reason, previousStatus: was?.status, previousReason: was?.reason, message: now.message };
    const where = scope ? ` ${scope}` : '';
    const text = now.status === undefined ? `${source} ${object}${where}: ${type} gone (was ${was?.status}/${was?.reason})` : `${source} ${object}${where}: ${type}=${now.status} (${now.reason})${was ? ` was ${was.status} (${was.reason})` : ''}${now.status === 'False' && now.message ? `: ${now.message}` : ''}`;
    if (now.status === 'False' && type !== 'Conflicted') this.log.warn({ change }, text);
    else this.log.info({ change }, text);
    this.emit('statusChange', change);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.accessLogLimit?.stop();
    clearTimeout(this.debounceTimer);
    clearImmediate(this.eagerRead);
    clearTimeout(this.rewatchTimer);
    this.watcher?.close();
    this.server?.off('ack', this.onAck);
    this.server?.off('held', this.onAck);
    this.mesh?.stop();
    await this.supervisor?.stop();
    await this.server?.shutdown(1000);
    if (this.admin) await new Promise<void>((resolve) => this.admin!.close(() => resolve()));
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

interface RawCondition {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
}

function conditionsOf(v: unknown): RawCondition[] {
  if (typeof v !== 'object' || v === null) return [];
  const c = (v as { conditions?: unknown }).conditions;
  return Array.isArray(c) ? (c as RawCondition[]) : [];
}

const SEP = '\u0000';

function splitKey(key: string): [string, string] {
  const i = key.indexOf(SEP);
  return [key.slice(0, i), key.slice(i + 1)];
}

/** Every condition of a status with where it sits (the object, a listener, a parent), in order. */
function eachCondition(status: Record<string, unknown>, visit: (scope: string, c: RawCondition) => void): void {
  const add = (scope: string, holder: unknown): void => {
    for (const c of conditionsOf(holder)) if (typeof c.type === 'string') visit(scope, c);
  };
  add('', status);
  const listeners = status.listeners;
  if (Array.isArray(listeners)) for (const l of listeners as Array<{ name?: unknown }>) add(`listener ${String(l.name)}`, l);
  const parents = status.parents;
  if (Array.isArray(parents)) {
    for (const p of parents as Array<{ parentRef?: { name?: unknown; namespace?: unknown; sectionName?: unknown } }>) {
      const ref = p.parentRef ?? {};
      const ns = typeof ref.namespace === 'string' ? `${ref.namespace}/` : '';
      const section = typeof ref.sectionName === 'string' ? `/${ref.sectionName}` : '';
      add(`parent ${ns}${String(ref.name)}${section}`, p);
    }
  }
}

/** Every condition of a status, keyed by where it sits and its type. */
function flatten(status: Record<string, unknown>): Map<string, Flat> {
  const out = new Map<string, Flat>();
  eachCondition(status, (scope, c) => {
    out.set(`${scope}${SEP}${String(c.type)}`, { status: typeof c.status === 'string' ? c.status : undefined, reason: typeof c.reason === 'string' ? c.reason : undefined, message: typeof c.message === 'string' ? c.message : undefined });
  });
  return out;
}

/**
 * Whether two statuses have the same conditions where logStatusChanges looks (type, status and reason, at the same
 * place: the object, each listener, each parent, in order). Stricter than comparing their flattened conditions (a
 * reordering counts), which is then done for the few that differ.
 */
function sameConditions(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (!sameConditionList(a, b)) return false;
  const la = a.listeners, lb = b.listeners;
  if (Array.isArray(la) || Array.isArray(lb)) {
    if (!Array.isArray(la) || !Array.isArray(lb) || la.length !== lb.length) return false;
    for (let i = 0; i < la.length; i++) {
      const x = la[i] as { name?: unknown }, y = lb[i] as { name?: unknown };
      if (String(x?.name) !== String(y?.name) || !sameConditionList(x, y)) return false;
    }
  }
  const pa = a.parents, pb = b.parents;
  if (Array.isArray(pa) || Array.isArray(pb)) {
    if (!Array.isArray(pa) || !Array.isArray(pb) || pa.length !== pb.length) return false;
    for (let i = 0; i < pa.length; i++) {
      const x = pa[i] as { parentRef?: Record<string, unknown> }, y = pb[i] as { parentRef?: Record<string, unknown> };
      const rx = x?.parentRef ?? {}, ry = y?.parentRef ?? {};
      if (rx.name !== ry.name || rx.namespace !== ry.namespace || rx.sectionName !== ry.sectionName || !sameConditionList(x, y)) return false;
    }
  }
  return true;
}

function sameConditionList(a: unknown, b: unknown): boolean {
  const ca = conditionsOf(a), cb = conditionsOf(b);
  if (ca.length !== cb.length) return false;
  for (let i = 0; i < ca.length; i++) {
    const x = ca[i], y = cb[i];
    if (x?.type !== y?.type || x?.status !== y?.status || x?.reason !== y?.reason) return false;
  }
  return true;
}
