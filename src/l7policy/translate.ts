// Standalone inputs (Pods, Namespaces, Secrets, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,
// NetworkPolicy) → the policy model and the node proxy's L7 resources. Pure. A policy that fails
// validation is left out with a problem naming it and the field; the others still apply.
import net from 'node:net';
import type { ManifestProblem, Source } from '../sources/manifests.js';
import type { Resource } from '../xds/resource.js';
import { l7Resources, type L7ListenerInfo, type TransparentProxy } from './envoy.js';
import { buildIdentityTable, type ContainerPort, type IdentityTable, type PodInput } from './identities.js';
import { egressProxyResources, type EgressProxy } from './egress-proxy.js';
import { meshEgressTargets, type MeshEgressTarget } from './mesh-egress.js';
import { buildPolicyModel, type PolicyModel } from './model.js';
import { serviceAccountSplits } from './spiffe-identities.js';
import { parseCiliumPolicy, parseNetworkPolicy, PolicyError, type RawPolicyObject } from './parse.js';
import type { Policy } from './types.js';

/** Standalone: where the application behind a pod port listens, e.g. "8080=127.0.0.1:18080,9090=127.0.0.1:19090". */
export const BACKENDS_ANNOTATION = 'weft.dev/standalone-backends';
export const DEFAULT_HOST_IPS = ['127.0.0.1'];
export const DEFAULT_ACCESS_LOG = '/dev/stdout';

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface L7Inputs {
  pods: Array<{ metadata: Meta; spec?: unknown; status?: unknown; source: Source }>;
  namespaces: Array<{ metadata: Meta; source: Source }>;
  secrets: Array<{ metadata: Meta; data?: Record<string, string>; stringData?: Record<string, string>; source: Source }>;
  policies: RawPolicyObject[];
}

export interface L7Options {
  accessLogPath?: string;
  /** Flows: the node's flow agent reads the access log file, whose lines then carry what flows need (envoy.ts). */
  accessLogForFlows?: boolean;
  /** The node's own addresses (the `host` entity). */
  hostIps?: string[];
  /** Kubernetes mode: L7-policed ports are redirected by the datapath into this transparent listener. */
  transparent?: TransparentProxy;
  /** Mesh mutual TLS: also the route configurations the mesh's inbound listener serves policed ports with. */
  mesh?: { trustDomain: string };
  /** What enforces a port's rules in its chain (EnvoyL7Options.enforcement): the route table (default) or the RBAC filter. */
  enforcement?: 'route' | 'rbac';
  /**
   * Standalone (not with `transparent`): the explicit HTTP proxy where clients' egress HTTP rules apply to any
   * destination they name (egress-proxy.ts).
   */
  egressProxy?: EgressProxy;
}

