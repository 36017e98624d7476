// Desired state per node key, with bursts of changes coalesced before streams see them.
// In the spirit of go-control-plane's SnapshotCache: the server only reads and watches.
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

export interface SnapshotCache {
  setSnapshot(nodeKey: string, snapshot: Snapshot): void;
  getSnapshot(nodeKey: string): Snapshot | undefined;
  clearSnapshot(nodeKey: string): void;
  /** Calls `listener` with each published snapshot for `nodeKey`; returns the function that stops it. */
  watch(nodeKey: string, listener: SnapshotListener): () => void;
  nodeKeys(): string[];
}

export interface CoalesceOptions {
  /** Publish once no change arrived for this long. */
  quietMs: number;
  /** ...but never later than this after the first unpublished change. */
  maxDelayMs: number;
}

export const DEFAULT_COALESCE: CoalesceOptions = { quietMs: 2, maxDelayMs: 50 };

/** Listeners called per event-loop turn when a snapshot is published (see deliver()). */
export const PUBLISH_BATCH = 16;

interface Entry {
  published: Snapshot | undefined;
  pending: Snapshot | undefined;
  firstPendingAt: number;
  timer: NodeJS.Timeout | undefined;
  listeners: Set<SnapshotListener>;
  /** Counts publishes, so that a delivery still in progress knows when a newer one superseded it. */
  publishes: number;
}

export class InMemorySnapshotCache implements SnapshotCache {
  private readonly entries = new Map<string, Entry>();
  private readonly coalesce: CoalesceOptions;

  constructor(coalesce: Partial<CoalesceOptions> = {}) {
    this.coalesce = { ...DEFAULT_COALESCE, ...coalesce };
  }

  setSnapshot(nodeKey: string, snapshot: Snapshot): void {
    const entry = this.entry(nodeKey);
    const now = performance.now();
    if (!entry.pending) entry.firstPendingAt = now;
    entry.pending = snapshot;
    if (this.coalesce.maxDelayMs <= 0) {
      this.publish(nodeKey, entry);
      return;
    }
    clearTimeout(entry.timer);
    const deadline = entry.firstPendingAt + this.coalesce.maxDelayMs;
    const wait = Math.max(0, Math.min(this.coalesce.quietMs, deadline - now));
    entry.timer = setTimeout(() => this.publish(nodeKey, entry), wait);
  }

  getSnapshot(nodeKey: string): Snapshot | undefined {
    return this.entries.get(nodeKey)?.published;
  }

  clearSnapshot(nodeKey: string): void {
    const entry = this.entries.get(nodeKey);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.pending = undefined;
    entry.published = undefined;
    if (entry.listeners.size === 0) this.entries.delete(nodeKey);
  }

  watch(nodeKey: string, listener: SnapshotListener): () => void {
    const entry = this.entry(nodeKey);
    entry.listeners.add(listener);
    return () => {
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0 && !entry.published && !entry.pending) this.entries.delete(nodeKey);
    };
  }

  nodeKeys(): string[] {
    return [...this.entries.entries()].filter(([, e]) => e.published || e.pending).map(([k]) => k);
  }

  /** Publishes any coalesced change now (used on shutdown and by tests that need determinism). */
  flush(): void {
    for (const [key, entry] of this.entries) if (entry.pending) this.publish(key, entry);
  }

  private entry(nodeKey: string): Entry {
    let entry = this.entries.get(nodeKey);
    if (!entry) {
      entry = { published: undefined, pending: undefined, firstPendingAt: 0, timer: undefined, listeners: new Set(), publishes: 0 };
      this.entries.set(nodeKey, entry);
    }
    return entry;
  }

  private publish(_nodeKey: string, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const snapshot = entry.pending;
    if (!snapshot) return;
    entry.pending = undefined;
    entry.published = snapshot;
    this.deliver(entry, snapshot, ++entry.publishes, [...entry.listeners], 0);
  }

  /**
   * Calls the listeners PUBLISH_BATCH at a time, yielding to the event loop between batches: each
   * listener is a stream that encodes and queues a response, and with a thousand streams on one node
   * key, queueing them all in one go holds every response in memory at once. Between batches the
   * queued responses reach their sockets (and ACKs are read). A newer publish supersedes the rest.
   */
  private deliver(entry: Entry, snapshot: Snapshot, publish: number, listeners: SnapshotListener[], from: number): void {
    if (entry.publishes !== publish) return;
    const to = Math.min(listeners.length, from + PUBLISH_BATCH);
    for (let i = from; i < to; i++) {
      const listener = listeners[i];
      if (entry.listeners.has(listener)) listener(snapshot);
    }
    if (to < listeners.length) setImmediate(() => this.deliver(entry, snapshot, publish, listeners, to));
  }
}
