// CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and NetworkPolicy objects → normalised policies,
// with Cilium's validation (its api.Rule.Sanitize): an invalid policy is rejected as a whole with the field
// that is wrong, and never reaches the model or Envoy. Unknown fields are errors, as with
// `kubectl apply --validate=strict`: a misspelt `fromEndpoint` must not silently widen a policy.
import { parsePrefix, prefixWithin } from './cidr.js';
import { inNamespace, parseLabelKey, scopePeerSelector } from './labels.js';
import { re2Error } from './regex.js';
import { AUTHENTICATION_MODES, ENTITIES, type AuthenticationMode, type Direction, type Entity, type HeaderMatch, type HttpRule, type Peer, type Policy, type PortSpec, type Protocol, type Requirement, type Rule, type Selector } from './types.js';
import type { Source } from '../sources/manifests.js';

export class PolicyError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new PolicyError(field, 'must be an object');
  return v;
}

function known(o: Obj, field: string, keys: readonly string[], unsupported: Record<string, string> = {}): void {
  for (const k of Object.keys(o)) {
    const at = field ? `${field}.${k}` : k;
    if (k in unsupported) throw new PolicyError(at, unsupported[k]);
    if (!keys.includes(k)) throw new PolicyError(at, 'unknown field');
  }
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PolicyError(field, 'must be a list');
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new PolicyError(field, 'must be a string');
  return v;
}

function optStr(v: unknown, field: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, field);
}

function regex(v: unknown, field: string): string | undefined {
  const s = optStr(v, field);
  if (!s) return undefined;
  const err = re2Error(s);
  if (err) throw new PolicyError(field, `invalid regular expression ${JSON.stringify(s)}: ${err}`);
  return s;
}

export function parseSelector(v: unknown, field: string): Selector {
  const o = obj(v ?? {}, field);
  known(o, field, ['matchLabels', 'matchExpressions']);
  const requirements: Requirement[] = [];
  const labels = o.matchLabels === undefined || o.matchLabels === null ? {} : obj(o.matchLabels, `${field}.matchLabels`);
  for (const [k, value] of Object.entries(labels)) {
    requirements.push({ key: parseLabelKey(k), operator: 'In', values: [value === null ? '' : str(value, `${field}.matchLabels.${k}`)] });
  }
  list(o.matchExpressions, `${field}.matchExpressions`).forEach((e, i) => {
    const at = `${field}.matchExpressions[${i}]`;
    const x = obj(e, at);
    known(x, at, ['key', 'operator', 'values']);
    const operator = str(x.operator, `${at}.operator`);
    if (operator !== 'In' && operator !== 'NotIn' && operator !== 'Exists' && operator !== 'DoesNotExist') throw new PolicyError(`${at}.operator`, `must be In, NotIn, Exists or DoesNotExist, not ${operator}`);
    const values = list(x.values, `${at}.values`).map((s, j) => str(s, `${at}.values[${j}]`));
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) throw new PolicyError(`${at}.values`, `must not be empty for ${operator}`);
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) throw new PolicyError(`${at}.values`, `must be empty for ${operator}`);
    requirements.push({ key: parseLabelKey(str(x.key, `${at}.key`)), operator, values });
  });
  return { requirements };
}

const SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function parseProtocol(v: unknown, field: string): Protocol {
  const p = (optStr(v, field) ?? 'ANY').toUpperCase();
  if (p === '') return 'ANY';
  if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP' && p !== 'ANY') throw new PolicyError(field, `must be TCP, UDP, SCTP or ANY, not ${String(v)}`);
  return p;
}

