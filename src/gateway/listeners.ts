// GatewayClass and Gateway: which are Weft's, their listeners, addresses, conflicts and conditions.
import { isIP } from 'node:net';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { Inputs, Obj } from '../sources/kinds.js';
import { condition, CONTROLLER_NAME, GATEWAY_GROUP, generationOf, type Condition, type ObjectStatus } from './conditions.js';

type ListenerSpec = IGateway['spec']['listeners'][number];

export interface RouteKind {
  group: string;
  kind: string;
}

/** Route kinds an HTTP listener takes. GRPCRoute joins when its translation lands. */
const HTTP_ROUTE_KINDS: RouteKind[] = [{ group: GATEWAY_GROUP, kind: 'HTTPRoute' }];

export const DEFAULT_ADDRESS = '127.0.0.1';

export interface ListenerState {
  gateway: GatewayState;
  spec: ListenerSpec;
  supportedKinds: RouteKind[];
  /** Routes may attach (the listener is usable). */
  usable: boolean;
  attachedRoutes: number;
  conditions: Map<string, Condition>;
}

export interface GatewayState {
  gateway: Obj<IGateway>;
  address: string;
  listeners: ListenerState[];
  conditions: Map<string, Condition>;
}

export function isOurClass(gc: Obj<IGatewayClass>): boolean {
  return gc.spec.controllerName === CONTROLLER_NAME;
}

export function gatewayClassStatus(gc: Obj<IGatewayClass>, supportedFeatures: string[]): ObjectStatus {
  const gen = generationOf(gc.metadata);
  const conditions: Condition[] = [];
  if (gc.spec.parametersRef) {
    conditions.push(condition('Accepted', false, 'InvalidParameters', 'Weft takes no parameters (parametersRef is not supported)', gen));
  } else {
    conditions.push(condition('Accepted', true, 'Accepted', 'Handled by Weft', gen));
  }
  return {
    kind: 'GatewayClass',
    name: gc.metadata.name,
    source: gc.source,
    status: { conditions, supportedFeatures: supportedFeatures.map((name) => ({ name })) },
  };
}

function setCondition(map: Map<string, Condition>, c: Condition): void {
  map.set(c.type, c);
}

/** Builds the state of every Gateway whose class is Weft's and Accepted. */
export function buildGatewayStates(inputs: Inputs): GatewayState[] {
  const classes = new Map(inputs.gatewayClasses.filter((gc) => isOurClass(gc) && !gc.spec.parametersRef).map((gc) => [gc.metadata.name, gc]));
  const states: GatewayState[] = [];
  for (const gateway of inputs.gateways) {
    if (!classes.has(gateway.spec.gatewayClassName)) continue;
    states.push(buildGatewayState(gateway));
  }
  markConflicts(states);
  for (const state of states) finishGatewayConditions(state);
  return states;
}

function buildGatewayState(gateway: Obj<IGateway>): GatewayState {
  const gen = generationOf(gateway.metadata);
  const conditions = new Map<string, Condition>();
  const addresses = gateway.spec.addresses ?? [];
  const ipAddress = addresses.find((a) => (a.type ?? 'IPAddress') === 'IPAddress');
  let address = DEFAULT_ADDRESS;
  let addressProblem: string | undefined;
  if (ipAddress) {
    if (isIP(ipAddress.value ?? '')) address = ipAddress.value!;
    else addressProblem = `spec.addresses: "${ipAddress.value}" is not an IP address`;
  } else if (addresses.length > 0) {
    addressProblem = `spec.addresses: only type IPAddress is supported (got ${addresses.map((a) => a.type).join(', ')})`;
  }
  if (addressProblem) setCondition(conditions, condition('Accepted', false, 'UnsupportedAddress', addressProblem, gen));
  const state: GatewayState = { gateway, address, listeners: [], conditions };
  for (const spec of gateway.spec.listeners) state.listeners.push(buildListenerState(state, spec, gen));
  return state;
}

