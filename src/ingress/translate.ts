// Ingress (networking.k8s.io/v1) → IR listeners + statuses + problems: a pure function of the inputs.
//
// Every Weft Ingress is served on a socket: the shared address (shared mode, the default) or an address
// of its own from the dedicated pool (dedicated mode), on the HTTP port. On one socket, each host is a
// virtual host (rules without host and the defaultBackend go to `*`); Envoy picks the most specific one
// and the translator lets less specific hosts' routes follow, so a request that no path of its host
// matches still reaches the rules without host and then the defaultBackend.
import type { HttpListenerIR, HttpRouteIR, ProxyIR, RouteActionIR } from '../ir/model.js';
import type { BackendResolver } from '../gateway/backends.js';
import type { ObjectStatus } from '../gateway/conditions.js';
import { compareHostSpecificity } from '../gateway/hostnames.js';
import { compareRouteAge } from '../gateway/grpcroute.js';
import { socketName } from '../gateway/listeners.js';
import type { Inputs } from '../sources/kinds.js';
import type { ManifestProblem } from '../sources/manifests.js';
import { assignDedicatedAddresses } from './addresses.js';
import { parseAnnotations, type IngressAnnotations } from './annotations.js';
import { IngressBackends } from './backends.js';
import { selectWeftIngresses, type Ingress } from './classes.js';
import type { IngressOptions, LoadBalancerMode } from './options.js';
import { compareIngressRoutes, matchKey, pathMatch, wildcardAuthorityMatch, type RankedIngressRoute } from './paths.js';
import { socketsOverlap, type TakenSocket } from './sockets.js';
import { validateIngress } from './validate.js';

export interface IngressTranslation {
  listeners: HttpListenerIR[];
  statuses: ObjectStatus[];
  problems: ManifestProblem[];
}

interface IngressPlan {
  ing: Ingress;
  key: string;
  mode: LoadBalancerMode;
  annotations: IngressAnnotations;
  address?: string;
  /** host ('*' for none) → routes */
  routes: Map<string, RankedIngressRoute[]>;
  defaultRoute?: RankedIngressRoute;
  /** Sockets the Ingress is served on. */
  served: Set<string>;
}

interface SocketPlan {
  name: string;
  address: string;
  port: number;
  plans: IngressPlan[];
}

function describe(ing: Ingress): string {
  return `Ingress ${ing.metadata.namespace}/${ing.metadata.name}`;
}

export function translateIngresses(inputs: Inputs, options: IngressOptions, resolver: BackendResolver, taken: TakenSocket[] = []): IngressTranslation {
  const problems: ManifestProblem[] = [];
  const problem = (ing: Ingress, field: string | undefined, message: string): void => {
    problems.push({ source: ing.source, object: describe(ing), ...(field ? { field } : {}), message });
  };
  const selection = selectWeftIngresses(inputs);
  problems.push(...selection.problems);
  const backends = new IngressBackends(inputs, resolver);

  const plans: IngressPlan[] = [];
  for (const ing of [...selection.ours].sort((a, b) => compareRouteAge(a.metadata, b.metadata))) {
    const invalid = validateIngress(ing);
    if (invalid.length > 0) {
      for (const p of invalid) problem(ing, p.field, p.message.endsWith('ignored') ? p.message : `${p.message}; the Ingress is not served`);
      continue;
    }
    const { parsed, problems: annotationProblems } = parseAnnotations(ing.metadata.annotations);
    for (const p of annotationProblems) problem(ing, p.field, p.message);
    const plan: IngressPlan = {
      ing,
      key: `${ing.metadata.namespace}/${ing.metadata.name}`,
      mode: parsed.mode ?? options.defaultMode,
      annotations: parsed,
      routes: new Map(),
      served: new Set(),
    };
    planRoutes(plan, backends, problem);
    plans.push(plan);
  }

  assignAddresses(plans, options, taken, problem);

  const sockets = new Map<string, SocketPlan>();
  for (const plan of plans) {
    if (!plan.address) continue;
    const name = socketName(plan.address, options.httpPort);
    const socket = sockets.get(name) ?? { name, address: plan.address, port: options.httpPort, plans: [] };
    sockets.set(name, socket);
    socket.plans.push(plan);
  }

  const listeners: HttpListenerIR[] = [];
  for (const socket of sockets.values()) {
    const owner = taken.find((t) => socketsOverlap(t, socket));
    if (owner) {
      for (const plan of socket.plans) {
        problem(plan.ing, undefined, `${socket.name} is also a listener of ${owner.owner}; Gateways keep their sockets, so this Ingress is not served there (give the Gateway other spec.addresses, or move Ingresses with --ingress-address / --ingress-http-port)`);
      }
      continue;
    }
    const listener = buildListener(socket, problem);
    if (listener) listeners.push(listener);
  }
  listeners.sort((a, b) => a.name.localeCompare(b.name));

  const statuses = plans
    .map((plan) => ingressStatus(plan, options))
    .sort((a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name));
  // In file order, as a reader goes through the manifests (stable: one object's problems keep their order).
  problems.sort((a, b) => a.source.file.localeCompare(b.source.file) || a.source.line - b.source.line);
  return { listeners, statuses, problems };
}