function parsePortProtocol(v: unknown, field: string): PortSpec {
  const o = obj(v, field);
  known(o, field, ['port', 'endPort', 'protocol']);
  const raw = o.port === undefined ? undefined : typeof o.port === 'number' ? String(o.port) : str(o.port, `${field}.port`);
  if (raw === undefined || raw === '') throw new PolicyError(`${field}.port`, 'Port must be specified');
  let port: number | string;
  if (SVC_NAME.test(raw.toLowerCase()) && !raw.includes('--')) {
    port = raw.toLowerCase();
  } else if (/^\d+$/.test(raw) && Number(raw) <= 65535) {
    port = Number(raw);
  } else {
    throw new PolicyError(`${field}.port`, `unable to parse port ${JSON.stringify(raw)}: not a port number (0-65535) or a port name`);
  }
  const spec: PortSpec = { port, protocol: parseProtocol(o.protocol, `${field}.protocol`) };
  if (o.endPort !== undefined && o.endPort !== null) {
    if (typeof o.endPort !== 'number' || !Number.isInteger(o.endPort) || o.endPort < 0 || o.endPort > 65535) throw new PolicyError(`${field}.endPort`, 'must be a port number');
    if (typeof port !== 'number') throw new PolicyError(`${field}.endPort`, 'cannot be used with a named port');
    if (o.endPort < port) throw new PolicyError(`${field}.endPort`, `must not be less than port (${port})`);
    if (o.endPort > port) spec.endPort = o.endPort;
  }
  return spec;
}

function parseHeaderMatch(v: unknown, field: string, namespace: string | undefined): HeaderMatch {
  const o = obj(v, field);
  known(o, field, ['name', 'value', 'secret', 'mismatch']);
  const name = str(o.name ?? '', `${field}.name`);
  if (!name) throw new PolicyError(`${field}.name`, 'Header name missing');
  const m: HeaderMatch = { name };
  const value = optStr(o.value, `${field}.value`);
  if (value) m.value = value;
  if (o.mismatch !== undefined && o.mismatch !== null && o.mismatch !== '') {
    const a = str(o.mismatch, `${field}.mismatch`);
    if (a !== 'LOG' && a !== 'ADD' && a !== 'DELETE' && a !== 'REPLACE') throw new PolicyError(`${field}.mismatch`, `Invalid header action: ${a} (LOG, ADD, DELETE or REPLACE)`);
    m.mismatch = a;
  }
  if (o.secret !== undefined && o.secret !== null) {
    const s = obj(o.secret, `${field}.secret`);
    known(s, `${field}.secret`, ['name', 'namespace']);
    const secretName = optStr(s.name, `${field}.secret.name`);
    if (!secretName) throw new PolicyError(`${field}.secret.name`, 'Secret name missing');
    const ns = optStr(s.namespace, `${field}.secret.namespace`) ?? namespace;
    if (!ns) throw new PolicyError(`${field}.secret.namespace`, 'a clusterwide policy must name the Secret\'s namespace');
    m.secret = { namespace: ns, name: secretName };
  }
  return m;
}

function parseHttpRule(v: unknown, field: string, namespace: string | undefined): HttpRule {
  const o = obj(v ?? {}, field);
  known(o, field, ['method', 'path', 'host', 'headers', 'headerMatches']);
  const rule: HttpRule = {
    headers: list(o.headers, `${field}.headers`).map((h, i) => {
      const text = str(h, `${field}.headers[${i}]`);
      // Cilium splits at the first space: "X-Key: value" is an exact match, "X-Key" presence only.
      const space = text.indexOf(' ');
      if (space < 0) return { name: text };
      return { name: text.slice(0, space).replace(/:+$/, ''), value: text.slice(space + 1) };
    }),
    headerMatches: list(o.headerMatches, `${field}.headerMatches`).map((h, i) => parseHeaderMatch(h, `${field}.headerMatches[${i}]`, namespace)),
  };
  const method = regex(o.method, `${field}.method`);
  const path = regex(o.path, `${field}.path`);
  const host = regex(o.host, `${field}.host`);
  if (method) rule.method = method;
  if (path) rule.path = path;
  if (host) rule.host = host;
  return rule;
}

const UNSUPPORTED_L7 = 'Weft enforces HTTP rules only';

