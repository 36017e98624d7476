// Prometheus metrics of the xDS server.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class XdsMetrics {
  readonly registry: Registry;
  readonly streams: Gauge<'protocol'>;
  readonly responses: Counter<'type' | 'protocol'>;
  readonly acks: Counter<'type' | 'protocol'>;
  readonly nacks: Counter<'type' | 'protocol'>;
  readonly ackSeconds: Histogram<'type' | 'protocol'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.streams = new Gauge({ name: 'weft_xds_streams', help: 'Open ADS streams.', labelNames: ['protocol'], registers: [registry] });
    this.responses = new Counter({ name: 'weft_xds_responses_total', help: 'xDS responses sent.', labelNames: ['type', 'protocol'], registers: [registry] });
    this.acks = new Counter({ name: 'weft_xds_acks_total', help: 'xDS responses ACKed by clients.', labelNames: ['type', 'protocol'], registers: [registry] });
    this.nacks = new Counter({ name: 'weft_xds_nacks_total', help: 'xDS responses rejected (NACKed) by clients.', labelNames: ['type', 'protocol'], registers: [registry] });
    this.ackSeconds = new Histogram({
      name: 'weft_xds_response_ack_seconds',
      help: 'Time from sending an xDS response to its ACK.',
      labelNames: ['type', 'protocol'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }
}
