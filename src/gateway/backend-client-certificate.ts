// Gateway `spec.tls.backend.clientCertificateRef` (GatewayBackendClientCertificate): the routes of a Gateway that
// names a client certificate reach their TLS backends (BackendTLSPolicy) through clusters that present it. Other
// Gateways may route to the same Services without one, so these clusters are variants with names of their own.
import type { ClusterIR, HttpRouteIR, TlsCertificateIR, WeightedBackendIR } from '../ir/model.js';
import type { RankedRoute } from './httproute.js';

/** Rewrites routes for one client certificate, each route object once (so it stays one object across hosts). */
export class BackendClientCertificates {
  private readonly variants = new Map<string, WeakMap<HttpRouteIR, HttpRouteIR>>();

  apply(ranked: RankedRoute[], certificate: TlsCertificateIR | undefined): RankedRoute[] {
    if (!certificate) return ranked;
    let byRoute = this.variants.get(certificate.name);
    if (!byRoute) this.variants.set(certificate.name, (byRoute = new WeakMap()));
    const memo = byRoute;
    return ranked.map((r) => {
      let route = memo.get(r.route);
      if (!route) memo.set(r.route, (route = withClientCertificate(r.route, certificate)));
      return route === r.route ? r : { ...r, route };
    });
  }
}

function withClientCertificate(route: HttpRouteIR, certificate: TlsCertificateIR): HttpRouteIR {
  const cluster = (c: ClusterIR): ClusterIR => (c.tls ? { ...c, name: `${c.name}/client-certificate/${certificate.name}`, tls: { ...c.tls, clientCertificate: certificate } } : c);
  const backend = (b: WeightedBackendIR): WeightedBackendIR => (b.cluster?.tls ? { ...b, cluster: cluster(b.cluster) } : b);
  const usesTls = (route.action.kind === 'forward' && route.action.backends.some((b) => b.cluster?.tls)) || (route.mirrors ?? []).some((m) => m.cluster.tls);
  if (!usesTls) return route;
  return {
    ...route,
    ...(route.action.kind === 'forward' ? { action: { ...route.action, backends: route.action.backends.map(backend) } } : {}),
    ...(route.mirrors ? { mirrors: route.mirrors.map((m) => ({ ...m, cluster: cluster(m.cluster) })) } : {}),
  };
}