function parsePortRule(v: unknown, field: string, deny: boolean, direction: Direction, namespace: string | undefined): { ports: PortSpec[]; http?: HttpRule[] } {
  const o = obj(v, field);
  const unsupported = { originatingTLS: 'TLS interception is not supported by Weft yet', terminatingTLS: 'TLS interception is not supported by Weft yet', serverNames: 'serverNames are not supported by Weft yet', listener: 'custom listeners are not supported by Weft' };
  known(o, field, deny ? ['ports'] : ['ports', 'rules'], unsupported);
  const portList = list(o.ports, `${field}.ports`);
  if (portList.length > 40) throw new PolicyError(`${field}.ports`, 'too many ports, the max is 40');
  const ports = portList.map((p, i) => parsePortProtocol(p, `${field}.ports[${i}]`));
  if (o.rules === undefined || o.rules === null) return { ports };
  const at = `${field}.rules`;
  const rules = obj(o.rules, at);
  known(rules, at, ['http', 'kafka', 'dns', 'l7proto', 'l7']);
  const types = ['http', 'kafka', 'dns', 'l7proto'].filter((k) => rules[k] !== undefined && rules[k] !== null);
  if (rules.l7 !== undefined && rules.l7proto === undefined) throw new PolicyError(`${at}.l7`, "'l7' may only be specified when a 'l7proto' is also specified");
  if (types.length > 1) throw new PolicyError(at, `multiple L7 protocol rule types specified in single rule (${types.join(', ')})`);
  if (types.length === 0) return { ports };
  if (types[0] === 'dns' && direction === 'ingress') throw new PolicyError(`${at}.dns`, 'DNS rules are not allowed on ingress');
  if (types[0] !== 'http') throw new PolicyError(`${at}.${types[0]}`, UNSUPPORTED_L7);
  ports.forEach((p, i) => {
    if (p.protocol !== 'TCP') throw new PolicyError(`${field}.ports[${i}].protocol`, `L7 rules can only apply to TCP (not ${p.protocol}) except for DNS rules`);
    if (p.port === 0) throw new PolicyError(`${field}.ports[${i}].port`, 'L7 rules can not be used when a port is 0');
  });
  const http = list(rules.http, `${at}.http`).map((r, i) => parseHttpRule(r, `${at}.http[${i}]`, namespace));
  return { ports, http };
}

function parseEntities(v: unknown, field: string): Peer[] {
  return list(v, field).map((e, i) => {
    const entity = str(e, `${field}[${i}]`);
    if (!(ENTITIES as readonly string[]).includes(entity)) throw new PolicyError(`${field}[${i}]`, `unsupported entity: ${entity} (${ENTITIES.join(', ')})`);
    return { kind: 'entity', entity: entity as Entity };
  });
}

function parseCidr(v: unknown, field: string): Peer {
  const text = str(v, field);
  if (!parsePrefix(text)) throw new PolicyError(field, `unable to parse CIDR ${JSON.stringify(text)}`);
  return { kind: 'cidr', cidr: text, except: [] };
}

function parseCidrRule(v: unknown, field: string): Peer {
  const o = obj(v, field);
  known(o, field, ['cidr', 'except'], { cidrGroupRef: 'CiliumCIDRGroups are not supported by Weft yet', cidrGroupSelector: 'CiliumCIDRGroups are not supported by Weft yet' });
  const cidr = str(o.cidr, `${field}.cidr`);
  const prefix = cidr.includes('/') ? parsePrefix(cidr) : undefined;
  if (!prefix) throw new PolicyError(`${field}.cidr`, `unable to parse CIDRRule ${JSON.stringify(cidr)} (address/length)`);
  const except = list(o.except, `${field}.except`).map((e, i) => {
    const text = str(e, `${field}.except[${i}]`);
    const p = text.includes('/') ? parsePrefix(text) : undefined;
    if (!p) throw new PolicyError(`${field}.except[${i}]`, `unable to parse CIDR ${JSON.stringify(text)}`);
    if (!prefixWithin(p, prefix)) throw new PolicyError(`${field}.except[${i}]`, `allow CIDR prefix ${cidr} does not contain exclude CIDR prefix ${text}`);
    return text;
  });
  return { kind: 'cidr', cidr, except };
}

/** `authentication: {mode: …}` as Cilium's CRD defines it: an object whose only field, `mode`, is required. */
function parseAuthentication(v: unknown, field: string): AuthenticationMode | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, field);
  known(o, field, ['mode']);
  if (o.mode === undefined || o.mode === null) throw new PolicyError(`${field}.mode`, `is required (${AUTHENTICATION_MODES.join(', ')})`);
  const mode = str(o.mode, `${field}.mode`);
  if (!(AUTHENTICATION_MODES as readonly string[]).includes(mode)) throw new PolicyError(`${field}.mode`, `unsupported authentication mode ${JSON.stringify(mode)} (${AUTHENTICATION_MODES.join(', ')})`);
  return mode as AuthenticationMode;
}

