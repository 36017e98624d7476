// The part of an ADS stream common to state-of-the-world and delta: node binding, the snapshot watch,
// ACK/NACK bookkeeping, and deciding when to look for something to send.
import type { Logger } from 'pino';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node.js';
import type { SnapshotCache } from './cache.js';
import type { XdsMetrics } from './metrics.js';
import type { NodeStatusBook } from './node-status.js';
import { StreamPlan, type InFlight, type TypeTrack } from './stream-plan.js';
import { ALL_TYPE_URLS, shortTypeName, TypeUrl } from './type-urls.js';

export type Protocol = 'sotw' | 'delta';

export interface AckEvent {
  nodeId: string;
  typeUrl: TypeUrl;
  protocol: Protocol;
  nonce: string;
  versionInfo: string;
  /** name → version the client now holds for this type. */
  versions: ReadonlyMap<string, string>;
  latencyMs: number;
}

export interface NackEvent {
  nodeId: string;
  typeUrl: TypeUrl;
  protocol: Protocol;
  nonce: string;
  versionInfo: string;
  errorCode: number;
  errorMessage: string;
}

export interface ResponseEvent {
  nodeId: string;
  typeUrl: TypeUrl;
  protocol: Protocol;
  nonce: string;
  versionInfo: string;
  resourceNames: string[];
  removedNames: string[];
}

export interface StreamContext {
  cache: SnapshotCache;
  nodeKeyOf: (node: Node__Output) => string;
  status: NodeStatusBook;
  metrics: XdsMetrics;
  logger: Logger;
  /** Envoy's drain time (StreamPlan: warm-first removals wait it out after a listener change). */
  listenerDrainMs?: number;
  events: {
    ack(e: AckEvent): void;
    nack(e: NackEvent): void;
    response(e: ResponseEvent): void;
    /** What a client holds changed without an ACK (a reconnecting client declared its resources). */
    held(e: { nodeId: string; typeUrl: string }): void;
    closed(stream: AdsStream): void;
  };
}

export abstract class AdsStream {
  abstract readonly protocol: Protocol;
  protected readonly plan: StreamPlan;
  protected readonly ctx: StreamContext;
  protected log: Logger;
  node: Node__Output | undefined;
  nodeKey = '';
  private unwatch: (() => void) | undefined;
  private nonceCounter = 0;
  private closed = false;
  private flushing = false;
  /** Looks again when replaced filter chains have drained (removals held until then). */
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(ctx: StreamContext) {
    this.ctx = ctx;
    this.plan = new StreamPlan(ctx.listenerDrainMs);
    this.log = ctx.logger;
  }

  get nodeId(): string {
    return this.node?.id ?? '';
  }

  /** Binds the stream to the node named in its first request; later requests may omit the node. */
  protected bindNode(node: Node__Output | null | undefined): boolean {
    if (this.node) return true;
    if (!node?.id) {
      this.log.warn('ADS request without node id; ignored');
      return false;
    }
    this.node = node;
    this.nodeKey = this.ctx.nodeKeyOf(node);
    this.log = this.ctx.logger.child({ node: node.id, protocol: this.protocol });
    const nodeStatus = this.ctx.status.node(node.id, this.nodeKey);
    if (nodeStatus.connectedStreams === 0) {
      // A new client (or a reconnecting one) holds nothing we know of until it ACKs or declares it.
      for (const typeStatus of nodeStatus.types.values()) {
        typeStatus.acked = new Map();
        typeStatus.ackedVersion = undefined;
      }
    }
    nodeStatus.connectedStreams++;
    this.ctx.metrics.streams.inc({ protocol: this.protocol });
    this.plan.snapshot = this.ctx.cache.getSnapshot(this.nodeKey);
    this.unwatch = this.ctx.cache.watch(this.nodeKey, (snapshot) => {
      this.plan.snapshot = snapshot;
      this.flush();
    });
    this.log.info('ADS stream opened');
    return true;
  }

  protected nextNonce(): string {
    return String(++this.nonceCounter);
  }

  /** Looks at every type, in make-before-break order, for something to send. */
  protected flush(): void {
    if (this.closed || this.flushing) return;
    this.flushing = true;
    try {
      for (const type of ALL_TYPE_URLS) {
        const track = this.plan.track(type);
        if (track.requested && !track.inFlight) this.sendType(track);
      }
    } finally {
      this.flushing = false;
    }
    this.flushAfterDrain();
  }

