// Which listeners a route attaches to (parentRefs, allowedRoutes, hostnames), and the per-parent
// Accepted condition the spec names for each outcome.
import type { Inputs } from '../sources/kinds.js';
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

export class RouteAttacher {
  private readonly gateways = new Map<string, GatewayState>();
  /** ListenerSets whose parent is a Gateway of Weft's: routes may name them as parents (GEP-1713). */
  private readonly listenerSets = new Map<string, ListenerSetState>();
  private readonly namespaceLabels = new Map<string, Record<string, string>>();

  constructor(states: GatewayState[], inputs: Inputs) {
    for (const s of states) {
      this.gateways.set(`${s.gateway.metadata.namespace}/${s.gateway.metadata.name}`, s);
      for (const set of s.listenerSets) this.listenerSets.set(`${set.listenerSet.metadata.namespace}/${set.listenerSet.metadata.name}`, set);
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
  private parentOf(ref: ParentRef, routeNs: string): { what: string; listeners: ListenerState[]; detached?: string } | undefined {
    if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP) return undefined;
    const key = `${ref.namespace ?? routeNs}/${ref.name}`;
    const kind = ref.kind ?? 'Gateway';
    if (kind === 'Gateway') {
      const gateway = this.gateways.get(key);
      return gateway && { what: `Gateway ${key}`, listeners: gateway.listeners.filter((l) => l.owner.kind === 'Gateway') };
    }
    if (kind !== 'ListenerSet') return undefined;
    const set = this.listenerSets.get(key);
    if (!set) return undefined;
    return { what: `ListenerSet ${key}`, listeners: set.listeners, ...(set.attached ? {} : { detached: `ListenerSet ${key} is not attached to its Gateway (${set.conditions.get('Accepted')?.message})` }) };
  }

  /**
   * Attaches `route` to the listeners its parentRefs select; returns its status parents and the
   * listeners (with hostnames) it attached to. Nothing is counted until countAttached.
   */
  attach(route: RouteLike): { parents: ParentStatus[]; attachments: Attachment[] } {
    const gen = generationOf(route.metadata);
    const routeNs = route.metadata.namespace ?? 'default';
    const parents: ParentStatus[] = [];
    const attachments: Attachment[] = [];
    for (const ref of route.spec.parentRefs ?? []) {
      const target = this.parentOf(ref, routeNs);
      if (!target) continue; // not a Gateway (or ListenerSet) of Weft's: another controller reports on it
      // The status echoes the parentRef as the API server stores it, with the CRD defaults for group and kind.
      const parentRef: ParentRef = { group: GATEWAY_GROUP, kind: 'Gateway', ...ref };
      const accepted = (ok: boolean, reason: string, message: string): void => {
        parents.push({ parentRef, controllerName: CONTROLLER_NAME, conditions: [condition('Accepted', ok, reason, message, gen)] });
      };
      if (target.detached) {
        accepted(false, 'NoMatchingParent', target.detached);
        continue;
      }
      const candidates = target.listeners.filter((l) => (ref.sectionName === undefined || l.spec.name === ref.sectionName) && (ref.port === undefined || l.spec.port === ref.port));
      if (candidates.length === 0) {
        accepted(false, 'NoMatchingParent', `no listener of ${target.what} matches${ref.sectionName ? ` sectionName ${ref.sectionName}` : ''}${ref.port !== undefined ? ` port ${ref.port}` : ''}`);
        continue;
      }
      const allowed = candidates.filter((l) => this.allows(l, route));
      if (allowed.length === 0) {
        accepted(false, 'NotAllowedByListeners', `no listener of ${target.what} allows this ${route.kind} (allowedRoutes)`);
        continue;
      }
      const matching = allowed
        .map((listener) => ({ listener, hostnames: intersectHostnames(listener.spec.hostname, route.spec.hostnames ?? []) }))
        .filter((a) => a.hostnames.length > 0);
      if (matching.length === 0) {
        accepted(false, 'NoMatchingListenerHostname', 'no hostname of this route matches a listener hostname');
        continue;
      }
      accepted(true, 'Accepted', 'Route accepted');
      const parent = parents[parents.length - 1];
      attachments.push(...matching.map((a) => ({ ...a, parent })));
    }
    return { parents, attachments };
  }
}
