// A bounded ring of the most recent flows, and the subscribers that follow new ones. Writing never waits
// for a reader: a follower that cannot keep up loses flows (and is told how many), the ring never grows.
// Subscribers are also the seam for anything that counts flows (metrics): they see every batch.
import type { Flow } from './flow.js';

/** Flows a node's ring keeps unless told otherwise (the relay's keeps four times as many). */
export const DEFAULT_RING_CAPACITY = 65_536;

export type FlowSubscriber = (batch: readonly Flow[]) => void;

export class FlowRing {
  private readonly slots: Array<Flow | undefined>;
  private next = 0;
  /** Flows ever written. */
  written = 0;
  private readonly subscribers = new Set<FlowSubscriber>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`flow ring capacity must be a positive integer, not ${capacity}`);
    this.slots = new Array<Flow | undefined>(capacity);
  }

  push(batch: readonly Flow[]): void {
    if (batch.length === 0) return;
    for (const f of batch) {
      this.slots[this.next] = f;
      this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    }
    this.written += batch.length;
    for (const s of this.subscribers) s(batch);
  }

  /** The newest `limit` flows that match (0: all that match), oldest first. */
  recent(match: (f: Flow) => boolean, limit = 0): Flow[] {
    const held = Math.min(this.written, this.capacity);
    const out: Flow[] = [];
    for (let i = 1; i <= held; i++) {
      const f = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (!match(f)) continue;
      out.push(f);
      if (limit > 0 && out.length === limit) break;
    }
    return out.reverse();
  }

  get size(): number {
    return Math.min(this.written, this.capacity);
  }

  subscribe(s: FlowSubscriber): () => void {
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }
}