  /** While removals wait for a drain, one timer to look again when it ends. */
  private flushAfterDrain(): void {
    if (this.drainTimer || this.closed) return;
    const wait = this.plan.takeDrainRetryMs();
    if (wait === undefined) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.flush();
    }, wait);
  }

  protected abstract sendType(track: TypeTrack): void;

  protected recordSent(track: TypeTrack, flight: InFlight, resourceNames: string[], removedNames: string[]): void {
    // Before the flight replaces what the client holds: which clusters it adds or changes.
    if (track.typeUrl === TypeUrl.Cluster) this.plan.clustersSent(track.acked, flight.target);
    track.inFlight = flight;
    track.lastNonce = flight.nonce;
    const typeStatus = this.ctx.status.type(this.nodeId, this.nodeKey, track.typeUrl);
    typeStatus.responses++;
    this.ctx.metrics.responses.inc({ type: shortTypeName(track.typeUrl), protocol: this.protocol });
    this.log.debug({ type: shortTypeName(track.typeUrl), nonce: flight.nonce, version: flight.fingerprint, resources: resourceNames, removed: removedNames }, 'xDS response sent');
    this.ctx.events.response({ nodeId: this.nodeId, typeUrl: track.typeUrl, protocol: this.protocol, nonce: flight.nonce, versionInfo: flight.fingerprint, resourceNames, removedNames });
  }

  /**
   * Records in the node status what the client holds of `track`'s type after that changed without an ACK:
   * a reconnecting client resumed or declared its state, or it unsubscribed from names.
   */
  protected noteHeld(track: TypeTrack): void {
    const typeStatus = this.ctx.status.type(this.nodeId, this.nodeKey, track.typeUrl);
    typeStatus.acked = track.acked;
    typeStatus.ackedVersion = track.ackedFingerprint;
    this.ctx.events.held({ nodeId: this.nodeId, typeUrl: track.typeUrl });
  }

  /** Handles the ACK or NACK of the response in flight for `track`, if `nonce` names it. */
  protected settleResponse(track: TypeTrack, nonce: string, error: { code: number; message: string } | null): boolean {
    const flight = track.inFlight;
    if (!flight || flight.nonce !== nonce) return false;
    track.inFlight = undefined;
    const type = shortTypeName(track.typeUrl);
    const typeStatus = this.ctx.status.type(this.nodeId, this.nodeKey, track.typeUrl);
    if (error) {
      track.nackedFingerprint = flight.fingerprint;
      typeStatus.nacks++;
      typeStatus.lastNack = { nonce, versionInfo: flight.fingerprint, errorCode: error.code, errorMessage: error.message, at: new Date() };
      this.ctx.metrics.nacks.inc({ type, protocol: this.protocol });
      this.log.error({ type, nonce, version: flight.fingerprint, code: error.code, detail: error.message }, 'Envoy rejected (NACKed) configuration; holding it back until the desired state changes');
      this.ctx.events.nack({ nodeId: this.nodeId, typeUrl: track.typeUrl, protocol: this.protocol, nonce, versionInfo: flight.fingerprint, errorCode: error.code, errorMessage: error.message });
    } else {
      if (track.typeUrl === TypeUrl.Listener) this.plan.listenersAcked(track.acked, flight.target);
      track.applyAck(flight);
      const latencyMs = performance.now() - flight.sentAt;
      typeStatus.acks++;
      typeStatus.ackedVersion = flight.fingerprint;
      typeStatus.acked = track.acked;
      this.ctx.metrics.acks.inc({ type, protocol: this.protocol });
      this.ctx.metrics.ackSeconds.observe({ type, protocol: this.protocol }, latencyMs / 1000);
      this.ctx.events.ack({ nodeId: this.nodeId, typeUrl: track.typeUrl, protocol: this.protocol, nonce, versionInfo: flight.fingerprint, versions: track.acked, latencyMs });
    }
    return true;
  }

  /** The stream's plan in one line (diagnostics: why something is not sent). */
  describe(now = performance.now()): string {
    const types = [...this.plan.tracks.values()]
      .filter((t) => t.requested)
      .map((t) => `${shortTypeName(t.typeUrl)}${t.inFlight ? ` in flight #${t.inFlight.nonce} for ${Math.round(now - t.inFlight.sentAt)} ms` : ''}${t.nackedFingerprint ? ' NACKed' : ''}`);
    const drain = this.plan.drainingUntil > now ? `, draining ${Math.round(this.plan.drainingUntil - now)} ms more` : '';
    return `${this.protocol} stream of ${this.nodeId}: ${types.join(', ')}${drain}${this.plan.lateTypesConverged() ? '' : ', listeners/routes not converged'}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.drainTimer);
    this.unwatch?.();
    if (this.node) {
      const node = this.ctx.status.get(this.nodeId);
      if (node) node.connectedStreams--;
      this.ctx.metrics.streams.dec({ protocol: this.protocol });
      this.log.info('ADS stream closed');
    }
    this.ctx.events.closed(this);
  }

  abstract end(): void;
}
