// Metrics of single components: the operator's lease and status writes, the supervised Envoy, the relay.
import type { Counter, Registry } from 'prom-client';
import type { NodeInfo } from '../observe/observer-service.js';
import { METRICS } from './catalogue.js';
import { counter, gauge } from './registry.js';

export function registerOperatorMetrics(registry: Registry, isLeader: () => boolean): Counter<'result'> {
  gauge(registry, METRICS.operatorLeader, function () {
    this.set(isLeader() ? 1 : 0);
  });
  return counter(registry, METRICS.statusWrites);
}

/** Envoy restarts, read from the supervisor at scrape time. */
export function registerEnvoyMetrics(registry: Registry, restarts: () => number): void {
  counter(registry, METRICS.envoyRestarts, function () {
    // A counter mirroring the supervisor's count: only ever grows, as the supervisor's does.
    this.reset();
    this.inc(restarts());
  });
}

export function registerRelayMetrics(registry: Registry, nodes: () => NodeInfo[]): void {
  gauge(registry, METRICS.relayAgents, function () {
    const all = nodes();
    const connected = all.filter((n) => n.connected).length;
    this.set({ state: 'connected' }, connected);
    this.set({ state: 'disconnected' }, all.length - connected);
  });
}
