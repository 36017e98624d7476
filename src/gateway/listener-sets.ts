// ListenerSets (GEP-1713): which attach to which Gateway (its allowedListeners), in what precedence, and their
// status. Their listeners are merged into the Gateway's (src/gateway/listeners.ts) and served like its own.
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IListenerSet } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ListenerSet';
import type { Inputs, Obj } from '../sources/kinds.js';
import { selectorMatches } from './attachment.js';
import { condition, GATEWAY_GROUP, generationOf, listenerStatus, type Condition, type ObjectStatus } from './conditions.js';
import { compareTimestamps } from './httproute.js';
import type { GatewayState, ListenerState } from './listeners.js';

export interface ListenerSetState {
  listenerSet: Obj<IListenerSet>;
  /** Allowed by the Gateway's allowedListeners: its listeners are part of the Gateway's. */
  attached: boolean;
  listeners: ListenerState[];
  conditions: Map<string, Condition>;
}

/** `spec.allowedListeners` lets some ListenerSets attach (the default, None, lets none). */
export function allowsListenerSets(g: Obj<IGateway>): boolean {
  return (g.spec.allowedListeners?.namespaces?.from ?? 'None') !== 'None';
}

function namespaceOf(ls: Obj<IListenerSet>): string {
  return ls.metadata.namespace ?? 'default';
}

/** Whether `ls`'s parentRef names this Gateway (group and kind default to the Gateway's; namespace to the ListenerSet's). */
function namesGateway(ls: Obj<IListenerSet>, gateway: Obj<IGateway>): boolean {
  const ref = ls.spec.parentRef;
  return (ref.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (ref.kind ?? 'Gateway') === 'Gateway' && ref.name === gateway.metadata.name
    && (ref.namespace ?? namespaceOf(ls)) === (gateway.metadata.namespace ?? 'default');
}

/** GEP-1713 precedence among ListenerSets: oldest first, then alphabetically by namespace/name. */
function comparePrecedence(a: Obj<IListenerSet>, b: Obj<IListenerSet>): number {
  const key = (ls: Obj<IListenerSet>): string => `${namespaceOf(ls)}/${ls.metadata.name}`;
  return compareTimestamps(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

/** Why the Gateway's allowedListeners refuses `ls`, if it does. */
function notAllowed(gateway: Obj<IGateway>, ls: Obj<IListenerSet>, inputs: Inputs): string | undefined {
  const namespaces = gateway.spec.allowedListeners?.namespaces;
  const from = namespaces?.from ?? 'None';
  const gw = `${gateway.metadata.namespace}/${gateway.metadata.name}`;
  const ns = namespaceOf(ls);
  if (from === 'All') return undefined;
  if (from === 'None') return `Gateway ${gw} allows no ListenerSets (spec.allowedListeners.namespaces.from is None or unset)`;
  if (from === 'Same') return ns === gateway.metadata.namespace ? undefined : `Gateway ${gw} allows ListenerSets of its own namespace only`;
  const labels = { ...(inputs.namespaces.find((n) => n.metadata.name === ns)?.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns };
  return namespaces?.selector && selectorMatches(namespaces.selector, labels) ? undefined : `Gateway ${gw} allows ListenerSets of the namespaces its selector picks, not ${ns}`;
}

/** The ListenerSets whose parentRef is `state`'s Gateway, in precedence order, each attached or refused (NotAllowed). */
export function listenerSetsOf(state: GatewayState, inputs: Inputs): ListenerSetState[] {
  return inputs.listenerSets
    .filter((ls) => namesGateway(ls, state.gateway))
    .sort(comparePrecedence)
    .map((listenerSet) => {
      const conditions = new Map<string, Condition>();
      const why = notAllowed(state.gateway, listenerSet, inputs);
      if (why) {
        const gen = generationOf(listenerSet.metadata);
        conditions.set('Accepted', condition('Accepted', false, 'NotAllowed', why, gen));
        conditions.set('Programmed', condition('Programmed', false, 'NotAllowed', why, gen));
      }
      return { listenerSet, attached: !why, listeners: [], conditions };
    });
}

/**
 * An attached ListenerSet's conditions, once its listeners' are final: Accepted while at least one listener is
 * valid (Accepted, its refs resolved), Programmed while also its Gateway is.
 */
export function finishListenerSetConditions(set: ListenerSetState, gateway: GatewayState): void {
  if (!set.attached) return;
  const gen = generationOf(set.listenerSet.metadata);
  const gw = `${gateway.gateway.metadata.namespace}/${gateway.gateway.metadata.name}`;
  if (gateway.conditions.get('Accepted')?.status === 'False') {
    set.conditions.set('Accepted', condition('Accepted', false, 'ParentNotAccepted', `Gateway ${gw} is not accepted`, gen));
    set.conditions.set('Programmed', condition('Programmed', false, 'ParentNotProgrammed', `Gateway ${gw} is not accepted`, gen));
    return;
  }
  const isTrue = (l: ListenerState, type: string): boolean => l.conditions.get(type)?.status === 'True';
  const invalid = set.listeners.filter((l) => !isTrue(l, 'Accepted') || !isTrue(l, 'ResolvedRefs'));
  const valid = set.listeners.filter((l) => !invalid.includes(l));
  if (valid.length === 0) {
    const message = `no valid listener: ${invalid.map((l) => `${l.spec.name} (${(isTrue(l, 'Accepted') ? l.conditions.get('ResolvedRefs') : l.conditions.get('Accepted'))?.reason})`).join(', ') || 'none defined'}`;
    set.conditions.set('Accepted', condition('Accepted', false, 'ListenersNotValid', message, gen));
    set.conditions.set('Programmed', condition('Programmed', false, 'ListenersNotValid', message, gen));
    return;
  }
  set.conditions.set('Accepted', invalid.length === 0
    ? condition('Accepted', true, 'Accepted', 'ListenerSet accepted', gen)
    : condition('Accepted', true, 'ListenersNotValid', `listeners not valid: ${invalid.map((l) => l.spec.name).join(', ')}; accepted: ${valid.map((l) => l.spec.name).join(', ')}`, gen));
  set.conditions.set('Programmed', gateway.conditions.get('Programmed')?.status === 'True'
    ? condition('Programmed', true, 'Programmed', `Listeners served with Gateway ${gw}`, gen)
    : condition('Programmed', false, 'ParentNotProgrammed', `Gateway ${gw} is not programmed`, gen));
}

export function listenerSetStatus(set: ListenerSetState): ObjectStatus {
  const m = set.listenerSet.metadata;
  return {
    kind: 'ListenerSet',
    namespace: m.namespace,
    name: m.name,
    source: set.listenerSet.source,
    status: { conditions: [...set.conditions.values()], listeners: set.listeners.map(listenerStatus) },
  };
}
