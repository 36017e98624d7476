// Sockets Gateways already listen on, and whether an Ingress socket would clash with one. Gateway and
// Ingress listeners never share a socket: each side orders its own routes and hosts by its own spec, and
// two listeners on one address:port would make Envoy refuse the configuration. Gateways keep theirs.
import { isIPv4 } from 'node:net';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { ProxyIR } from '../ir/model.js';
import { DEFAULT_ADDRESS } from '../gateway/listeners.js';
import type { Inputs, Obj } from '../sources/kinds.js';

export interface TakenSocket {
  address: string;
  port: number;
  /** Who listens there, for messages: "Gateway default/gw (listener http)". */
  owner: string;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

/** Same port, and the same address or an unspecified address of the same family (which binds them all). */
export function socketsOverlap(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  if (a.port !== b.port) return false;
  if (a.address === b.address) return true;
  const sameFamily = isIPv4(a.address) === isIPv4(b.address);
  return sameFamily && (UNSPECIFIED.has(a.address) || UNSPECIFIED.has(b.address));
}

function gatewayAddresses(g: Obj<IGateway>): string[] {
  const requested = (g.spec.addresses ?? []).filter((a) => (a.type ?? 'IPAddress') === 'IPAddress');
  return requested.length ? requested.map((a) => a.value || DEFAULT_ADDRESS) : [DEFAULT_ADDRESS];
}

/** The sockets of the Gateway API IR, each named after a Gateway listener that asks for it. */
export function gatewaySockets(ir: ProxyIR, inputs: Pick<Inputs, 'gateways'>): TakenSocket[] {
  return ir.httpListeners.map((l) => {
    let owner = 'a Gateway';
    for (const g of inputs.gateways) {
      const listener = g.spec.listeners.find((gl) => gl.port === l.port);
      if (listener && gatewayAddresses(g).includes(l.address)) {
        owner = `Gateway ${g.metadata.namespace}/${g.metadata.name} (listener ${listener.name})`;
        break;
      }
    }
    return { address: l.address, port: l.port, owner };
  });
}
