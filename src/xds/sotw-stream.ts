// State-of-the-world ADS: every response carries the complete set of the type's resources.
import type * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse } from '../generated/envoy/service/discovery/v3/DiscoveryResponse.js';
import { AdsStream, type StreamContext } from './ads-stream.js';
import { resourceAsAny } from './resource.js';
import { fingerprintOf, type TypeTrack } from './stream-plan.js';
import { isKnownTypeUrl, shortTypeName, WILDCARD_TYPES } from './type-urls.js';

export type SotwCall = grpc.ServerDuplexStream<DiscoveryRequest__Output, DiscoveryResponse>;

export class SotwStream extends AdsStream {
  readonly protocol = 'sotw' as const;
  private readonly call: SotwCall;

  constructor(ctx: StreamContext, call: SotwCall) {
    super(ctx);
    this.call = call;
  }

  onRequest(req: DiscoveryRequest__Output): void {
    if (!this.bindNode(req.node)) return;
    if (!isKnownTypeUrl(req.type_url)) {
      this.log.warn({ typeUrl: req.type_url }, 'request for an unsupported type; ignored');
      return;
    }
    const track = this.plan.track(req.type_url);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ type: shortTypeName(track.typeUrl), nonce: req.response_nonce, names: req.resource_names, error: req.error_detail?.message }, 'xDS request received');
    if (req.response_nonce && track.lastNonce !== undefined) {
      // A request naming an older nonce answers a response that a newer one already replaced: ignored.
      if (req.response_nonce !== track.lastNonce) return;
      // The latest nonce: an ACK or NACK if that response is still in flight. If it is settled already,
      // this is the client changing its subscription (Envoy names the last nonce it received, e.g. when
      // it asks for the endpoints of a cluster it was just sent): not an ACK again, but current.
      const error = req.error_detail ? { code: req.error_detail.code, message: req.error_detail.message } : null;
      if (track.inFlight) this.settleResponse(track, req.response_nonce, error);
    } else if (req.version_info && !track.requested) {
      track.resumeVersion = req.version_info;
    }
    this.updateSubscription(track, req.resource_names);
    this.flush();
  }

  private updateSubscription(track: TypeTrack, names: string[]): void {
    const wildcard = names.includes('*') || (names.length === 0 && WILDCARD_TYPES.has(track.typeUrl));
    const explicit = names.filter((n) => n !== '*');
    const changed =
      !track.requested || wildcard !== track.wildcard || explicit.length !== track.names.size || explicit.some((n) => !track.names.has(n));
    track.requested = true;
    if (!changed) return;
    track.wildcard = wildcard;
    track.names.clear();
    for (const n of explicit) track.names.add(n);
    track.subscriptionChanged = true;
    // Envoy forgets resources it stops asking for: they are no longer part of what it holds.
    if (!wildcard) {
      const kept = new Map([...track.acked].filter(([n]) => track.names.has(n)));
      if (kept.size !== track.acked.size) {
        track.setAcked(kept);
        this.noteHeld(track);
      }
    }
  }

  protected sendType(track: TypeTrack): void {
    const target = this.plan.target(track.typeUrl);
    if (!target) return;
    const fingerprint = fingerprintOf(target);
    if (track.resumeVersion !== undefined) {
      const resumed = track.resumeVersion === fingerprint;
      track.resumeVersion = undefined;
      if (resumed) {
        // A reconnecting Envoy already holds exactly this: nothing to send, nothing to flap.
        track.applyAck({ target, fingerprint });
        track.subscriptionChanged = false;
        this.noteHeld(track);
        return;
      }
    }
    const resendDue = [...track.resend].some((name) => target.has(name));
    if (fingerprint === track.ackedFingerprint && !track.subscriptionChanged && !resendDue) return;
    if (fingerprint === track.nackedFingerprint) return;
    if (!WILDCARD_TYPES.has(track.typeUrl) && target.size === 0 && track.acked.size === 0) return;
    const nonce = this.nextNonce();
    const response: DiscoveryResponse = {
      version_info: fingerprint,
      type_url: track.typeUrl,
      nonce,
      resources: [...target.values()].map(resourceAsAny),
    };
    track.subscriptionChanged = false;
    track.resend.clear();
    this.recordSent(track, { nonce, target, fingerprint, sentAt: performance.now() }, [...target.keys()], []);
    this.call.write(response);
  }

  end(): void {
    this.call.end();
  }
}