export interface L7Translation {
  problems: ManifestProblem[];
  policies: Policy[];
  table: IdentityTable;
  model: PolicyModel;
  listeners: L7ListenerInfo[];
  /**
   * With `mesh`: the clients' egress rules towards every endpoint port they restrict, for the mesh's outbound side
   * (the listeners' meshEgress, and the ports no listener polices that some client's egress HTTP rules name).
   */
  meshEgress: MeshEgressTarget[];
  resources: Resource[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(kind: string, m: Meta): string {
  return m.namespace ? `${kind} ${m.namespace}/${m.name}` : `${kind} ${m.name}`;
}

function parsePod(p: L7Inputs['pods'][number], problems: ManifestProblem[]): PodInput | undefined {
  const namespace = p.metadata.namespace ?? 'default';
  const object = describe('Pod', { ...p.metadata, namespace });
  const fail = (field: string, message: string): undefined => {
    problems.push({ source: p.source, object, field, message });
    return undefined;
  };
  const status = isObj(p.status) ? p.status : {};
  const ips = new Set<string>();
  if (typeof status.podIP === 'string') ips.add(status.podIP);
  if (Array.isArray(status.podIPs)) for (const x of status.podIPs) if (isObj(x) && typeof x.ip === 'string') ips.add(x.ip);
  for (const ip of ips) if (!net.isIP(ip)) return fail('status.podIP', `not an IP address: ${ip}`);
  const spec = isObj(p.spec) ? p.spec : {};
  const ports: ContainerPort[] = [];
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  for (const [i, c] of containers.entries()) {
    if (!isObj(c) || !Array.isArray(c.ports)) continue;
    for (const [j, port] of c.ports.entries()) {
      if (!isObj(port) || typeof port.containerPort !== 'number') return fail(`spec.containers[${i}].ports[${j}].containerPort`, 'must be a number');
      const protocol = typeof port.protocol === 'string' ? port.protocol : 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return fail(`spec.containers[${i}].ports[${j}].protocol`, 'must be TCP, UDP or SCTP');
      ports.push({ containerPort: port.containerPort, protocol, ...(typeof port.name === 'string' ? { name: port.name.toLowerCase() } : {}) });
    }
  }
  const backends = new Map<number, { address: string; port: number }>();
  const annotation = p.metadata.annotations?.[BACKENDS_ANNOTATION];
  if (annotation) {
    for (const entry of annotation.split(',').map((s) => s.trim()).filter(Boolean)) {
      const m = /^(\d+)=(.+):(\d+)$/.exec(entry);
      if (!m || !net.isIP(m[2].replace(/^\[|\]$/g, ''))) return fail(`metadata.annotations.${BACKENDS_ANNOTATION}`, `expected PORT=IP:PORT entries separated by commas, not ${JSON.stringify(entry)}`);
      backends.set(Number(m[1]), { address: m[2].replace(/^\[|\]$/g, ''), port: Number(m[3]) });
    }
  }
  return {
    namespace,
    name: p.metadata.name,
    labels: p.metadata.labels ?? {},
    ...(typeof spec.serviceAccountName === 'string' ? { serviceAccount: spec.serviceAccountName } : {}),
    ips: [...ips],
    ports,
    backends,
    source: p.source,
  };
}

function secretValues(inputs: L7Inputs): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of inputs.secrets) {
    const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    const entries = [...Object.values(s.stringData ?? {}), ...Object.values(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8'))];
    // Cilium: "The secret must only contain one entry."
    if (entries.length === 1) out.set(key, entries[0]);
  }
  return out;
}

export function translateL7Policy(inputs: L7Inputs, opts: L7Options = {}): L7Translation {
  const problems: ManifestProblem[] = [];
  const policies: Policy[] = [];
  for (const raw of inputs.policies) {
    try {
      if (raw.kind === 'NetworkPolicy') policies.push(parseNetworkPolicy(raw));
      else policies.push(...parseCiliumPolicy(raw));
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      const namespace = raw.kind === 'CiliumClusterwideNetworkPolicy' ? undefined : (raw.metadata.namespace ?? 'default');
      problems.push({ source: raw.source, object: describe(raw.kind, { ...raw.metadata, ...(namespace ? { namespace } : {}) }), ...(err.field ? { field: err.field } : {}), message: `${err.message}; the policy is not applied` });
    }
  }
  const pods = inputs.pods.map((p) => parsePod(p, problems)).filter((p): p is PodInput => p !== undefined);
  const namespaces = new Map(inputs.namespaces.map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
  const table = buildIdentityTable(pods, namespaces, opts.hostIps ?? DEFAULT_HOST_IPS);
  const model = buildPolicyModel(table, policies);
  const secrets = secretValues(inputs);
  const l7 = l7Resources(model, table, { accessLogPath: opts.accessLogPath ?? DEFAULT_ACCESS_LOG, secrets, ...(opts.accessLogForFlows ? { accessLogForFlows: true } : {}), ...(opts.transparent ? { transparent: opts.transparent } : {}), ...(opts.mesh ? { mesh: opts.mesh } : {}), ...(opts.enforcement ? { enforcement: opts.enforcement } : {}) });
  const resources = l7.resources;
  if (opts.egressProxy && !opts.transparent) {
    const proxy = egressProxyResources(model, opts.egressProxy, { accessLogPath: opts.accessLogPath ?? DEFAULT_ACCESS_LOG, secrets, forFlows: opts.accessLogForFlows === true });
    resources.push(...proxy.resources);
    l7.problems.push(...proxy.problems);
  }
  const meshEgress: MeshEgressTarget[] = [];
  if (opts.mesh) {
    for (const l of l7.listeners) if (l.meshEgress) meshEgress.push({ endpoint: l.endpoint, port: l.port, egress: l.meshEgress });
    const more = meshEgressTargets(model, secrets, new Set(l7.listeners.map((l) => `${l.endpoint}/${l.port}`)));
    meshEgress.push(...more.targets);
    l7.problems.push(...more.problems);
  }
  for (const p of l7.problems) problems.push({ source: p.endpoint.source, object: `Pod ${p.endpoint.name}`, message: p.message });
  if (opts.mesh) {
    const byId = new Map(policies.map((p) => [p.id, p]));
    for (const w of serviceAccountSplits(model, opts.mesh.trustDomain)) problems.push({ source: byId.get(w.policy)!.source, object: w.policy, message: w.message });
  }
  return { problems, policies, table, model, listeners: l7.listeners, meshEgress, resources };
}
