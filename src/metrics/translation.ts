// Translation metrics: how long each translation takes, and what the last one produced.
import type { Histogram, Gauge, Registry } from 'prom-client';
import type { Translation } from '../standalone/pipeline.js';
import { shortTypeName } from '../xds/type-urls.js';
import { METRICS } from './catalogue.js';
import { gauge, histogram, SECONDS_BUCKETS } from './registry.js';

export class TranslationMetrics {
  readonly duration: Histogram;
  readonly problems: Gauge;
  readonly resources: Gauge<'type'>;

  constructor(registry: Registry) {
    this.duration = histogram(registry, METRICS.translationSeconds, SECONDS_BUCKETS);
    this.problems = gauge(registry, METRICS.translationProblems);
    this.resources = gauge(registry, METRICS.translationResources);
  }

  /** Runs `translate`, observing its duration and its result. */
  timed<T extends Translation>(translate: () => T): T {
    const end = this.duration.startTimer();
    const t = translate();
    end();
    this.problems.set(t.problems.length);
    const byType = new Map<string, number>();
    for (const r of t.resources) byType.set(shortTypeName(r.typeUrl), (byType.get(shortTypeName(r.typeUrl)) ?? 0) + 1);
    this.resources.reset();
    for (const [type, n] of byType) this.resources.set({ type }, n);
    return t;
  }
}