type ProblemSink = (ing: Ingress, field: string | undefined, message: string) => void;

/** The routes of one Ingress, by host; paths that cannot be served are reported and left out. */
function planRoutes(plan: IngressPlan, backends: IngressBackends, problem: ProblemSink): void {
  const { ing } = plan;
  const namespace = ing.metadata.namespace ?? 'default';
  const timeout = plan.annotations.requestTimeoutMs;
  const action = (backend: Parameters<IngressBackends['resolve']>[1], field: string): RouteActionIR | undefined => {
    const r = backends.resolve(namespace, backend);
    if ('unsupported' in r) {
      problem(ing, `${field}.resource`, r.unsupported);
      return undefined;
    }
    if ('unavailable' in r) {
      problem(ing, `${field}.service`, `${r.unavailable}; requests for it get 503`);
      return { kind: 'direct', status: 503 };
    }
    return { kind: 'forward', backends: [{ weight: 1, cluster: r.cluster }] };
  };
  const base = { creationTimestamp: ing.metadata.creationTimestamp ?? '', objectKey: plan.key };
  (ing.spec?.rules ?? []).forEach((rule, ruleIndex) => {
    const host = rule.host || '*';
    (rule.http?.paths ?? []).forEach((p, pathIndex) => {
      const field = `spec.rules[${ruleIndex}].http.paths[${pathIndex}]`;
      const m = pathMatch(p.pathType, p.path);
      if ('problem' in m) {
        problem(ing, `${field}.path`, `${m.problem}; this path is not served`);
        return;
      }
      const a = action(p.backend, `${field}.backend`);
      if (!a) return;
      const route: HttpRouteIR = {
        name: `ingress/${plan.key}/rule/${ruleIndex}/path/${pathIndex}`,
        match: { path: m.match, headers: host.startsWith('*.') ? [wildcardAuthorityMatch(host)] : [], queryParams: [] },
        action: a,
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      };
      const list = plan.routes.get(host) ?? [];
      plan.routes.set(host, list);
      list.push({ ...base, route, isDefault: false, ruleIndex, pathIndex, field });
    });
  });
  const def = ing.spec?.defaultBackend;
  if (def) {
    const a = action(def, 'spec.defaultBackend');
    if (a) {
      const route: HttpRouteIR = {
        name: `ingress/${plan.key}/default-backend`,
        match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
        action: a,
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      };
      plan.defaultRoute = { ...base, route, isDefault: true, ruleIndex: -1, pathIndex: -1, field: 'spec.defaultBackend' };
    }
  }
}

