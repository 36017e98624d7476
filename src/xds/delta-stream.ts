// Incremental (delta) ADS: responses carry only changed resources and the names of removed ones.
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DeltaDiscoveryResponse } from '../generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.js';
import { AdsStream, type StreamContext } from './ads-stream.js';
import { resourceAsAny } from './resource.js';
import { fingerprintOf, type TypeTrack } from './stream-plan.js';
import { isKnownTypeUrl, shortTypeName, WILDCARD_TYPES } from './type-urls.js';

export type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse>;

export class DeltaStream extends AdsStream {
  readonly protocol = 'delta' as const;
  private readonly call: DeltaCall;

  constructor(ctx: StreamContext, call: DeltaCall) {
    super(ctx);
    this.call = call;
  }

  onRequest(req: DeltaDiscoveryRequest__Output): void {
    if (!this.bindNode(req.node)) return;
    if (!isKnownTypeUrl(req.type_url)) {
      this.log.warn({ typeUrl: req.type_url }, 'request for an unsupported type; ignored');
      return;
    }
    const track = this.plan.track(req.type_url);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ type: shortTypeName(track.typeUrl), nonce: req.response_nonce, subscribe: req.resource_names_subscribe, unsubscribe: req.resource_names_unsubscribe, error: req.error_detail?.message }, 'xDS request received');
    const first = !track.requested;
    if (first) {
      track.requested = true;
      // Legacy wildcard: the first request for a wildcard type with no names subscribes to everything.
      if (req.resource_names_subscribe.length === 0 && WILDCARD_TYPES.has(track.typeUrl)) track.wildcard = true;
      const initial = new Map(Object.entries(req.initial_resource_versions ?? {}));
      if (initial.size > 0) {
        track.setAcked(initial);
        this.noteHeld(track);
      }
    }
    // Subscription changes are deltas: they count even when the nonce is stale.
    for (const name of req.resource_names_subscribe) {
      if (name === '*') track.wildcard = true;
      else track.names.add(name);
      // The spec: a name subscribed again must be sent again, even at the version the client holds, "the
      // client may have forgotten" it (Envoy re-subscribes when it replaced the watcher of a secret or
      // an endpoint set). A reconnecting client's first request declares what it holds: not re-sent.
      if (!first && name !== '*') track.resend.add(name);
    }
    if (req.resource_names_unsubscribe.length > 0) {
      const acked = new Map(track.acked);
      for (const name of req.resource_names_unsubscribe) {
        if (name === '*') track.wildcard = false;
        else track.names.delete(name);
        acked.delete(name);
      }
      track.setAcked(acked);
      this.noteHeld(track);
    }
    if (req.response_nonce) {
      const error = req.error_detail ? { code: req.error_detail.code, message: req.error_detail.message } : null;
      this.settleResponse(track, req.response_nonce, error);
    }
    this.flush();
  }

  protected sendType(track: TypeTrack): void {
    const target = this.plan.target(track.typeUrl);
    if (!target) return;
    const changed = [...target.values()].filter((r) => track.acked.get(r.name) !== r.version || track.resend.has(r.name));
    const removed = [...track.acked.keys()].filter((name) => !target.has(name));
    // Envoy waits for a first response to a wildcard subscription (CDS, LDS) before it initializes, up to
    // initial_fetch_timeout (15 s). When there is nothing at all (no resources, none declared held by a
    // reconnecting client), that first response is an empty one.
    const firstWildcard = track.wildcard && track.lastNonce === undefined && target.size === 0 && track.acked.size === 0;
    if (changed.length === 0 && removed.length === 0 && !firstWildcard) return;
    const fingerprint = fingerprintOf(target);
    if (fingerprint === track.nackedFingerprint) return;
    track.resend.clear();
    const nonce = this.nextNonce();
    const response: DeltaDiscoveryResponse = {
      system_version_info: fingerprint,
      type_url: track.typeUrl,
      nonce,
      resources: changed.map((r) => ({ name: r.name, version: r.version, resource: resourceAsAny(r) })),
      removed_resources: removed,
    };
    this.recordSent(track, { nonce, target, fingerprint, sentAt: performance.now() }, changed.map((r) => r.name), removed);
    this.call.write(response);
  }

  end(): void {
    this.call.end();
  }
}
