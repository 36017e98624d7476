// Flow metrics: every batch a flow ring takes (a node's agent or the relay) is counted by type, verdict
// and drop reason; L7 requests also by policy verdict and status class. Counting happens on the ring's
// subscriber seam, so ingestion stays one pass over each batch.
import type { Counter, Registry } from 'prom-client';
import type { Flow } from '../observe/flow.js';
import type { FlowRing } from '../observe/flow-ring.js';
import { METRICS } from './catalogue.js';
import { counter, gauge } from './registry.js';

/** An L7 flow's policy verdict: denied by policy (DROPPED), allowed (FORWARDED), or an error. */
export function l7PolicyVerdict(f: Flow): 'allowed' | 'denied' | 'error' {
  return f.verdict === 'DROPPED' ? 'denied' : f.verdict === 'FORWARDED' ? 'allowed' : 'error';
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'none';
}

export class FlowMetrics {
  readonly flows: Counter<'type' | 'verdict' | 'drop_reason'>;
  readonly l7Verdicts: Counter<'verdict' | 'status_class'>;

  private readonly rings = new Set<FlowRing>();
  private static readonly byRegistry = new WeakMap<Registry, FlowMetrics>();

  /** The registry's flow metrics (one set per registry, whatever follows rings into it). */
  static of(registry: Registry): FlowMetrics {
    let m = FlowMetrics.byRegistry.get(registry);
    if (!m) FlowMetrics.byRegistry.set(registry, (m = new FlowMetrics(registry)));
    return m;
  }

  private constructor(registry: Registry) {
    this.flows = counter(registry, METRICS.flows);
    this.l7Verdicts = counter(registry, METRICS.l7Verdicts);
    const rings = this.rings;
    gauge(registry, METRICS.flowRingFlows, function () {
      let n = 0;
      for (const r of rings) n += r.size;
      this.set(n);
    });
  }

  /** Counts every batch `ring` takes from now on; returns the function that stops it. */
  follow(ring: FlowRing): () => void {
    this.rings.add(ring);
    const unsubscribe = ring.subscribe((batch) => this.count(batch));
    return () => {
      unsubscribe();
      this.rings.delete(ring);
    };
  }

  count(batch: readonly Flow[]): void {
    // Batches hold thousands of flows of few kinds: count per kind, then one inc per kind.
    const kinds = new Map<string, number>();
    for (const f of batch) {
      const key = `${f.type}\u0000${f.verdict}\u0000${f.drop_reason}`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
      if (f.type === 'L7') this.l7Verdicts.inc({ verdict: l7PolicyVerdict(f), status_class: statusClass(f.http?.status ?? 0) });
    }
    for (const [key, n] of kinds) {
      const [type, verdict, drop_reason] = key.split('\u0000');
      this.flows.inc({ type, verdict, drop_reason }, n);
    }
  }
}
