// Connection tracking garbage collection: the datapath's table is an LRU hash (it never fills up), but
// entries of closed or idle connections are removed here so they stop matching replies.
import type { BpfMap } from './bpf-map.js';
import { CT_FLAGS, decodeConntrack, IPPROTO, type ConntrackEntry } from './layout.js';
import { nativeBpf } from './native.js';

export interface ConntrackTimeouts {
  /** Established TCP connections. */
  tcpNs: bigint;
  /** TCP connections that saw FIN or RST. */
  closingNs: bigint;
  /** UDP and ICMP flows. */
  otherNs: bigint;
}

const SECOND = 1_000_000_000n;
export const DEFAULT_TIMEOUTS: ConntrackTimeouts = { tcpNs: 6n * 3600n * SECOND, closingNs: 10n * SECOND, otherNs: 60n * SECOND };

export class Conntrack {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly map: BpfMap) {}

  entries(): ConntrackEntry[] {
    return [...this.map.entries()].map(([k, v]) => decodeConntrack(k, v));
  }

  /** Deletes expired entries; returns how many. */
  collect(timeouts: ConntrackTimeouts = DEFAULT_TIMEOUTS, nowNs: bigint = nativeBpf().monotonicNs()): number {
    let deleted = 0;
    for (const [key, value] of this.map.entries()) {
      const e = decodeConntrack(key, value);
      const limit = e.proto !== IPPROTO.tcp ? timeouts.otherNs : e.flags & CT_FLAGS.closing ? timeouts.closingNs : timeouts.tcpNs;
      if (nowNs - e.lastSeenNs > limit && this.map.delete(key)) deleted++;
    }
    return deleted;
  }

  /** Forgets connections to a backend (so, after its removal, even existing connections move). */
  purgeBackend(backendId: number): number {
    let deleted = 0;
    for (const [key, value] of this.map.entries()) if (decodeConntrack(key, value).backendId === backendId && this.map.delete(key)) deleted++;
    return deleted;
  }

  /** Runs collect() every intervalMs without keeping the process alive. */
  start(intervalMs: number, timeouts: ConntrackTimeouts = DEFAULT_TIMEOUTS): void {
    this.stop();
    this.timer = setInterval(() => this.collect(timeouts), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
