// Which listeners a route attaches to (parentRefs, allowedRoutes, hostnames), and the per-parent
// Accepted condition the spec names for each outcome.
import type { Inputs } from '../sources/kinds.js';
import { ByNamespace } from '../sources/by-namespace.js';
import type { ObjectMeta } from '../sources/manifests.js';
import { condition, CONTROLLER_NAME, GATEWAY_GROUP, generationOf, type Condition } from './conditions.js';
import { intersectHostnames } from './hostnames.js';
import type { ListenerSetState } from './listener-sets.js';
import type { GatewayState, ListenerState } from './listeners.js';

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface RouteLike {
  kind: 'HTTPRoute' | 'GRPCRoute' | 'TLSRoute';
  metadata: ObjectMeta;
  spec: { parentRefs?: ParentRef[]; hostnames?: string[] };
}

export interface Attachment {
  listener: ListenerState;
  /** Hostnames this route serves on that listener (`*` for any). */
  hostnames: string[];
  /** The status of the parentRef this attachment comes from. */
  parent: ParentStatus;
}

export interface ParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The object a parentRef names, as attach() needs it (built once per object and translation). */
interface ParentTarget {
  what: string;
  listeners: ListenerState[];
  detached?: string;
}

export class RouteAttacher {
  /** Looked up by namespace then name: no "namespace/name" key built per parentRef. */
  private readonly gateways = new ByNamespace<GatewayState>();
  /** ListenerSets whose parent is a Gateway of Weft's: routes may name them as parents (GEP-1713). */
  private readonly listenerSets = new ByNamespace<ListenerSetState>();
  private readonly targets = new Map<GatewayState | ListenerSetState, ParentTarget>();
  private readonly namespaceLabels = new Map<string, Record<string, string>>();

  constructor(states: GatewayState[], inputs: Inputs) {
    for (const s of states) {
      this.gateways.set(String(s.gateway.metadata.namespace), s.gateway.metadata.name, s);
      for (const set of s.listenerSets) this.listenerSets.set(String(set.listenerSet.metadata.namespace), set.listenerSet.metadata.name, set);
    }
    for (const ns of inputs.namespaces) this.namespaceLabels.set(ns.metadata.name, ns.metadata.labels ?? {});
  }

  private labelsOf(namespace: string): Record<string, string> {
    return { ...(this.namespaceLabels.get(namespace) ?? {}), 'kubernetes.io/metadata.name': namespace };
  }

  /**
   * allowedRoutes only: the spec bases attachment "solely on the combination of the AllowedRoutes field
   * ... and the Route's ParentRefs field"; Listener status does not impact it.
   */
  private allows(listener: ListenerState, route: RouteLike): boolean {
    if (!listener.supportedKinds.some((k) => k.group === GATEWAY_GROUP && k.kind === route.kind)) return false;
    const routeNs = route.metadata.namespace ?? 'default';
    const from = listener.spec.allowedRoutes?.namespaces?.from ?? 'Same';
    if (from === 'All') return true;
    // Same: the namespace of the object defining the listener (a ListenerSet's own, GEP-1713).
    if (from === 'Same') return routeNs === listener.owner.namespace;
    const selector = listener.spec.allowedRoutes?.namespaces?.selector;
    return selector ? selectorMatches(selector, this.labelsOf(routeNs)) : false;
  }

  /**
   * Counts an Accepted route in the attachedRoutes of the listeners it attached to, once per listener.
   * The spec: only Routes with Accepted True are counted, whatever the Listener's own conditions.
   * Each route is counted once per translation (classification keeps one object per kind, namespace and
   * name), so only its own repeats (two parentRefs to one listener) are skipped: no key per route.
   */
  countAttached(attachments: readonly Attachment[]): void {
    for (let i = 0; i < attachments.length; i++) {
      const { listener } = attachments[i];
      let repeat = false;
      for (let j = 0; j < i && !repeat; j++) repeat = attachments[j].listener === listener;
      if (!repeat) listener.attachedRoutes++;
    }
  }

