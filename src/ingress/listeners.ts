// The listeners of one Ingress address: the HTTP socket (hosts as virtual hosts, redirects to HTTPS for
// the TLS hosts that ask for it) and the HTTPS socket (SNI chains, and the routes of the hosts its
// certificates cover).
import type { HttpListenerIR, HttpRouteIR, TlsChainIR, VirtualHostIR } from '../ir/model.js';
import { compareHostSpecificity } from '../gateway/hostnames.js';
import { compareIngressRoutes, matchKey, wildcardAuthorityMatch, type RankedIngressRoute } from './paths.js';
import { describe, type IngressPlan, type ProblemSink } from './plan.js';
import { buildChains, tlsHostCovers, type SniClaim } from './tls.js';

export interface Socket {
  name: string;
  address: string;
  port: number;
}

/** host → routes in precedence order, for the Ingresses of one address (one defaultBackend: the oldest's). */
export function collectHosts(group: IngressPlan[], socket: string, problem: ProblemSink): Map<string, RankedIngressRoute[]> {
  const hosts = new Map<string, RankedIngressRoute[]>();
  for (const plan of group) {
    for (const [host, routes] of plan.routes) hosts.set(host, [...(hosts.get(host) ?? []), ...routes]);
  }
  const defaults = group.filter((p) => p.defaultRoute);
  if (defaults.length > 0) {
    const [winner, ...others] = defaults;
    hosts.set('*', [...(hosts.get('*') ?? []), winner.defaultRoute!]);
    for (const other of others) {
      problem(other.ing, 'spec.defaultBackend', `${socket} already has the defaultBackend of ${describe(winner.ing)} (the oldest Ingress sharing it wins); this one is not used`);
    }
  }
  const byKey = new Map(group.map((p) => [p.key, p]));
  for (const [host, ranked] of hosts) {
    ranked.sort(compareIngressRoutes);
    reportShadowed(ranked, host, byKey, problem);
  }
  return hosts;
}

export function allRoutes(hosts: Map<string, RankedIngressRoute[]>): RankedIngressRoute[] {
  return [...hosts.values()].flat();
}

/** A path that another one on the same host always wins over (the same type and path) is reported. */
function reportShadowed(ranked: RankedIngressRoute[], host: string, byKey: Map<string, IngressPlan>, problem: ProblemSink): void {
  const first = new Map<string, RankedIngressRoute>();
  for (const r of ranked) {
    if (r.isDefault) continue;
    const key = matchKey(r.route.match.path);
    const winner = first.get(key);
    if (!winner) {
      first.set(key, r);
      continue;
    }
    const ing = byKey.get(r.objectKey)?.ing;
    if (!ing) continue;
    const by = winner.objectKey === r.objectKey ? winner.field : `Ingress ${winner.objectKey} (${winner.field}), which is older`;
    problem(ing, `${r.field}.path`, `the same path on host ${host} is also defined by ${by} and takes precedence; this path is never used`);
  }
}

/** Certificates and passthrough routes of one address as SNI chains; a name claimed twice goes to the first claim. */
export function buildTls(group: IngressPlan[], problem: ProblemSink): { chains: TlsChainIR[]; winners: SniClaim[] } | undefined {
  const claims: SniClaim[] = [];
  for (const plan of group) {
    for (const entry of plan.tls) {
      for (const serverName of entry.hosts.length ? entry.hosts : ['']) claims.push({ serverName, owner: plan.key, field: entry.field, terminate: entry.certificate });
    }
    for (const p of plan.passthrough) claims.push({ serverName: p.host, owner: plan.key, field: p.field, passthrough: p.backends });
  }
  if (claims.length === 0) return undefined;
  const byKey = new Map(group.map((p) => [p.key, p]));
  return buildChains(claims, (lost, winner) => {
    const name = lost.serverName === '' ? 'the default certificate' : `TLS host ${lost.serverName}`;
    const by = winner.owner === lost.owner ? winner.field : `Ingress ${winner.owner} (${winner.field}), which is older`;
    problem(byKey.get(lost.owner)!.ing, lost.field, `${name} on this address is already claimed by ${by}; this claim is not used`);
  });
}

/** TLS hosts ('' for all) whose plain HTTP requests redirect: a winning certificate of an Ingress with force-https on. */
export function redirectHosts(group: IngressPlan[], winners: SniClaim[]): string[] {
  const forcing = new Set(group.filter((p) => p.forceHttps).map((p) => p.key));
  return winners.filter((w) => w.terminate && forcing.has(w.owner)).map((w) => w.serverName);
}

function redirectRoute(host: string, httpsPort: number): HttpRouteIR {
  return {
    name: `ingress/https-redirect/${host}`,
    match: { path: { type: 'PathPrefix', value: '/' }, headers: host.startsWith('*.') ? [wildcardAuthorityMatch(host)] : [], queryParams: [] },
    // 301 as Cilium's force-https; the port only when it is not HTTPS's default.
    action: { kind: 'redirect', redirect: { scheme: 'https', ...(httpsPort !== 443 ? { port: httpsPort } : {}), statusCode: 301 } },
  };
}

export function httpListener(socket: Socket, hosts: Map<string, RankedIngressRoute[]>, redirects: string[], httpsPort: number): HttpListenerIR | undefined {
  const names = new Set([...hosts.keys(), ...redirects.filter((h) => h !== '')]);
  const virtualHosts: VirtualHostIR[] = [];
  for (const host of [...names].sort(compareHostSpecificity)) {
    const routes = (hosts.get(host) ?? []).map((r) => r.route);
    // A host a redirecting certificate covers sends everything to HTTPS, whatever the path.
    if (redirects.some((t) => tlsHostCovers(t, host))) routes.unshift(redirectRoute(host, httpsPort));
    virtualHosts.push({ name: `${socket.name}/${host}`, hostname: host, routes });
  }
  return virtualHosts.length > 0 ? { ...socket, virtualHosts } : undefined;
}

/** Whether virtual host `general` (`*`, `*.suffix`) is less specific than `host` and covers it (any number of labels). */
function hostFallsThrough(general: string, host: string): boolean {
  if (general === host) return false;
  if (general === '*') return true;
  return general.startsWith('*.') && host.endsWith(general.slice(1)) && host.length > general.length - 1;
}

/**
 * The HTTPS socket's virtual hosts: the hosts its certificates cover (and the TLS hosts themselves),
 * each with its own routes followed by those of the less specific hosts, as on HTTP. Hosts no
 * certificate covers are not served over HTTPS.
 */
export function httpsVirtualHosts(socket: string, hosts: Map<string, RankedIngressRoute[]>, winners: SniClaim[]): VirtualHostIR[] {
  const tlsHosts = winners.filter((w) => w.terminate).map((w) => w.serverName);
  const names = new Set([...[...hosts.keys()].filter((h) => tlsHosts.some((t) => tlsHostCovers(t, h))), ...tlsHosts.filter((t) => t !== '')]);
  const out: VirtualHostIR[] = [];
  for (const host of [...names].sort(compareHostSpecificity)) {
    const routes = new Map<string, HttpRouteIR>();
    for (const r of hosts.get(host) ?? []) routes.set(r.route.name, r.route);
    for (const general of [...hosts.keys()].filter((g) => hostFallsThrough(g, host)).sort(compareHostSpecificity)) {
      for (const r of hosts.get(general)!) if (!routes.has(r.route.name)) routes.set(r.route.name, r.route);
    }
    out.push({ name: `${socket}/${host}`, hostname: host, routes: [...routes.values()] });
  }
  return out;
}
