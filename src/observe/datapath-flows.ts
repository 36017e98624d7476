// Datapath flow events (ring buffer, see src/datapath/layout.ts) → flow records.
import { DROP_REASONS, type FlowEvent } from '../datapath/layout.js';
import { DATAPATH_DROP_REASONS, PROTOCOL_NAMES, type Flow } from './flow.js';
import type { WorkloadDirectory } from './directory.js';

const REASON_NUMBER = new Map(Object.entries(DROP_REASONS).map(([n, name]) => [name, Number(n)]));

/**
 * `clockOffsetMs` turns the event's CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) into wall-clock
 * milliseconds: Date.now() minus the monotonic clock in ms, taken once (see monotonicToWallOffset).
 */
export function flowFromDatapath(e: FlowEvent, directory: WorkloadDirectory, clockOffsetMs: number): Flow {
  const drop = e.kind === 'drop';
  const reason = drop ? DATAPATH_DROP_REASONS[REASON_NUMBER.get(e.reason) ?? -1] : undefined;
  return {
    time_ms: Number(e.timeNs) / 1e6 + clockOffsetMs,
    node: directory.node,
    type: 'L3_L4',
    verdict: drop ? 'DROPPED' : e.verdict === 'redirect' ? 'REDIRECTED' : 'FORWARDED',
    drop_reason: drop ? (reason?.name ?? e.reason.toUpperCase()) : '',
    drop_reason_code: reason?.code ?? 0,
    traffic_direction: e.direction === 'egress' ? 'EGRESS' : 'INGRESS',
    ip_version: e.family,
    protocol: PROTOCOL_NAMES[e.protocol] ?? String(e.protocol),
    source: directory.endpoint(e.source.ip, e.source.port, e.source.identity),
    destination: directory.endpoint(e.destination.ip, e.destination.port, e.destination.identity),
    http: null,
    summary: drop ? 'drop' : 'new',
  };
}

/** Date.now() - monotonic ms: add to a bpf_ktime_get_ns() value (in ms) to get wall-clock time. */
export function monotonicToWallOffset(monotonicNs: bigint): number {
  return Date.now() - Number(monotonicNs) / 1e6;
}
