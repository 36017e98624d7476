// GatewayClass and Gateway: which are Weft's, their listeners, addresses, conflicts and conditions.
import { isIP } from 'node:net';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { IListenerEntry } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ListenerEntry';
import type { Inputs, Obj } from '../sources/kinds.js';
import type { ClientValidationIR, TlsCertificateIR } from '../ir/model.js';
import { condition, CONTROLLER_NAME, GATEWAY_GROUP, generationOf, listenerStatus, type Condition, type ObjectStatus } from './conditions.js';
import { allowsListenerSets, finishListenerSetConditions, listenerSetsOf, type ListenerSetState } from './listener-sets.js';
import { resolveBackendClientCertificate, resolveCertificates, resolveFrontendValidation, TlsObjects, type RefProblem } from './tls.js';

/** A Gateway's listener or a ListenerSet's entry: the same fields. */
type ListenerSpec = IGateway['spec']['listeners'][number] | IListenerEntry;

/** The object that defines a listener: its Gateway, or a ListenerSet attached to it (GEP-1713). */
export interface ListenerOwner {
  kind: 'Gateway' | 'ListenerSet';
  namespace: string;
  name: string;
  generation: number;
}

export interface RouteKind {
  group: string;
  kind: string;
}

/** Route kinds an HTTP listener takes. */
const HTTP_ROUTE_KINDS: RouteKind[] = [
  { group: GATEWAY_GROUP, kind: 'HTTPRoute' },
  { group: GATEWAY_GROUP, kind: 'GRPCRoute' },
];

/** Route kinds a TLS listener takes. */
const TLS_ROUTE_KINDS: RouteKind[] = [{ group: GATEWAY_GROUP, kind: 'TLSRoute' }];

/** Listeners whose protocols can share one socket: HTTPS and TLS both dispatch by SNI. */
function socketFamily(protocol: string): string {
  return protocol === 'HTTPS' || protocol === 'TLS' ? 'TLS' : protocol;
}

/** What a TLS-speaking listener does with connections. */
export interface ListenerTlsState {
  mode: 'Terminate' | 'Passthrough';
  /** Terminate: the valid certificates (at least one when the listener is programmed). */
  certificates: TlsCertificateIR[];
  clientValidation?: ClientValidationIR;
}

export const DEFAULT_ADDRESS = '127.0.0.1';

