// One announcer per address, as Cilium's L2 announcements elect one: every agent whose node serves an address is a
// candidate for its Lease (`weft-l2announce-<address>`), and only the holder puts the address on its interface. When
// the holder dies, or its node stops serving the address, another candidate takes the Lease once it expired (or at
// once, when released) and announces.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { LeaderElector } from './leader-election.js';

/** Cilium's defaults (l2announcements.leaseDuration, leaseRetryPeriod): 15 s, 2 s. */
export const ANNOUNCE_LEASE_DEFAULTS = { durationMs: 15_000, retryPeriodMs: 2_000 };

export interface AnnouncementElectionOptions {
  namespace: string;
  /** The holder identity: the node's name. */
  identity: string;
  durationMs?: number;
  retryPeriodMs?: number;
}

/** The Lease of one address: a name the API server accepts (a DNS subdomain), one per address. */
export function announceLeaseName(address: string): string {
  return `weft-l2announce-${address.toLowerCase().replace(/[.:]/g, '-')}`;
}

export class AnnouncementElection {
  private readonly electors = new Map<string, LeaderElector>();
  private readonly held = new Set<string>();
  /** Candidacies whose first attempt has not answered yet: what this node announces there is left as it is. */
  private readonly pending = new Set<string>();

  constructor(private readonly kc: k8s.KubeConfig, private readonly opts: AnnouncementElectionOptions, private readonly log: Logger,
    /** Called with the addresses this node holds, whenever that set changes. */
    private readonly onChange: (held: ReadonlySet<string>) => void) {}

  /** The addresses this node won (a subset of the candidacies). */
  get holding(): ReadonlySet<string> {
    return this.held;
  }

  get undecided(): ReadonlySet<string> {
    return this.pending;
  }

  /** Runs for exactly `addresses` (those this node serves): new ones start a candidacy, dropped ones release theirs. */
  async setCandidacies(addresses: ReadonlySet<string>): Promise<void> {
    for (const address of addresses) {
      if (this.electors.has(address)) continue;
      const d = ANNOUNCE_LEASE_DEFAULTS;
      const retryMs = this.opts.retryPeriodMs ?? d.retryPeriodMs;
      const elector = new LeaderElector(this.kc, {
        namespace: this.opts.namespace, name: announceLeaseName(address), identity: this.opts.identity,
        // The holder renews every retry period, as client-go's elector (which Cilium's uses) does. Unlike it (no renew
        // deadline), a holder that can't reach the API server goes on announcing until it sees another holder: nobody
        // can take the Lease through an unreachable API server, and an API server restart must not cut the addresses.
        leaseMs: this.opts.durationMs ?? d.durationMs, renewMs: retryMs, retryMs, keepOnError: true,
        reportFirstAttempt: true,
      }, this.log, (leading) => this.changed(address, leading));
      this.electors.set(address, elector);
      this.pending.add(address);
      elector.start();
    }
    for (const [address, elector] of this.electors) {
      if (addresses.has(address)) continue;
      this.electors.delete(address);
      this.pending.delete(address);
      await elector.stop();
      this.changed(address, false);
    }
  }

  /** Ends every candidacy: releasing the Leases (another node takes over at once), or keeping them to come back to. */
  async stop(release: boolean): Promise<void> {
    const electors = [...this.electors.values()];
    this.electors.clear();
    await Promise.all(electors.map((e) => e.stop(release)));
  }

  private changed(address: string, leading: boolean): void {
    const first = this.pending.delete(address);
    if (leading === this.held.has(address) && !first) return;
    if (leading) this.held.add(address);
    else this.held.delete(address);
    this.onChange(this.held);
  }
}