function buildListenerState(gateway: GatewayState, spec: ListenerSpec, gen: number): ListenerState {
  const conditions = new Map<string, Condition>();
  let usable = true;
  let supportedKinds: RouteKind[] = [];
  if (spec.protocol !== 'HTTP') {
    usable = false;
    setCondition(conditions, condition('Accepted', false, 'UnsupportedProtocol', `protocol ${spec.protocol} is not supported yet (Weft serves HTTP listeners)`, gen));
  } else {
    setCondition(conditions, condition('Accepted', true, 'Accepted', 'Listener accepted', gen));
    const requested = spec.allowedRoutes?.kinds;
    if (requested && requested.length > 0) {
      const invalid: string[] = [];
      for (const k of requested) {
        const group = k.group ?? GATEWAY_GROUP;
        if (HTTP_ROUTE_KINDS.some((s) => s.group === group && s.kind === k.kind)) supportedKinds.push({ group, kind: k.kind });
        else invalid.push(`${group}/${k.kind}`);
      }
      if (invalid.length > 0) {
        setCondition(conditions, condition('ResolvedRefs', false, 'InvalidRouteKinds', `route kinds not supported on an HTTP listener: ${invalid.join(', ')}`, gen));
      }
    } else {
      supportedKinds = [...HTTP_ROUTE_KINDS];
    }
  }
  if (!conditions.has('ResolvedRefs')) setCondition(conditions, condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen));
  return { gateway, spec, supportedKinds, usable, attachedRoutes: 0, conditions };
}

/** Listeners on one address and port must differ by hostname and agree on the protocol. */
function markConflicts(states: GatewayState[]): void {
  const bySocket = new Map<string, ListenerState[]>();
  for (const state of states) {
    if (state.conditions.get('Accepted')?.status === 'False') continue;
    for (const l of state.listeners) {
      if (!l.usable) continue;
      const key = `${state.address}:${l.spec.port}`;
      bySocket.set(key, [...(bySocket.get(key) ?? []), l]);
    }
  }
  for (const group of bySocket.values()) {
    const protocols = new Set(group.map((l) => l.spec.protocol));
    const hostCounts = new Map<string, number>();
    for (const l of group) hostCounts.set(l.spec.hostname ?? '', (hostCounts.get(l.spec.hostname ?? '') ?? 0) + 1);
    for (const l of group) {
      const gen = generationOf(l.gateway.gateway.metadata);
      let reason: string | undefined;
      if (protocols.size > 1) reason = 'ProtocolConflict';
      else if ((hostCounts.get(l.spec.hostname ?? '') ?? 0) > 1) reason = 'HostnameConflict';
      if (reason) {
        l.usable = false;
        setCondition(l.conditions, condition('Conflicted', true, reason, `another listener on ${l.gateway.address}:${l.spec.port} has the same ${reason === 'ProtocolConflict' ? 'port with another protocol' : 'hostname'}`, gen));
      } else {
        setCondition(l.conditions, condition('Conflicted', false, 'NoConflicts', 'No conflicts', gen));
      }
    }
  }
}

function finishGatewayConditions(state: GatewayState): void {
  const gen = generationOf(state.gateway.metadata);
  const gatewayRejected = state.conditions.get('Accepted')?.status === 'False';
  for (const l of state.listeners) {
    if (gatewayRejected) l.usable = false;
    const programmed = l.usable;
    setCondition(l.conditions, condition('Programmed', programmed, programmed ? 'Programmed' : 'Invalid', programmed ? 'Listener programmed' : 'Listener is not valid', gen));
  }
  if (gatewayRejected) {
    setCondition(state.conditions, condition('Programmed', false, 'Invalid', 'Gateway not accepted', gen));
    return;
  }
  const invalid = state.listeners.filter((l) => !l.usable).map((l) => l.spec.name);
  const valid = state.listeners.length - invalid.length;
  if (invalid.length === 0) {
    setCondition(state.conditions, condition('Accepted', true, 'Accepted', 'Gateway accepted', gen));
  } else {
    setCondition(state.conditions, condition('Accepted', valid > 0, 'ListenersNotValid', `invalid listeners: ${invalid.join(', ')}`, gen));
  }
  setCondition(state.conditions, condition('Programmed', valid > 0, valid > 0 ? 'Programmed' : 'Invalid', valid > 0 ? `Serving on ${state.address}` : 'No valid listener', gen));
}

export function gatewayStatus(state: GatewayState): ObjectStatus {
  const g = state.gateway;
  const programmed = state.conditions.get('Programmed')?.status === 'True';
  return {
    kind: 'Gateway',
    namespace: g.metadata.namespace,
    name: g.metadata.name,
    source: g.source,
    status: {
      ...(programmed ? { addresses: [{ type: 'IPAddress', value: state.address }] } : {}),
      conditions: [...state.conditions.values()],
      listeners: state.listeners.map((l) => ({
        name: l.spec.name,
        supportedKinds: l.supportedKinds,
        attachedRoutes: l.attachedRoutes,
        conditions: [...l.conditions.values()],
      })),
    },
  };
}
