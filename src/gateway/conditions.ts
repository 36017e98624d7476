// Status conditions as the Gateway API names them, and the status shapes Weft writes.
import type { Source } from '../sources/manifests.js';

export const CONTROLLER_NAME = 'weft.dev/gateway-controller';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
}

export function generationOf(meta: { generation?: number }): number {
  return meta.generation ?? 1;
}

export function condition(type: string, ok: boolean, reason: string, message: string, generation: number): Condition {
  return { type, status: ok ? 'True' : 'False', reason, message, observedGeneration: generation };
}

/** The computed status of one object, with where it was defined. */
export interface ObjectStatus {
  kind: string;
  namespace?: string;
  name: string;
  source: Source;
  status: Record<string, unknown>;
}

/** One entry of a Gateway's or a ListenerSet's `status.listeners`. */
export function listenerStatus(l: { spec: { name: string }; supportedKinds: Array<{ group: string; kind: string }>; attachedRoutes: number; conditions: Map<string, Condition> }): Record<string, unknown> {
  return { name: l.spec.name, supportedKinds: l.supportedKinds.map((k) => ({ ...k })), attachedRoutes: l.attachedRoutes, conditions: [...l.conditions.values()] };
}