function parseRule(v: unknown, field: string, direction: Direction, deny: boolean, namespace: string | undefined): Rule[] {
  const o = obj(v, field);
  const from = direction === 'ingress' ? 'from' : 'to';
  const peerFields = [`${from}Endpoints`, `${from}CIDR`, `${from}CIDRSet`, `${from}Entities`];
  const unsupported: Record<string, string> = {
    [`${from}Requires`]: `${from}Requires is deprecated and not supported by Weft`,
    [`${from}Groups`]: `${from}Groups is not supported by Weft`,
    [`${from}Nodes`]: `${from}Nodes is not supported by Weft yet`,
    icmps: 'ICMP rules are not supported by Weft yet',
  };
  // Cilium's IngressDenyRule/EgressDenyRule have no authentication field.
  if (deny) unsupported.authentication = 'deny rules have no authentication (only ingress and egress rules do)';
  if (direction === 'egress') Object.assign(unsupported, { toServices: 'toServices is not supported by Weft yet', toFQDNs: 'toFQDNs is not supported by Weft yet' });
  known(o, field, [...peerFields, 'toPorts', 'authentication'], unsupported);
  const authentication = parseAuthentication(o.authentication, `${field}.authentication`);
  const auth = authentication ? { authentication } : {};
  const present = peerFields.filter((k) => list(o[k], `${field}.${k}`).length > 0);
  if (present.length > 1) throw new PolicyError(`${field}.${present[1]}`, `Combining ${present[0]} and ${present[1]} is not supported yet`);
  let peers: Peer[] | null = null;
  if (present.length === 1) {
    const k = present[0];
    const at = `${field}.${k}`;
    if (k.endsWith('Endpoints')) {
      peers = list(o[k], at).map((s, i) => {
        const selector = parseSelector(s, `${at}[${i}]`);
        return { kind: 'endpoints', selector: scopePeerSelector(selector, namespace) };
      });
    } else if (k.endsWith('CIDRSet')) {
      peers = list(o[k], at).map((c, i) => parseCidrRule(c, `${at}[${i}]`));
    } else if (k.endsWith('CIDR')) {
      peers = list(o[k], at).map((c, i) => parseCidr(c, `${at}[${i}]`));
    } else {
      peers = parseEntities(o[k], at);
    }
  }
  const portRules = list(o.toPorts, `${field}.toPorts`).map((p, i) => parsePortRule(p, `${field}.toPorts[${i}]`, deny, direction, namespace));
  // No toPorts: every port. With no peer either, the rule allows nothing (it only selects the endpoint).
  if (portRules.length === 0) return [{ direction, deny, ...auth, peers: peers ?? [], ports: null }];
  // Each toPorts entry is its own rule over the same peers, so L7 rules stay with their ports.
  return portRules.map((p) => ({ direction, deny, ...auth, peers, ports: p.ports, ...(p.http ? { http: p.http } : {}) }));
}

/** The object's own fields (the loader adds `source`). */
function withoutSource(m: RawPolicyObject): Obj {
  return Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'source'));
}

export interface RawPolicyObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
  specs?: unknown;
  source: Source;
  [k: string]: unknown;
}

