// Which address each of Weft's Gateways gets in Kubernetes mode, from the operator's pool and what the Gateways'
// statuses show now (so the operator and every node agent, reading the same objects, agree).
import { CONTROLLER_NAME } from '../gateway/conditions.js';
import type { GatewayAddressFor } from '../gateway/listeners.js';
import type { Manifest } from '../sources/manifests.js';
import { assignAddresses, gatewayKey, type AddressRange, type GatewayRef } from './address-pool.js';
import type { KubeObject } from './informers.js';

interface GatewaySpec { gatewayClassName?: string; addresses?: Array<{ type?: string; value?: string }> }

/** Gateways of Weft's classes that ask for an address, oldest first. */
export function gatewaysWantingAddresses(manifests: Manifest[]): Array<GatewayRef & { created: string }> {
  const ourClasses = new Set(manifests
    .filter((m) => m.kind === 'GatewayClass' && (m.spec as { controllerName?: string } | undefined)?.controllerName === CONTROLLER_NAME)
    .map((m) => m.metadata.name));
  return manifests
    .filter((m) => m.kind === 'Gateway')
    .filter((m) => {
      const spec = (m.spec ?? {}) as GatewaySpec;
      if (!ourClasses.has(spec.gatewayClassName ?? '')) return false;
      const requested = spec.addresses ?? [];
      return requested.length === 0 || requested.some((a) => (a.type ?? 'IPAddress') === 'IPAddress' && !a.value);
    })
    .map((m) => ({ ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}), name: m.metadata.name, created: m.metadata.creationTimestamp ?? '' }))
    .sort((a, b) => a.created.localeCompare(b.created) || gatewayKey(a).localeCompare(gatewayKey(b)));
}

/** The first IPAddress in a live Gateway's status.addresses. */
export function statusAddress(live: KubeObject | undefined): string | undefined {
  const addresses = (live?.status as { addresses?: Array<{ type?: string; value?: string }> } | undefined)?.addresses ?? [];
  return addresses.find((a) => (a.type ?? 'IPAddress') === 'IPAddress')?.value;
}

export function gatewayAddressesFor(manifests: Manifest[], pool: AddressRange | undefined,
  live: (namespace: string | undefined, name: string) => KubeObject | undefined): GatewayAddressFor {
  if (!pool) return () => undefined;
  const wanting = gatewaysWantingAddresses(manifests);
  const current = new Map<string, string>();
  for (const g of wanting) {
    const ip = statusAddress(live(g.namespace, g.name));
    if (ip) current.set(gatewayKey(g), ip);
  }
  const assigned = assignAddresses(pool, wanting, current);
  return (g) => assigned.get(gatewayKey(g));
}
