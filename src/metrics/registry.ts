// Weft's Prometheus registries: one per process, holding the process metrics (collectDefaultMetrics) and
// the families of the catalogue that the process's parts register (helpers below).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricFamily } from './catalogue.js';

type Labels<F extends MetricFamily> = F['labels'][number];

/** A registry with Node.js and process metrics (CPU, memory, file descriptors, event loop lag, GC). */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The family's metric in `registry`: created on first use, the same object afterwards (a process's parts
 * may share a registry and a family, e.g. the flow agent and the relay in one test).
 */
function existing<M>(registry: Registry, f: MetricFamily): M | undefined {
  return registry.getSingleMetric(f.name) as M | undefined;
}

export function counter<F extends MetricFamily>(registry: Registry, f: F, collect?: (this: Counter<Labels<F>>) => void): Counter<Labels<F>> {
  return existing<Counter<Labels<F>>>(registry, f) ??
    new Counter<Labels<F>>({ name: f.name, help: f.help, labelNames: f.labels, registers: [registry], ...(collect ? { collect } : {}) });
}

export function gauge<F extends MetricFamily>(registry: Registry, f: F, collect?: (this: Gauge<Labels<F>>) => void | Promise<void>): Gauge<Labels<F>> {
  return existing<Gauge<Labels<F>>>(registry, f) ??
    new Gauge<Labels<F>>({ name: f.name, help: f.help, labelNames: f.labels, registers: [registry], ...(collect ? { collect } : {}) });
}

export function histogram<F extends MetricFamily>(registry: Registry, f: F, buckets: number[]): Histogram<Labels<F>> {
  return existing<Histogram<Labels<F>>>(registry, f) ??
    new Histogram<Labels<F>>({ name: f.name, help: f.help, labelNames: f.labels, buckets, registers: [registry] });
}

/** Latency buckets from 1 ms to 10 s. */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