function parseCiliumSpec(v: unknown, field: string, id: string, kind: Policy['kind'], namespace: string | undefined, source: Source): Policy {
  const clusterwide = kind === 'CiliumClusterwideNetworkPolicy';
  const o = obj(v, field);
  known(o, field, ['endpointSelector', 'nodeSelector', 'ingress', 'egress', 'ingressDeny', 'egressDeny', 'labels', 'description', 'enableDefaultDeny', 'log']);
  const hasEndpoints = o.endpointSelector !== undefined && o.endpointSelector !== null;
  const hasNodes = o.nodeSelector !== undefined && o.nodeSelector !== null;
  if (!hasEndpoints && !hasNodes) throw new PolicyError(`${field}.endpointSelector`, 'rule must have one of EndpointSelector or NodeSelector');
  if (hasEndpoints && hasNodes) throw new PolicyError(`${field}.nodeSelector`, 'rule cannot have both EndpointSelector and NodeSelector');
  if (hasNodes && !clusterwide) throw new PolicyError(`${field}.nodeSelector`, 'nodeSelector is only allowed in CiliumClusterwideNetworkPolicy');
  const peerNamespace = clusterwide ? undefined : namespace;
  const rules: Rule[] = [];
  for (const [key, direction, deny] of [['ingress', 'ingress', false], ['egress', 'egress', false], ['ingressDeny', 'ingress', true], ['egressDeny', 'egress', true]] as const) {
    list(o[key], `${field}.${key}`).forEach((r, i) => {
      const parsed = parseRule(r, `${field}.${key}[${i}]`, direction, deny, peerNamespace);
      // Cilium rejects L7 rules in host policies, rule by rule as it validates them (pkg/policy/api
      // rule_validation.go, Rule.Sanitize: "host policies do not support L7 rules yet"; its documentation,
      // Host Policies: layer 3 and 4 rules, and in recent versions DNS rules, which Weft does not enforce).
      // `http: []` counts as L7 rules in current Cilium (L7Rules.IsEmpty tests for nil; versions that
      // tested the length accepted it), so it does here.
      if (hasNodes && parsed.some((p) => p.http)) throw new PolicyError(`${field}.${key}[${i}].toPorts`, 'host policies do not support L7 rules yet (nodeSelector: L3/L4 rules only)');
      rules.push(...parsed);
    });
  }
  // Cilium's default posture: selecting an endpoint in a direction makes it default-deny there.
  const defaultDeny = { ingress: list(o.ingress, '').length + list(o.ingressDeny, '').length > 0, egress: list(o.egress, '').length + list(o.egressDeny, '').length > 0 };
  if (o.enableDefaultDeny !== undefined && o.enableDefaultDeny !== null) {
    const d = obj(o.enableDefaultDeny, `${field}.enableDefaultDeny`);
    known(d, `${field}.enableDefaultDeny`, ['ingress', 'egress']);
    for (const k of ['ingress', 'egress'] as const) {
      if (d[k] === undefined || d[k] === null) continue;
      if (typeof d[k] !== 'boolean') throw new PolicyError(`${field}.enableDefaultDeny.${k}`, 'must be a boolean');
      defaultDeny[k] = d[k];
    }
  }
  const p: Policy = { id, kind, rules, defaultDeny, source };
  if (namespace) p.namespace = namespace;
  if (hasEndpoints) {
    const selector = parseSelector(o.endpointSelector, `${field}.endpointSelector`);
    p.endpointSelector = clusterwide ? selector : inNamespace(selector, namespace!);
  }
  if (hasNodes) p.nodeSelector = parseSelector(o.nodeSelector, `${field}.nodeSelector`);
  return p;
}

/** Parses one Cilium policy (each of `spec` and `specs` is a policy of its own); throws PolicyError naming the field. */
export function parseCiliumPolicy(m: RawPolicyObject): Policy[] {
  const clusterwide = m.kind === 'CiliumClusterwideNetworkPolicy';
  const namespace = clusterwide ? undefined : (m.metadata.namespace ?? 'default');
  known(withoutSource(m), '', ['apiVersion', 'kind', 'metadata', 'spec', 'specs', 'status']);
  const specs: Array<[unknown, string]> = [];
  if (m.spec !== undefined && m.spec !== null) specs.push([m.spec, 'spec']);
  list(m.specs, 'specs').forEach((s, i) => specs.push([s, `specs[${i}]`]));
  if (specs.length === 0) throw new PolicyError('spec', 'a policy needs spec or specs');
  const id = `${m.kind} ${namespace ? `${namespace}/` : ''}${m.metadata.name}`;
  return specs.map(([spec, field]) => parseCiliumSpec(spec, field, specs.length > 1 ? `${id} ${field}` : id, m.kind as Policy['kind'], namespace, m.source));
}

