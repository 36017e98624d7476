// The normalised form of CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and NetworkPolicy rules that
// the policy model works on: one shape for all three kinds, with Cilium's semantics made explicit.
import type { Source } from '../sources/manifests.js';

export type Direction = 'ingress' | 'egress';
export type Protocol = 'TCP' | 'UDP' | 'SCTP' | 'ANY';

/** A label key with its Cilium source: `k8s:app` → {source: 'k8s', key: 'app'}; `app` → source 'any'. */
export interface LabelKey {
  source: string;
  key: string;
}

export interface Requirement {
  key: LabelKey;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** A label selector: every requirement must hold (matchLabels become `In` requirements). */
export interface Selector {
  requirements: Requirement[];
}

export const ENTITIES = ['all', 'world', 'world-ipv4', 'world-ipv6', 'cluster', 'host', 'remote-node', 'init', 'health', 'unmanaged', 'kube-apiserver', 'ingress', 'none'] as const;
export type Entity = (typeof ENTITIES)[number];

export type Peer =
  | { kind: 'endpoints'; selector: Selector }
  | { kind: 'entity'; entity: Entity }
  | { kind: 'cidr'; cidr: string; except: string[] };

export interface PortSpec {
  /** A number (0: every port) or a named port (lower case), resolved against the endpoint's container ports. */
  port: number | string;
  /** Last port of a range; absent for a single port. */
  endPort?: number;
  protocol: Protocol;
}

export type MismatchAction = 'LOG' | 'ADD' | 'DELETE' | 'REPLACE';

export interface HeaderMatch {
  name: string;
  /** Exact value; absent with no secret: presence only. */
  value?: string;
  secret?: { namespace: string; name: string };
  /** Absent: a mismatch fails the rule. */
  mismatch?: MismatchAction;
}

/** One entry of `rules.http`: every field present must match (method, path, host: RE2, whole value). */
export interface HttpRule {
  method?: string;
  path?: string;
  host?: string;
  /** `Name` (present) or `Name: value` (exact), as Cilium splits them: at the first space. */
  headers: Array<{ name: string; value?: string }>;
  headerMatches: HeaderMatch[];
}

/**
 * Cilium's rule-level `authentication.mode` (CRD enum): `required` allows the rule's traffic only between
 * mutually authenticated peers; `disabled` says explicitly that none is needed; `test-always-fail` is
 * Cilium's test mode, an authentication that never succeeds.
 */
export const AUTHENTICATION_MODES = ['disabled', 'required', 'test-always-fail'] as const;
export type AuthenticationMode = (typeof AUTHENTICATION_MODES)[number];

export interface Rule {
  direction: Direction;
  deny: boolean;
  /** Allow rules only (Cilium's deny rules have no such field); absent: the rule does not say. */
  authentication?: AuthenticationMode;
  /** null: any peer (a rule with only toPorts); []: no peer (the rule allows nothing). */
  peers: Peer[] | null;
  /** null: every port and protocol (an L3-only rule). */
  ports: PortSpec[] | null;
  /** Absent: no L7 rule (the port is allowed as a whole). */
  http?: HttpRule[];
}

export interface Policy {
  /** `CiliumNetworkPolicy ns/name`, for problems and logs. */
  id: string;
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy';
  /** Namespaced policies select endpoints and peers in their namespace unless a selector names one. */
  namespace?: string;
  endpointSelector?: Selector;
  /** Clusterwide host policies (nodeSelector): validated and kept, not enforced by the node proxy. */
  nodeSelector?: Selector;
  rules: Rule[];
  /** Whether selecting an endpoint makes it default-deny in that direction (Cilium's enableDefaultDeny). */
  defaultDeny: { ingress: boolean; egress: boolean };
  source: Source;
}