/** "127.0.0.1:80", "[::1]:80": one name per listening socket. */
export function socketName(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export interface ListenerState {
  gateway: GatewayState;
  /** Where the listener is defined: its conditions carry that object's generation, its refs are that object's. */
  owner: ListenerOwner;
  /** Unique within the Gateway's merged listeners (names are unique only within their owner). */
  key: string;
  spec: ListenerSpec;
  supportedKinds: RouteKind[];
  /** Routes may attach (the listener is usable). */
  usable: boolean;
  /** Routes attach, but the listener cannot be served (no valid certificate): Programmed False. */
  refsBroken: boolean;
  tls?: ListenerTlsState;
  attachedRoutes: number;
  conditions: Map<string, Condition>;
}

export interface GatewayState {
  gateway: Obj<IGateway>;
  /** Every address the listeners are bound to (the spec: all Listeners on every assigned address). */
  addresses: string[];
  /** The Gateway's own listeners, then those of its attached ListenerSets in precedence order. */
  listeners: ListenerState[];
  /** ListenerSets whose parentRef is this Gateway, attached or not. */
  listenerSets: ListenerSetState[];
  conditions: Map<string, Condition>;
  /** `spec.tls.backend.clientCertificateRef`, resolved: presented to the backends of this Gateway's routes reached over TLS. */
  backendClientCertificate?: TlsCertificateIR;
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

/**
 * The address a Gateway gets when it asks for one (no spec.addresses, or an IPAddress without value): standalone
 * mode binds loopback; Kubernetes mode assigns one from a pool and returns undefined when the pool is exhausted.
 */
export type GatewayAddressFor = (gateway: { namespace?: string; name: string }) => string | undefined;

export const loopbackAddressFor: GatewayAddressFor = () => DEFAULT_ADDRESS;

/**
 * Why an IP cannot be a Gateway address (Programmed False AddressNotUsable), if it cannot: a listener binds it
 * and clients connect to it, so it must be a unicast address. (The unspecified address is left usable: binding
 * it serves on every interface.)
 */
export function unusableAddressProblem(ip: string): string | undefined {
  if (isIP(ip) === 4) {
    const first = Number(ip.split('.')[0]);
    if (ip === '255.255.255.255') return 'the broadcast address';
    if (first >= 224 && first <= 239) return 'a multicast address';
    if (first >= 240) return 'a reserved address (240.0.0.0/4)';
    return undefined;
  }
  if (isIP(ip) === 6 && /^ff[0-9a-f]{2}:/i.test(ip)) return 'a multicast address';
  return isIP(ip) ? undefined : 'not an IP address';
}

/** Builds the state of every Gateway whose class is Weft's and Accepted. */
export function buildGatewayStates(inputs: Inputs, addressFor: GatewayAddressFor = loopbackAddressFor): GatewayState[] {
  const classes = new Map(inputs.gatewayClasses.filter((gc) => isOurClass(gc) && !gc.spec.parametersRef).map((gc) => [gc.metadata.name, gc]));
  const states: GatewayState[] = [];
  const tlsObjects = new TlsObjects(inputs);
  for (const gateway of inputs.gateways) {
    if (!classes.has(gateway.spec.gatewayClassName)) continue;
    states.push(buildGatewayState(gateway, tlsObjects, addressFor));
  }
  for (const state of states) {
    for (const set of listenerSetsOf(state, inputs)) {
      state.listenerSets.push(set);
      if (!set.attached) continue;
      const m = set.listenerSet.metadata;
      const owner: ListenerOwner = { kind: 'ListenerSet', namespace: m.namespace ?? 'default', name: m.name, generation: generationOf(m) };
      for (const spec of set.listenerSet.spec.listeners) {
        const l = buildListenerState(state, owner, spec, tlsObjects);
        set.listeners.push(l);
        state.listeners.push(l);
      }
    }
  }
  markConflicts(states);
  for (const state of states) {
    finishGatewayConditions(state);
    for (const set of state.listenerSets) finishListenerSetConditions(set, state);
  }
  return states;
}

function ownListeners(state: GatewayState): ListenerState[] {
  return state.listeners.filter((l) => l.owner.kind === 'Gateway');
}

function buildGatewayState(gateway: Obj<IGateway>, tlsObjects: TlsObjects, addressFor: GatewayAddressFor): GatewayState {
  const gen = generationOf(gateway.metadata);
  const conditions = new Map<string, Condition>();
  const requested = gateway.spec.addresses ?? [];
  const assigned = addressFor({ ...(gateway.metadata.namespace ? { namespace: gateway.metadata.namespace } : {}), name: gateway.metadata.name });
  let unassigned = false;
  const unsupported = requested.filter((a) => (a.type ?? 'IPAddress') !== 'IPAddress');
  const unusable: Array<{ value: string; problem: string }> = [];
  const addresses: string[] = [];
  for (const a of requested) {
    if ((a.type ?? 'IPAddress') !== 'IPAddress') continue;
    // An IPAddress without a value asks the implementation to assign one.
    const value = a.value ? a.value : assigned;
    const problem = value === undefined ? undefined : unusableAddressProblem(value);
    if (value === undefined) {
      unassigned = true;
    } else if (problem) {
      unusable.push({ value, problem });
    } else if (!addresses.includes(value)) {
      addresses.push(value);
    }
  }
  if (requested.length === 0) {
    if (assigned === undefined) unassigned = true;
    else addresses.push(assigned);
  }
  if (gateway.spec.infrastructure?.parametersRef) {
    const ref = gateway.spec.infrastructure.parametersRef;
    setCondition(conditions, condition('Accepted', false, 'InvalidParameters', `spec.infrastructure.parametersRef: Weft takes no parameters (got ${ref.group}/${ref.kind} ${ref.name})`, gen));
  } else if (unsupported.length > 0) {
    setCondition(conditions, condition('Accepted', false, 'UnsupportedAddress', `spec.addresses: only type IPAddress is supported (got ${unsupported.map((a) => `${a.type} "${a.value ?? ''}"`).join(', ')})`, gen));
  } else if (unassigned && addresses.length === 0) {
    setCondition(conditions, condition('Programmed', false, 'AddressNotAssigned', 'no address could be assigned to the Gateway: the address pool is exhausted', gen));
  } else if (unusable.length > 0) {
    setCondition(conditions, condition('Programmed', false, 'AddressNotUsable', `spec.addresses: ${unusable.map((u) => `"${u.value}" cannot be used: ${u.problem}`).join('; ')}`, gen));
  }
  // GEP-91: a Gateway whose frontend validation allows insecure fallback says so in its own condition.
  const frontend = gateway.spec.tls?.frontend;
  const insecure = [
    ...(frontend?.default?.validation?.mode === 'AllowInsecureFallback' ? ['default'] : []),
    ...(frontend?.perPort ?? []).filter((p) => p.tls?.validation?.mode === 'AllowInsecureFallback').map((p) => `port ${p.port}`),
  ];
  if (insecure.length > 0) {
    setCondition(conditions, condition('InsecureFrontendValidationMode', true, 'ConfigurationChanged', `spec.tls.frontend: client certificate validation is AllowInsecureFallback (${insecure.join(', ')})`, gen));
  }
  // The Gateway's own ResolvedRefs: only its backend client certificate is a reference of the Gateway itself.
  const clientCertificate = resolveBackendClientCertificate(gateway, tlsObjects);
  if (clientCertificate && 'reason' in clientCertificate) setCondition(conditions, condition('ResolvedRefs', false, clientCertificate.reason, clientCertificate.message, gen));
  else if (clientCertificate) setCondition(conditions, condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen));
  const state: GatewayState = { gateway, addresses, listeners: [], listenerSets: [], conditions, ...(clientCertificate && !('reason' in clientCertificate) ? { backendClientCertificate: clientCertificate } : {}) };
  const owner: ListenerOwner = { kind: 'Gateway', namespace: gateway.metadata.namespace ?? 'default', name: gateway.metadata.name, generation: gen };
  for (const spec of gateway.spec.listeners) state.listeners.push(buildListenerState(state, owner, spec, tlsObjects));
  return state;
}

function buildListenerState(gateway: GatewayState, owner: ListenerOwner, spec: ListenerSpec, tlsObjects: TlsObjects): ListenerState {
  const gen = owner.generation;
  const conditions = new Map<string, Condition>();
  let usable = true;
  let refsBroken = false;
  let tls: ListenerTlsState | undefined;
  let supportedKinds: RouteKind[] = [];
  const refProblems: RefProblem[] = [];
  const kindsFor = spec.protocol === 'TLS' ? TLS_ROUTE_KINDS : HTTP_ROUTE_KINDS;
  const mode = spec.tls?.mode ?? 'Terminate';
  if (spec.protocol !== 'HTTP' && spec.protocol !== 'HTTPS' && spec.protocol !== 'TLS') {
    usable = false;
    setCondition(conditions, condition('Accepted', false, 'UnsupportedProtocol', `protocol ${spec.protocol} is not supported (Weft serves HTTP, HTTPS and TLS listeners)`, gen));
  } else if (spec.protocol === 'HTTPS' && mode !== 'Terminate') {
    usable = false;
    setCondition(conditions, condition('Accepted', false, 'UnsupportedValue', `tls.mode must be Terminate for protocol HTTPS (got ${mode})`, gen));
  } else if (spec.protocol === 'HTTP' && spec.tls) {
    usable = false;
    setCondition(conditions, condition('Accepted', false, 'UnsupportedValue', 'tls must not be specified for protocol HTTP', gen));
  } else if (spec.protocol === 'TLS' && !spec.tls?.mode) {
    usable = false;
    setCondition(conditions, condition('Accepted', false, 'UnsupportedValue', 'tls.mode must be set for protocol TLS', gen));
  } else {
    setCondition(conditions, condition('Accepted', true, 'Accepted', 'Listener accepted', gen));
    const requested = spec.allowedRoutes?.kinds;
    if (requested && requested.length > 0) {
      const invalid: string[] = [];
      for (const k of requested) {
        const group = k.group ?? GATEWAY_GROUP;
        if (kindsFor.some((s) => s.group === group && s.kind === k.kind)) supportedKinds.push({ group, kind: k.kind });
        else invalid.push(`${group}/${k.kind}`);
      }
      if (invalid.length > 0) {
        setCondition(conditions, condition('ResolvedRefs', false, 'InvalidRouteKinds', `route kinds not supported on an ${spec.protocol} listener: ${invalid.join(', ')}`, gen));
      }
    } else {
      supportedKinds = [...kindsFor];
    }
    if (spec.protocol !== 'HTTP') {
      tls = { mode: mode === 'Passthrough' ? 'Passthrough' : 'Terminate', certificates: [] };
      if (tls.mode === 'Terminate') {
        const resolved = resolveCertificates(owner, spec, tlsObjects);
        tls.certificates = resolved.certificates;
        refProblems.push(...resolved.problems);
        // The spec: a listener without a usable certificate is not Programmed, yet routes still attach.
        if (tls.certificates.length === 0) refsBroken = true;
      }
      if (spec.protocol === 'HTTPS') {
        const frontend = resolveFrontendValidation(gateway.gateway, spec.port, tlsObjects);
        refProblems.push(...frontend.problems);
        tls.clientValidation = frontend.validation;
        if (frontend.noValidCa) {
          usable = false;
          setCondition(conditions, condition('Accepted', false, 'NoValidCACertificate', `spec.tls.frontend: no valid CA certificate for port ${spec.port}: ${frontend.problems.map((p) => p.message).join('; ')}`, gen));
        }
      }
    }
  }
  if (refProblems.length > 0 && !conditions.has('ResolvedRefs')) {
    setCondition(conditions, condition('ResolvedRefs', false, refProblems[0].reason, refProblems.map((p) => p.message).join('; '), gen));
  }
  if (!conditions.has('ResolvedRefs')) setCondition(conditions, condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen));
  const gw = gateway.gateway.metadata;
  const key = owner.kind === 'Gateway' ? `${gw.namespace}/${gw.name}/${spec.name}` : `${gw.namespace}/${gw.name}/listenerset/${owner.namespace}/${owner.name}/${spec.name}`;
  return { gateway, owner, key, spec, supportedKinds, usable, refsBroken, tls, attachedRoutes: 0, conditions };
}