  /**
   * The listeners a parentRef's object defines, if the object is one of Weft's: a Gateway's own (not its
   * ListenerSets'), or a ListenerSet's; `detached` when the ListenerSet is refused by its Gateway.
   */
  private parentOf(ref: ParentRef, routeNs: string): ParentTarget | undefined {
    if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP) return undefined;
    const namespace = ref.namespace ?? routeNs;
    const kind = ref.kind ?? 'Gateway';
    if (kind === 'Gateway') {
      const gateway = this.gateways.get(namespace, ref.name);
      if (!gateway) return undefined;
      let target = this.targets.get(gateway);
      if (!target) this.targets.set(gateway, (target = { what: `Gateway ${namespace}/${ref.name}`, listeners: gateway.listeners.filter((l) => l.owner.kind === 'Gateway') }));
      return target;
    }
    if (kind !== 'ListenerSet') return undefined;
    const set = this.listenerSets.get(namespace, ref.name);
    if (!set) return undefined;
    let target = this.targets.get(set);
    if (!target) {
      const key = `${namespace}/${ref.name}`;
      target = { what: `ListenerSet ${key}`, listeners: set.listeners, ...(set.attached ? {} : { detached: `ListenerSet ${key} is not attached to its Gateway (${set.conditions.get('Accepted')?.message})` }) };
      this.targets.set(set, target);
    }
    return target;
  }

  /**
   * Attaches `route` to the listeners its parentRefs select; returns its status parents and the
   * listeners (with hostnames) it attached to. Nothing is counted until countAttached.
   */
  attach(route: RouteLike): { parents: ParentStatus[]; attachments: Attachment[] } {
    const gen = generationOf(route.metadata);
    const routeNs = route.metadata.namespace ?? 'default';
    const routeHostnames = route.spec.hostnames ?? [];
    const parents: ParentStatus[] = [];
    const attachments: Attachment[] = [];
    for (const ref of route.spec.parentRefs ?? []) {
      const target = this.parentOf(ref, routeNs);
      if (!target) continue; // not a Gateway (or ListenerSet) of Weft's: another controller reports on it
      // The status echoes the parentRef as the API server stores it, with the CRD defaults for group and kind.
      // Its conditions are set below, as an array of one (no spare capacity from push).
      const parent: ParentStatus = { parentRef: { group: GATEWAY_GROUP, kind: 'Gateway', ...ref }, controllerName: CONTROLLER_NAME, conditions: [] };
      parents.push(parent);
      if (target.detached) {
        parent.conditions = [condition('Accepted', false, 'NoMatchingParent', target.detached, gen)];
        continue;
      }
      // Candidates (sectionName, port), those allowedRoutes allows, and those with a hostname in common, in one pass.
      let candidates = 0;
      let allowed = 0;
      const first = attachments.length;
      for (const listener of target.listeners) {
        if ((ref.sectionName !== undefined && listener.spec.name !== ref.sectionName) || (ref.port !== undefined && listener.spec.port !== ref.port)) continue;
        candidates++;
        if (!this.allows(listener, route)) continue;
        allowed++;
        const hostnames = intersectHostnames(listener.spec.hostname, routeHostnames);
        if (hostnames.length > 0) attachments.push({ listener, hostnames, parent });
      }
      if (candidates === 0) {
        parent.conditions = [condition('Accepted', false, 'NoMatchingParent', `no listener of ${target.what} matches${ref.sectionName ? ` sectionName ${ref.sectionName}` : ''}${ref.port !== undefined ? ` port ${ref.port}` : ''}`, gen)];
      } else if (allowed === 0) {
        parent.conditions = [condition('Accepted', false, 'NotAllowedByListeners', `no listener of ${target.what} allows this ${route.kind} (allowedRoutes)`, gen)];
      } else if (attachments.length === first) {
        parent.conditions = [condition('Accepted', false, 'NoMatchingListenerHostname', 'no hostname of this route matches a listener hostname', gen)];
      } else {
        parent.conditions = [condition('Accepted', true, 'Accepted', 'Route accepted', gen)];
      }
    }
    return { parents, attachments };
  }
}
