// Ingress (networking.k8s.io/v1) → IR listeners + statuses + problems: a pure function of the inputs
// (and of the time, through certificate validity).
//
// Every Weft Ingress has an address: the shared one (shared mode, the default) or one of its own from
// the dedicated pool (dedicated mode). Each address has an HTTP socket and, when an Ingress there has
// usable TLS, an HTTPS socket. On the HTTP socket each host is a virtual host (rules without host and
// the defaultBackend go to `*`); Envoy picks the most specific one and the xDS translator lets less
// specific hosts' routes follow, so a request that no path of its host matches still reaches the rules
// without host, then the defaultBackend. The HTTPS socket serves the same routes for the hosts its
// certificates cover, each certificate chosen by SNI; HTTP requests for those hosts redirect to HTTPS
// unless the Ingress whose certificate serves the host turns force-https off (see listeners.ts).
import type { HttpListenerIR, HttpRouteIR, ProxyIR, RouteActionIR } from '../ir/model.js';
import type { BackendResolver } from '../gateway/backends.js';
import type { ObjectStatus } from '../gateway/conditions.js';
import { compareRouteAge } from '../gateway/grpcroute.js';
import { socketName } from '../gateway/listeners.js';
import type { Inputs } from '../sources/kinds.js';
import type { ManifestProblem } from '../sources/manifests.js';
import { assignDedicatedAddresses } from './addresses.js';
import { ANNOTATIONS, annotationField, parseAnnotations } from './annotations.js';
import { IngressBackends } from './backends.js';
import { selectWeftIngresses } from './classes.js';
import { allRoutes, buildTls, collectHosts, httpListener, httpsVirtualHosts, redirectHosts } from './listeners.js';
import type { IngressOptions } from './options.js';
import { pathMatch, wildcardAuthorityMatch } from './paths.js';
import { describe, type IngressPlan, type ProblemSink } from './plan.js';
import { socketsOverlap, type TakenSocket } from './sockets.js';
import { IngressSecrets } from './tls.js';
import { validateIngress } from './validate.js';

export interface IngressTranslation {
  listeners: HttpListenerIR[];
  statuses: ObjectStatus[];
  problems: ManifestProblem[];
}

export function translateIngresses(inputs: Inputs, options: IngressOptions, resolver: BackendResolver, taken: TakenSocket[] = []): IngressTranslation {
  const problems: ManifestProblem[] = [];
  const problem: ProblemSink = (ing, field, message) => {
    problems.push({ source: ing.source, object: describe(ing), ...(field ? { field } : {}), message });
  };
  const selection = selectWeftIngresses(inputs);
  problems.push(...selection.problems);
  const backends = new IngressBackends(inputs, resolver);
  const secrets = new IngressSecrets(inputs);

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
      forceHttps: parsed.forceHttps ?? options.enforceHttps,
      routes: new Map(),
      tls: [],
      passthrough: [],
      servedHttp: false,
      servedHttps: false,
    };
    if (parsed.tlsPassthrough) planPassthrough(plan, backends, problem);
    else {
      planRoutes(plan, backends, problem);
      plan.tls = secrets.entries(ing, (field, message) => problem(ing, field, message));
    }
    plans.push(plan);
  }

  assignAddresses(plans, options, taken, problem);

  const byAddress = new Map<string, IngressPlan[]>();
  for (const plan of plans) if (plan.address) byAddress.set(plan.address, [...(byAddress.get(plan.address) ?? []), plan]);

  const listeners: HttpListenerIR[] = [];
  for (const [address, group] of byAddress) {
    const http = { name: socketName(address, options.httpPort), address, port: options.httpPort };
    const https = { name: socketName(address, options.httpsPort), address, port: options.httpsPort };
    const httpOwner = taken.find((t) => socketsOverlap(t, http));
    const httpsOwner = taken.find((t) => socketsOverlap(t, https));
    for (const [socket, owner] of [[http, httpOwner], [https, httpsOwner]] as const) {
      if (!owner) continue;
      for (const plan of group) {
        problem(plan.ing, undefined, `${socket.name} is also a listener of ${owner.owner}; Gateways keep their sockets, so this Ingress is not served there (give the Gateway other spec.addresses, or move Ingresses with --ingress-address / --ingress-http-port / --ingress-https-port)`);
      }
    }
    const hosts = collectHosts(group, http.name, problem);
    const tls = httpsOwner ? undefined : buildTls(group, problem);
    const redirects = tls ? redirectHosts(group, tls.winners) : [];
    if (!httpOwner) {
      const listener = httpListener(http, hosts, redirects, options.httpsPort);
      if (listener) {
        listeners.push(listener);
        for (const r of allRoutes(hosts)) group.find((p) => p.key === r.objectKey)!.servedHttp = true;
      }
    }
    if (tls && tls.chains.length > 0) {
      listeners.push({ ...https, virtualHosts: httpsVirtualHosts(https.name, hosts, tls.winners), tls: { chains: tls.chains } });
      for (const w of tls.winners) group.find((p) => p.key === w.owner)!.servedHttps = true;
    }
  }
  listeners.sort((a, b) => a.name.localeCompare(b.name));

  const statuses = plans
    .map((plan) => ingressStatus(plan, options))
    .sort((a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name));
  // In file order, as a reader goes through the manifests (stable: one object's problems keep their order).
  problems.sort((a, b) => a.source.file.localeCompare(b.source.file) || a.source.line - b.source.line);
  return { listeners, statuses, problems };
}