/**
 * The spec's distinctness is within one Gateway: listeners sharing a port must agree on the protocol and
 * differ by hostname. All indistinct listeners of one object (the Gateway, or one ListenerSet) are Conflicted
 * and not Accepted (no winner is picked). Across objects, GEP-1713's precedence picks one: the Gateway's
 * listeners, then ListenerSets oldest first, then by namespace/name; a ListenerSet listener indistinct from a
 * listener that came before it is Conflicted, whatever its own protocol (an unsupported TCP listener on an
 * HTTP port is a ProtocolConflict).
 */
function markConflicts(states: GatewayState[]): void {
  for (const state of states) {
    if (state.conditions.get('Accepted')?.status === 'False') continue;
    const earlier: ListenerState[] = [];
    for (const group of byOwner(state.listeners)) {
      const candidates: ListenerState[] = [];
      for (const l of group) {
        const clash = l.owner.kind === 'ListenerSet' ? earlier.find((e) => e.spec.port === l.spec.port && indistinctReason(e, l)) : undefined;
        if (clash) {
          const reason = indistinctReason(clash, l)!;
          conflicted(l, reason, `a listener of higher precedence (of the parent Gateway or an older ListenerSet) on port ${l.spec.port} has ${reason === 'ProtocolConflict' ? 'another protocol' : 'the same hostname'}`);
        } else if (l.usable) {
          candidates.push(l);
        }
      }
      markIndistinct(candidates, state.gateway.metadata);
      earlier.push(...candidates.filter((l) => l.usable));
    }
  }
  markSharedSockets(states);
}

