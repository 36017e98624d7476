// Prometheus metrics of the xDS server (families: src/metrics/catalogue.ts).
import { Registry, type Counter, type Gauge, type Histogram } from 'prom-client';
import { METRICS } from '../metrics/catalogue.js';
import { counter, gauge, histogram } from '../metrics/registry.js';

export class XdsMetrics {
  readonly registry: Registry;
  readonly streams: Gauge<'protocol'>;
  readonly responses: Counter<'type' | 'protocol'>;
  readonly acks: Counter<'type' | 'protocol'>;
  readonly nacks: Counter<'type' | 'protocol'>;
  readonly ackSeconds: Histogram<'type' | 'protocol'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.streams = gauge(registry, METRICS.xdsStreams);
    this.responses = counter(registry, METRICS.xdsResponses);
    this.acks = counter(registry, METRICS.xdsAcks);
    this.nacks = counter(registry, METRICS.xdsNacks);
    this.ackSeconds = histogram(registry, METRICS.xdsAckSeconds, [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  }
}
