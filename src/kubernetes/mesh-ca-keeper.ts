// The leader operator's share of mesh mTLS: while it leads, the CA Secret exists (created once, never overwritten)
// and the trust bundle ConfigMap holds its roots (active, staged and retired ones over a rotation). Checked when
// leadership starts, when the Secret changes (a rotation step) and then every `intervalMs` (a
// deleted ConfigMap comes back; a deleted Secret means a new root, as on a first install), retried with backoff on
// errors. A Secret that fails validation is reported (naming the Secret and field) and left alone. While it leads, it
// also signs the node agents' intermediates from the Secret's issuing root (mesh-intermediate-signer.ts): the root key
// never leaves the operator.
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { startKindInformer, type KindInformer } from './informers.js';
import { bundleOfRoots, CA_SECRET_NAME, caSecretKind, ensureCaSecret, publishTrustBundle, type MeshCaLocation, type MeshCaRoots } from './mesh-ca.js';
import { nextRotationStep, PHASE_ANNOTATION } from './mesh-ca-rotation.js';
import { MAX_INTERMEDIATE_TTL_MS, MeshIntermediateSigner } from './mesh-intermediate-signer.js';

/** The node agents' ServiceAccount in the CA namespace when none is named (what `weft dev cluster up` creates). */
export const DEFAULT_AGENT_SERVICE_ACCOUNT = 'weft-agent';

export interface MeshCaResult {
  /** The root's SHA-256 fingerprint, when the Secret is valid. */
  fingerprint256?: string;
  created: boolean;
  bundleWritten: boolean;
  error?: string;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export class MeshCaKeeper extends EventEmitter<{ checked: [MeshCaResult] }> {
  private readonly core: k8s.CoreV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private running: Promise<void> | undefined;
  private retryMs = MIN_RETRY_MS;
  private lastError = '';
  private informer: KindInformer | undefined;
  /** The Secret changed during a check: check again at once. */
  private dirty = false;
  last: MeshCaResult | undefined;
  /** The Secret's roots at the last good check. */
  roots: MeshCaRoots | undefined;
  readonly signer: MeshIntermediateSigner;

  constructor(private readonly kc: k8s.KubeConfig, readonly location: MeshCaLocation, private readonly log: Logger, private readonly intervalMs = 60_000) {
    super();
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    const agentUsername = `system:serviceaccount:${location.namespace}:${location.agentServiceAccount ?? DEFAULT_AGENT_SERVICE_ACCOUNT}`;
    // A new request may be the report a rotation waits for.
    this.signer = new MeshIntermediateSigner(kc, { agentUsername }, () => (this.leading ? this.roots?.active : undefined), log, () => this.secretChanged());
  }

  /** Follows leadership: checks at once when it starts, stops checking when it ends. */
  setLeading(leading: boolean): void {
    this.leading = leading;
    clearTimeout(this.timer);
    if (leading) this.schedule(0);
    if (leading && !this.informer) this.informer = startKindInformer(this.kc, caSecretKind(this.location.namespace), () => this.secretChanged(), this.log);
    if (leading) this.signer.start();
    else void this.signer.stop();
  }

  async stop(): Promise<void> {
    this.leading = false;
    clearTimeout(this.timer);
    await this.informer?.stop();
    this.informer = undefined;
    await this.signer.stop();
    await this.running;
  }

  private secretChanged(): void {
    if (!this.leading) return;
    if (this.running) this.dirty = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.check().finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (!this.leading) return;
    let result: MeshCaResult;
    let wakeAt: Date | undefined;
    try {
      const { ca, roots, created, secret } = await ensureCaSecret(this.core, this.location);
      if (created) this.log.info({ secret: `${this.location.namespace}/${CA_SECRET_NAME}`, trustDomain: ca.trustDomain, fingerprint256: ca.root.x509.fingerprint256 }, 'mesh CA root created');
      // Signing from the new issuing root before the bundle names it: agents that see it ask at once.
      this.roots = roots;
      const bundleWritten = await publishTrustBundle(this.core, this.location, bundleOfRoots(roots), ca.root.x509.fingerprint256);
      // Requests that waited for a valid root, or a rotation's new issuing root: sign them now.
      this.signer.poke();
      result = { fingerprint256: ca.root.x509.fingerprint256, created, bundleWritten };
      wakeAt = await this.rotate(secret, roots);
      this.retryMs = MIN_RETRY_MS;
      this.lastError = '';
    } catch (err) {
      const message = (err as Error).message.split('\n')[0];
      if (message !== this.lastError) this.log.error({ err: message }, 'mesh CA: the root Secret or the trust bundle could not be ensured; retrying');
      this.lastError = message;
      result = { created: false, bundleWritten: false, error: message };
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS, this.intervalMs);
    }
    this.last = result;
    this.emit('checked', result);
    const again = this.dirty;
    this.dirty = false;
    const untilWake = wakeAt ? Math.max(0, wakeAt.getTime() - Date.now()) : Infinity;
    if (this.leading) this.schedule(again ? 0 : result.error ? this.retryMs : Math.min(this.intervalMs, untilWake));
  }

  /** A rotation's next step (mesh-ca-rotation.ts), written to the Secret; when to look again, if it waits for a time. */
  private async rotate(secret: k8s.V1Secret, roots: MeshCaRoots): Promise<Date | undefined> {
    const step = await nextRotationStep({
      secret, roots, now: new Date(), trustDomain: this.location.trustDomain, retireAfterMs: this.location.retireAfterMs ?? MAX_INTERMEDIATE_TTL_MS,
      reported: (node) => this.signer.reported(node),
      nodes: async () => (await this.core.listNode()).items.map((n) => n.metadata!.name!),
    });
    if ('write' in step) {
      // With the resourceVersion read: a concurrent change makes this fail (409) and the check runs again.
      await this.core.replaceNamespacedSecret({ name: CA_SECRET_NAME, namespace: this.location.namespace, body: step.write });
      this.log.info({ secret: `${this.location.namespace}/${CA_SECRET_NAME}`, phase: step.write.metadata?.annotations?.[PHASE_ANNOTATION] ?? 'done' }, step.message);
      this.dirty = true;
      return undefined;
    }
    return step.wakeAt;
  }
}