/** Consecutive listeners of one owner: the Gateway's, then each ListenerSet's. */
function byOwner(listeners: ListenerState[]): ListenerState[][] {
  const groups: ListenerState[][] = [];
  for (const l of listeners) {
    const last = groups[groups.length - 1];
    if (last && last[0].owner === l.owner) last.push(l);
    else groups.push([l]);
  }
  return groups;
}

/** Why two listeners on one port cannot both be served, if they cannot. */
function indistinctReason(a: ListenerState, b: ListenerState): 'ProtocolConflict' | 'HostnameConflict' | undefined {
  if (socketFamily(a.spec.protocol) !== socketFamily(b.spec.protocol)) return 'ProtocolConflict';
  return (a.spec.hostname ?? '') === (b.spec.hostname ?? '') ? 'HostnameConflict' : undefined;
}

function conflicted(l: ListenerState, reason: string, message: string): void {
  l.usable = false;
  setCondition(l.conditions, condition('Accepted', false, reason, `not accepted: ${message}`, l.owner.generation));
  setCondition(l.conditions, condition('Conflicted', true, reason, message, l.owner.generation));
}

/** Within one object: every listener indistinct from another of the same object is Conflicted. */
function markIndistinct(listeners: ListenerState[], gateway: { namespace?: string; name: string }): void {
  const byPort = new Map<number, ListenerState[]>();
  for (const l of listeners) byPort.set(l.spec.port, [...(byPort.get(l.spec.port) ?? []), l]);
  for (const [port, group] of byPort) {
    const protocols = new Set(group.map((l) => socketFamily(l.spec.protocol)));
    const hostCounts = new Map<string, number>();
    for (const l of group) hostCounts.set(l.spec.hostname ?? '', (hostCounts.get(l.spec.hostname ?? '') ?? 0) + 1);
    for (const l of group) {
      let reason: string | undefined;
      if (protocols.size > 1) reason = 'ProtocolConflict';
      else if ((hostCounts.get(l.spec.hostname ?? '') ?? 0) > 1) reason = 'HostnameConflict';
      if (reason) {
        const what = l.owner.kind === 'Gateway' ? 'this Gateway' : `ListenerSet ${l.owner.namespace}/${l.owner.name} (of Gateway ${gateway.namespace}/${gateway.name})`;
        conflicted(l, reason, `another listener of ${what} on port ${port} has ${reason === 'ProtocolConflict' ? 'another protocol' : 'the same hostname'}`);
      } else {
        setCondition(l.conditions, condition('Conflicted', false, 'NoConflicts', 'No conflicts', l.owner.generation));
      }
    }
  }
}