function resolveAction(plan: IngressPlan, backends: IngressBackends, problem: ProblemSink, backend: Parameters<IngressBackends['resolve']>[1], field: string): RouteActionIR | undefined {
  const r = backends.resolve(plan.ing.metadata.namespace ?? 'default', backend);
  if ('unsupported' in r) {
    problem(plan.ing, `${field}.resource`, r.unsupported);
    return undefined;
  }
  if ('unavailable' in r) {
    problem(plan.ing, `${field}.service`, `${r.unavailable}; requests for it get 503`);
    return { kind: 'direct', status: 503 };
  }
  return { kind: 'forward', backends: [{ weight: 1, cluster: r.cluster }] };
}

/** The routes of one Ingress, by host; paths that cannot be served are reported and left out. */
function planRoutes(plan: IngressPlan, backends: IngressBackends, problem: ProblemSink): void {
  const { ing } = plan;
  const timeout = plan.annotations.requestTimeoutMs;
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
      const action = resolveAction(plan, backends, problem, p.backend, `${field}.backend`);
      if (!action) return;
      const route: HttpRouteIR = {
        name: `ingress/${plan.key}/rule/${ruleIndex}/path/${pathIndex}`,
        match: { path: m.match, headers: host.startsWith('*.') ? [wildcardAuthorityMatch(host)] : [], queryParams: [] },
        action,
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      };
      const list = plan.routes.get(host) ?? [];
      plan.routes.set(host, list);
      list.push({ ...base, route, isDefault: false, ruleIndex, pathIndex, field });
    });
  });
  const def = ing.spec?.defaultBackend;
  if (def) {
    const action = resolveAction(plan, backends, problem, def, 'spec.defaultBackend');
    if (action) {
      const route: HttpRouteIR = {
        name: `ingress/${plan.key}/default-backend`,
        match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
        action,
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      };
      plan.defaultRoute = { ...base, route, isDefault: true, ruleIndex: -1, pathIndex: -1, field: 'spec.defaultBackend' };
    }
  }
}

/**
 * tls-passthrough (as Cilium defines it): each rule with a host sends the TLS connections whose SNI is
 * that host to the backend of its "/" path; no HTTP is served. Rules without host, other paths and the
 * defaultBackend cannot be served this way and are reported.
 */
function planPassthrough(plan: IngressPlan, backends: IngressBackends, problem: ProblemSink): void {
  const { ing } = plan;
  const why = `cannot be served with ${annotationField(ANNOTATIONS.tlsPassthrough)} enabled`;
  if (ing.spec?.defaultBackend) problem(ing, 'spec.defaultBackend', `${why} (TLS passthrough routes by SNI host only); ignored`);
  if (ing.spec?.tls?.length) problem(ing, 'spec.tls', `ignored with TLS passthrough: the backends terminate TLS with their own certificates`);
  (ing.spec?.rules ?? []).forEach((rule, ruleIndex) => {
    if (!rule.host) {
      problem(ing, `spec.rules[${ruleIndex}].host`, `required: a rule without host ${why}; ignored`);
      return;
    }
    (rule.http?.paths ?? []).forEach((p, pathIndex) => {
      const field = `spec.rules[${ruleIndex}].http.paths[${pathIndex}]`;
      if (p.path !== '/') {
        problem(ing, `${field}.path`, `"${p.path ?? ''}" ${why} (only "/" is: the path is encrypted); ignored`);
        return;
      }
      if (plan.passthrough.some((r) => r.host === rule.host)) {
        problem(ing, field, `host ${rule.host} already has a passthrough backend in this Ingress; ignored`);
        return;
      }
      const action = resolveAction(plan, backends, problem, p.backend, `${field}.backend`);
      if (!action) return;
      // An unavailable Service: connections are refused (a backend without a cluster).
      plan.passthrough.push({ host: rule.host!, field, backends: action.kind === 'forward' ? action.backends : [{ weight: 1 }] });
    });
  });
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

function ingressStatus(plan: IngressPlan, options: IngressOptions): ObjectStatus {
  const { ing } = plan;
  const ports = [...(plan.servedHttp ? [options.httpPort] : []), ...(plan.servedHttps ? [options.httpsPort] : [])];
  return {
    kind: 'Ingress',
    namespace: ing.metadata.namespace,
    name: ing.metadata.name,
    source: ing.source,
    status: { loadBalancer: plan.address && ports.length > 0 ? { ingress: [{ ip: plan.address, ports: ports.map((port) => ({ port, protocol: 'TCP' })) }] } : {} },
  };
}

/** Ingress listeners added to the Gateway API IR (they never share a socket: see translateIngresses). */
export function withIngressListeners(ir: ProxyIR, listeners: HttpListenerIR[]): ProxyIR {
  return { ...ir, httpListeners: [...ir.httpListeners, ...listeners].sort((a, b) => a.name.localeCompare(b.name)) };
}
