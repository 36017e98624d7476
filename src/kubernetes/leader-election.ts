// One active operator at a time, through a coordination.k8s.io Lease (what client-go's leaderelection does):
// the holder renews the lease every `renewMs`; another candidate takes it over only after `leaseMs` without renewal.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseMs?: number;
  renewMs?: number;
  retryMs?: number;
  /**
   * A holder whose renewal fails (API server unreachable) goes on leading, retrying every `retryMs`, until it sees
   * another holder. Without it, one failed renewal gives the lease up.
   */
  keepOnError?: boolean;
  /** Also call onChange after the first attempt when it did not win: the candidate then knows where it stands. */
  reportFirstAttempt?: boolean;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private decided = false;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;

  constructor(kc: k8s.KubeConfig, private readonly opts: LeaderElectionOptions, private readonly log: Logger,
    private readonly onChange: (leading: boolean) => void) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.renewMs = opts.renewMs ?? 5_000;
    this.retryMs = opts.retryMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /**
   * Stops renewing and, when leading, releases the lease so that another replica takes over at once (unless
   * `release` is false: the holder then keeps the lease until it expires, or renews it when it comes back).
   */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading && release) {
      try {
        const lease = await this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
        if (lease.spec?.holderIdentity === this.opts.identity) {
          lease.spec.holderIdentity = undefined;
          lease.spec.renewTime = undefined;
          await this.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
        }
      } catch {
        // The lease expires by itself.
      }
      this.setLeading(false);
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let leading: boolean;
    let failed = false;
    try {
      leading = await this.tryAcquireOrRenew();
    } catch (err) {
      failed = true;
      this.log.warn({ err: (err as Error).message, lease: `${this.opts.namespace}/${this.opts.name}` }, 'leader election: lease update failed');
      leading = this.leading && this.opts.keepOnError === true;
    }
    if (this.stopped) return;
    this.setLeading(leading);
    this.timer = setTimeout(() => void this.tick(), leading && !failed ? this.renewMs : this.retryMs);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading && (this.decided || !this.opts.reportFirstAttempt)) return;
    this.decided = true;
    if (leading !== this.leading) {
      this.log.info({ identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` }, leading ? 'became leader' : 'lost leadership');
    }
    this.leading = leading;
    this.onChange(leading);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = new Date();
    const spec = (transitions: number, acquired: Date): k8s.V1LeaseSpec => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: new k8s.V1MicroTime(acquired.getTime()),
      renewTime: new k8s.V1MicroTime(now.getTime()),
      leaseTransitions: transitions,
    });
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec(0, now) } });
      return true;
    }
    const holder = lease.spec?.holderIdentity;
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const expired = !holder || now.getTime() - renewed > (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder !== identity && !expired) return false;
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    const acquired = holder === identity && lease.spec?.acquireTime ? new Date(lease.spec.acquireTime) : now;
    // The resourceVersion in `lease` makes this a compare-and-swap: two candidates can't both take it.
    await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: spec(transitions, acquired) } });
    return true;
  }
}