/**
 * Gateways that share an address (the default one, say) share its sockets. The spec lets an
 * implementation merge Gateways onto one address only if all their listeners are compatible; a
 * listener that another Gateway's listener makes indistinct on the same socket cannot be served:
 * Accepted False PortUnavailable (on every listener involved: no winner).
 */
function markSharedSockets(states: GatewayState[]): void {
  const bySocket = new Map<string, ListenerState[]>();
  for (const state of states) {
    if (state.conditions.get('Accepted')?.status === 'False') continue;
    for (const l of state.listeners) {
      if (!l.usable) continue;
      for (const address of state.addresses) {
        const key = socketName(address, l.spec.port);
        bySocket.set(key, [...(bySocket.get(key) ?? []), l]);
      }
    }
  }
  const unavailable = new Map<ListenerState, string>();
  for (const [socket, group] of bySocket) {
    for (const l of group) {
      const clash = group.find((o) => o.gateway !== l.gateway && (socketFamily(o.spec.protocol) !== socketFamily(l.spec.protocol) || (o.spec.hostname ?? '') === (l.spec.hostname ?? '')));
      if (clash && !unavailable.has(l)) {
        const other = clash.gateway.gateway.metadata;
        unavailable.set(l, `${socket} is also used by listener ${clash.spec.name} of Gateway ${other.namespace}/${other.name} with ${socketFamily(clash.spec.protocol) !== socketFamily(l.spec.protocol) ? 'another protocol' : 'the same hostname'}; give one of the Gateways its own spec.addresses`);
      }
    }
  }
  for (const [l, message] of unavailable) {
    l.usable = false;
    setCondition(l.conditions, condition('Accepted', false, 'PortUnavailable', message, l.owner.generation));
  }
}