/** Shared Ingresses take the shared address; dedicated ones one of the pool, avoiding addresses Gateways use on the Ingress ports. */
function assignAddresses(plans: IngressPlan[], options: IngressOptions, taken: TakenSocket[], problem: ProblemSink): void {
  const excluded = new Set<string>([options.sharedAddress]);
  for (const t of taken) if (t.port === options.httpPort || t.port === options.httpsPort) excluded.add(t.address);
  const dedicated = plans.filter((p) => p.mode === 'dedicated');
  const assigned = assignDedicatedAddresses(dedicated.map((p) => ({ key: p.key })), options.dedicatedPool, excluded);
  for (const plan of plans) {
    if (plan.mode === 'shared') plan.address = options.sharedAddress;
    else plan.address = assigned.get(plan.key);
    if (!plan.address) problem(plan.ing, undefined, `dedicated mode: no free address left in the pool ${options.dedicatedPool}; the Ingress is not served`);
  }
}

function buildListener(socket: SocketPlan, problem: ProblemSink): HttpListenerIR | undefined {
  const hosts = new Map<string, RankedIngressRoute[]>();
  for (const plan of socket.plans) {
    for (const [host, routes] of plan.routes) hosts.set(host, [...(hosts.get(host) ?? []), ...routes]);
  }
  // One defaultBackend per socket: on a shared one, the oldest Ingress's.
  const defaults = socket.plans.filter((p) => p.defaultRoute);
  if (defaults.length > 0) {
    const [winner, ...others] = defaults;
    hosts.set('*', [...(hosts.get('*') ?? []), winner.defaultRoute!]);
    for (const other of others) {
      problem(other.ing, 'spec.defaultBackend', `${socket.name} already has the defaultBackend of ${describe(winner.ing)} (the oldest Ingress sharing it wins); this one is not used`);
    }
  }
  const byPlan = new Map(socket.plans.map((p) => [p.key, p]));
  const listener: HttpListenerIR = { name: socket.name, address: socket.address, port: socket.port, virtualHosts: [] };
  for (const host of [...hosts.keys()].sort(compareHostSpecificity)) {
    const ranked = hosts.get(host)!.sort(compareIngressRoutes);
    reportShadowed(ranked, host, byPlan, problem);
    listener.virtualHosts.push({ name: `${socket.name}/${host}`, hostname: host, routes: ranked.map((r) => r.route) });
    for (const r of ranked) byPlan.get(r.objectKey)?.served.add(socket.name);
  }
  return listener.virtualHosts.length > 0 ? listener : undefined;
}

/** A path that another one on the same host always wins over (the same type and path) is reported. */
function reportShadowed(ranked: RankedIngressRoute[], host: string, byPlan: Map<string, IngressPlan>, problem: ProblemSink): void {
  const first = new Map<string, RankedIngressRoute>();
  for (const r of ranked) {
    if (r.isDefault) continue;
    const key = matchKey(r.route.match.path);
    const winner = first.get(key);
    if (!winner) {
      first.set(key, r);
      continue;
    }
    const ing = byPlan.get(r.objectKey)?.ing;
    if (!ing) continue;
    const by = winner.objectKey === r.objectKey ? winner.field : `Ingress ${winner.objectKey} (${winner.field}), which is older`;
    problem(ing, `${r.field}.path`, `the same path on host ${host} is also defined by ${by} and takes precedence; this path is never used`);
  }
}

function ingressStatus(plan: IngressPlan, options: IngressOptions): ObjectStatus {
  const { ing } = plan;
  const served = plan.address !== undefined && plan.served.size > 0;
  return {
    kind: 'Ingress',
    namespace: ing.metadata.namespace,
    name: ing.metadata.name,
    source: ing.source,
    status: { loadBalancer: served ? { ingress: [{ ip: plan.address, ports: [{ port: options.httpPort, protocol: 'TCP' }] }] } : {} },
  };
}

/** Ingress listeners added to the Gateway API IR (they never share a socket: see translateIngresses). */
export function withIngressListeners(ir: ProxyIR, listeners: HttpListenerIR[]): ProxyIR {
  return { ...ir, httpListeners: [...ir.httpListeners, ...listeners].sort((a, b) => a.name.localeCompare(b.name)) };
}
