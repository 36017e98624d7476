// TLSRoute → TLS chains: on a Passthrough listener the connection goes by SNI, still encrypted, to the
// backends (which terminate); on a Terminate listener Envoy terminates with the listener's certificates
// and proxies the decrypted TCP stream. Plus the per-socket assembly of every Gateway listener's chains.
import type { ITLSRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/TLSRoute';
import type { TlsChainIR, WeightedBackendIR } from '../ir/model.js';
import type { Obj } from '../sources/kinds.js';
import type { BackendProblem, BackendResolver } from './backends.js';
import type { ListenerState } from './listeners.js';
import { ruleBackends } from './rule-backends.js';

export interface TranslatedTlsRoute {
  backends: WeightedBackendIR[];
  backendProblem?: BackendProblem;
}

export function translateTlsRoute(route: Obj<ITLSRoute>, backends: BackendResolver): TranslatedTlsRoute {
  const from = { kind: 'TLSRoute', namespace: route.metadata.namespace ?? 'default' };
  let backendProblem: BackendProblem | undefined;
  const out: WeightedBackendIR[] = [];
  for (const rule of route.spec.rules ?? []) {
    out.push(...ruleBackends(rule.backendRefs, (ref) => backends.resolve(from, ref), (p) => (backendProblem ??= p)));
  }
  return { backends: out, backendProblem };
}

/** A TLSRoute placed on a TLS listener with the SNI names it serves there (`*`: any). */
export interface PlacedTlsRoute {
  key: string;
  hostnames: string[];
  backends: WeightedBackendIR[];
}

/** ALPN on HTTPS listeners: HTTP/2 when the client offers it (gRPC needs it), else HTTP/1.1. */
const HTTPS_ALPN = ['h2', 'http/1.1'];

function serverNames(hostnames: string[]): string[] {
  return hostnames.includes('*') ? [] : [...hostnames].sort();
}

/** The chains one Gateway listener contributes to its socket (none if it has nothing to serve). */
export function listenerChains(l: ListenerState, routes: PlacedTlsRoute[]): TlsChainIR[] {
  const tls = l.tls;
  if (!tls) return [];
  const base = l.key;
  const terminate = tls.mode === 'Terminate' ? { certificates: tls.certificates, alpn: l.spec.protocol === 'HTTPS' ? HTTPS_ALPN : [], ...(tls.clientValidation ? { clientValidation: tls.clientValidation } : {}) } : undefined;
  if (l.spec.protocol === 'HTTPS') return [{ name: base, serverNames: l.spec.hostname ? [l.spec.hostname] : [], terminate, listenerHostname: l.spec.hostname ?? '*' }];
  // Passthrough: the client's TLS goes through as is, so a BackendTLSPolicy of the backend cannot apply.
  const backendsOf = (r: PlacedTlsRoute): WeightedBackendIR[] => (terminate ? r.backends : r.backends.map(plainBackend));
  return routes.map((r) => ({ name: `${base}/${r.key}`, serverNames: serverNames(r.hostnames), ...(terminate ? { terminate } : {}), tcpBackends: backendsOf(r) }));
}

function plainBackend(b: WeightedBackendIR): WeightedBackendIR {
  if (!b.cluster?.tls) return b;
  const cluster = { ...b.cluster, name: `${b.cluster.name}/passthrough` };
  delete cluster.tls;
  return { ...b, cluster };
}

/**
 * Envoy rejects a listener whose chains share an SNI name (or two default chains). Gateway listener
 * hostnames are distinct per socket already; TLSRoutes can still overlap (two routes naming one host, or
 * a route naming a host that an HTTPS listener of the socket names): the earlier chain keeps the name
 * (HTTPS listeners first, then routes oldest first), and a chain left with no name is dropped.
 */
export function dedupeServerNames(chains: TlsChainIR[]): TlsChainIR[] {
  const taken = new Set<string>();
  const out: TlsChainIR[] = [];
  for (const c of chains) {
    if (c.serverNames.length === 0) {
      if (taken.has('')) continue;
      taken.add('');
      out.push(c);
      continue;
    }
    const names = c.serverNames.filter((n) => !taken.has(n));
    if (names.length === 0) continue;
    for (const n of names) taken.add(n);
    out.push({ ...c, serverNames: names });
  }
  return out;
}