/**
 * A ListenerSet listener that lost to precedence is Programmed False with its conflict's reason, as the
 * conformance suite (ListenerSetHostnameConflict, ListenerSetProtocolConflict) expects; Gateway listeners keep Invalid.
 */
function notProgrammedReason(l: ListenerState): string {
  const conflict = l.conditions.get('Conflicted');
  return l.owner.kind === 'ListenerSet' && conflict?.status === 'True' ? conflict.reason : 'Invalid';
}

function finishGatewayConditions(state: GatewayState): void {
  const gen = generationOf(state.gateway.metadata);
  const gatewayRejected = state.conditions.get('Accepted')?.status === 'False';
  const addressProblem = state.conditions.get('Programmed');
  for (const l of state.listeners) {
    if (gatewayRejected || addressProblem) l.usable = false;
    const programmed = l.usable && !l.refsBroken;
    const why = l.refsBroken ? 'Listener has no valid certificate (see ResolvedRefs)' : 'Listener is not valid';
    setCondition(l.conditions, condition('Programmed', programmed, programmed ? 'Programmed' : notProgrammedReason(l), programmed ? 'Listener programmed' : why, l.owner.generation));
  }
  if (gatewayRejected) {
    setCondition(state.conditions, condition('Programmed', false, 'Invalid', 'Gateway not accepted', gen));
    return;
  }
  // The Gateway's conditions are about its own listeners; a ListenerSet's listeners are reported on the ListenerSet.
  const own = ownListeners(state);
  const invalid = own.filter((l) => l.conditions.get('Accepted')?.status === 'False');
  const accepted = own.filter((l) => !invalid.includes(l));
  if (invalid.length === 0) {
    setCondition(state.conditions, condition('Accepted', true, 'Accepted', 'Gateway accepted', gen));
  } else {
    // The spec: the message SHOULD say which Listeners are conflicted (invalid) and which are Accepted.
    const names = invalid.map((l) => `${l.spec.name} (${l.conditions.get('Accepted')!.reason})`).join(', ');
    const message = `listeners not valid: ${names}; accepted: ${accepted.map((l) => l.spec.name).join(', ') || 'none'}`;
    setCondition(state.conditions, condition('Accepted', accepted.length > 0, 'ListenersNotValid', message, gen));
  }
  if (addressProblem) return;
  const serving = own.some((l) => l.usable && !l.refsBroken);
  setCondition(state.conditions, condition('Programmed', serving, serving ? 'Programmed' : 'Invalid', serving ? `Serving on ${state.addresses.join(', ')}` : 'No valid listener', gen));
}

const GATEWAY_CONDITION_ORDER = ['Accepted', 'Programmed', 'ResolvedRefs', 'InsecureFrontendValidationMode'];

export function gatewayStatus(state: GatewayState): ObjectStatus {
  const g = state.gateway;
  const programmed = state.conditions.get('Programmed')?.status === 'True';
  const attachedListenerSets = state.listenerSets.filter((s) => s.conditions.get('Accepted')?.status === 'True').length;
  return {
    kind: 'Gateway',
    namespace: g.metadata.namespace,
    name: g.metadata.name,
    source: g.source,
    status: {
      ...(programmed ? { addresses: state.addresses.map((value) => ({ type: 'IPAddress', value })) } : {}),
      conditions: [...state.conditions.values()].sort((a, b) => GATEWAY_CONDITION_ORDER.indexOf(a.type) - GATEWAY_CONDITION_ORDER.indexOf(b.type)),
      listeners: ownListeners(state).map(listenerStatus),
      // GEP-1713: shown on Gateways that allow ListenerSets (and on any that has some attached).
      ...(attachedListenerSets > 0 || allowsListenerSets(g) ? { attachedListenerSets } : {}),
    },
  };
}

