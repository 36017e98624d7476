// What the operator generates per Gateway. The node Envoys serve every Gateway, so there is no per-Gateway
// Deployment, Pod or ServiceAccount; what a Gateway does get is a headless Service (no selector, no cluster IP, so
// no datapath entry) named after it, with EndpointSlices listing its addresses and listener ports: an in-cluster
// DNS name for the Gateway (`weft-gateway-<name>.<namespace>.svc`), as Cilium's per-Gateway Service gives one.
// These carry the Gateway's `spec.infrastructure` labels and annotations (the spec: they SHOULD be propagated to
// the resources generated for the Gateway) and the label gateway.networking.k8s.io/gateway-name, and are owned by
// the Gateway (ownerReferences, so the garbage collector removes them with it; the operator also deletes those of
// Gateways that are gone or no longer Weft's).
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { KubeObject } from './informers.js';

export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'weft-operator';
/** Tells Kubernetes' EndpointSlice controllers that these slices are someone else's. */
const SLICE_MANAGED_BY = 'gateway-controller.weft.dev';

interface GatewayLive {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: { infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string> }; listeners?: Array<{ port?: number }> };
}

/** One Gateway of Weft's: the live object (for its uid and spec) and the addresses its status reports. */
export interface GatewayInfrastructureInput {
  gateway: KubeObject;
  addresses: string[];
}

/**
 * `weft-gateway-<name>` when that is a valid Service name (a DNS-1035 label of at most 63 characters); a Gateway
 * name with dots or too long for it gets a shortened name with a hash of the whole name, so two Gateways never share one.
 */
export function gatewayServiceName(gatewayName: string): string {
  const plain = `weft-gateway-${gatewayName}`;
  if (/^[a-z0-9-]+$/.test(gatewayName) && plain.length <= 63 && !plain.endsWith('-')) return plain;
  const hash = createHash('sha256').update(gatewayName).digest('hex').slice(0, 10);
  const stem = gatewayName.replace(/[^a-z0-9-]/g, '-').slice(0, 63 - 'weft-gateway-'.length - hash.length - 1);
  return `weft-gateway-${stem}-${hash}`.replace(/--+/g, '-');
}

/** The Services and EndpointSlices Weft owns for these Gateways, as complete objects (server-side apply bodies). */
export function desiredGatewayInfrastructure(gateways: GatewayInfrastructureInput[]): KubeObject[] {
  return gateways.flatMap(({ gateway, addresses }) => {
    const gw = gateway as GatewayLive;
    const name = gw.metadata?.name ?? '';
    const namespace = gw.metadata?.namespace ?? 'default';
    const infra = gw.spec?.infrastructure ?? {};
    const service = gatewayServiceName(name);
    const labels = { ...infra.labels, [GATEWAY_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const metadata = (objectName: string, extraLabels: Record<string, string> = {}): Record<string, unknown> => ({
      name: objectName,
      namespace,
      labels: { ...labels, ...extraLabels },
      annotations: { ...infra.annotations },
      ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid: gw.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    });
    const ports = [...new Set((gw.spec?.listeners ?? []).map((l) => l.port).filter((p): p is number => typeof p === 'number'))]
      .sort((a, b) => a - b)
      .map((port) => ({ name: `port-${port}`, port, protocol: 'TCP' }));
    const out: KubeObject[] = [{ apiVersion: 'v1', kind: 'Service', metadata: metadata(service), spec: { clusterIP: 'None', ports } }];
    for (const family of ['IPv4', 'IPv6'] as const) {
      const ips = addresses.filter((a) => net.isIP(a) === (family === 'IPv4' ? 4 : 6));
      if (!ips.length) continue;
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: metadata(`${service}-${family.toLowerCase()}`, { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': SLICE_MANAGED_BY }),
        addressType: family,
        ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
        endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      });
    }
    return out;
  });
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
/** Label and annotation maps, whatever their key order (the API server sorts them). */
const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean =>
  same(Object.entries(a ?? {}).sort(), Object.entries(b ?? {}).sort());

interface PortShape { name?: string; port?: number; protocol?: string }
/** The fields of a Service or EndpointSlice that Weft sets. */
interface Generated {
  kind?: string;
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ kind?: string; name?: string; uid?: string; controller?: boolean }> };
  spec?: { clusterIP?: string; ports?: PortShape[] };
  addressType?: string;
  ports?: PortShape[];
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean } }>;
}

const portsOf = (ports: PortShape[] | undefined): unknown => (ports ?? []).map((p) => [p.name, p.port, p.protocol ?? 'TCP']);
const ownersOf = (o: Generated): unknown => (o.metadata?.ownerReferences ?? []).map((r) => [r.kind, r.name, r.uid, r.controller]);

/** Whether the live object already is what `desired` says (the fields Weft sets; the API server's defaults aside). */
export function infrastructureUpToDate(desired: KubeObject, live: KubeObject | undefined): boolean {
  if (!live) return false;
  const d = desired as Generated;
  const l = live as Generated;
  if (!sameMap(d.metadata?.labels, l.metadata?.labels) || !sameMap(d.metadata?.annotations, l.metadata?.annotations) || !same(ownersOf(d), ownersOf(l))) return false;
  if (d.kind === 'Service') return l.spec?.clusterIP === 'None' && same(portsOf(d.spec?.ports), portsOf(l.spec?.ports));
  const endpoints = (o: Generated): unknown => (o.endpoints ?? []).map((e) => [e.addresses, e.conditions?.ready]);
  return d.addressType === l.addressType && same(endpoints(d), endpoints(l)) && same(portsOf(d.ports), portsOf(l.ports));
}

/** Live objects Weft generated (its managed-by and gateway-name labels) that `desired` no longer has: to delete. */
export function staleInfrastructure(desired: KubeObject[], live: KubeObject[]): KubeObject[] {
  const wanted = new Set(desired.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`));
  return live.filter((o) => o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && o.metadata?.labels?.[GATEWAY_NAME_LABEL] !== undefined
    && !wanted.has(`${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`));
}