/** networking.k8s.io/v1 NetworkPolicy → the same rule shape (L3/L4 only), as Cilium translates it. */
export function parseNetworkPolicy(m: RawPolicyObject): Policy {
  const namespace = m.metadata.namespace ?? 'default';
  known(withoutSource(m), '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const spec = obj(m.spec ?? {}, 'spec');
  known(spec, 'spec', ['podSelector', 'policyTypes', 'ingress', 'egress']);
  const endpointSelector = inNamespace(parseSelector(spec.podSelector ?? {}, 'spec.podSelector'), namespace);
  const types = list(spec.policyTypes, 'spec.policyTypes').map((t, i) => {
    const s = str(t, `spec.policyTypes[${i}]`);
    if (s !== 'Ingress' && s !== 'Egress') throw new PolicyError(`spec.policyTypes[${i}]`, `must be Ingress or Egress, not ${s}`);
    return s;
  });
  const hasEgress = spec.egress !== undefined && spec.egress !== null;
  const policyTypes = types.length > 0 ? types : hasEgress ? ['Ingress', 'Egress'] : ['Ingress'];
  const rules: Rule[] = [];
  for (const [key, direction, peerKey] of [['ingress', 'ingress', 'from'], ['egress', 'egress', 'to']] as const) {
    if (!policyTypes.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) continue;
    list(spec[key], `spec.${key}`).forEach((r, i) => {
      const at = `spec.${key}[${i}]`;
      const o = obj(r, at);
      known(o, at, [peerKey, 'ports']);
      const ports = list(o.ports, `${at}.ports`).map((p, j) => {
        const po = obj(p, `${at}.ports[${j}]`);
        known(po, `${at}.ports[${j}]`, ['port', 'endPort', 'protocol']);
        const spec = parsePortProtocol({ ...po, port: po.port ?? 0, protocol: po.protocol ?? 'TCP' }, `${at}.ports[${j}]`);
        return spec;
      });
      const peerList = list(o[peerKey], `${at}.${peerKey}`);
      const peers: Peer[] | null = peerList.length === 0 ? null : peerList.flatMap((pe, j): Peer[] => {
        const pat = `${at}.${peerKey}[${j}]`;
        const po = obj(pe, pat);
        known(po, pat, ['podSelector', 'namespaceSelector', 'ipBlock']);
        if (po.ipBlock !== undefined) {
          if (po.podSelector !== undefined || po.namespaceSelector !== undefined) throw new PolicyError(`${pat}.ipBlock`, 'ipBlock cannot be combined with podSelector or namespaceSelector');
          return [parseCidrRule(po.ipBlock, `${pat}.ipBlock`)];
        }
        const pods = po.podSelector === undefined || po.podSelector === null ? { requirements: [] } : parseSelector(po.podSelector, `${pat}.podSelector`);
        if (po.namespaceSelector === undefined || po.namespaceSelector === null) return [{ kind: 'endpoints', selector: scopePeerSelector(pods, namespace) }];
        // Namespace labels appear on pod identities as io.cilium.k8s.namespace.labels.<key>.
        const ns = parseSelector(po.namespaceSelector, `${pat}.namespaceSelector`);
        const nsReqs = ns.requirements.map((r) => ({ ...r, key: { source: 'k8s', key: `io.cilium.k8s.namespace.labels.${r.key.key}` } }));
        const anyPod: Requirement = { key: { source: 'k8s', key: 'io.kubernetes.pod.namespace' }, operator: 'Exists', values: [] };
        return [{ kind: 'endpoints', selector: { requirements: [...pods.requirements, ...nsReqs, anyPod] } }];
      });
      // No ports: every port; no peers: every peer (so an empty rule {} allows everything).
      rules.push({ direction, deny: false, peers, ports: ports.length > 0 ? ports : [{ port: 0, protocol: 'ANY' }] });
    });
  }
  return {
    id: `NetworkPolicy ${namespace}/${m.metadata.name}`,
    kind: 'NetworkPolicy',
    namespace,
    endpointSelector,
    rules,
    defaultDeny: { ingress: policyTypes.includes('Ingress'), egress: policyTypes.includes('Egress') },
    source: m.source,
  };
}
