// Addresses of dedicated-mode Ingresses: each takes one of the pool, chosen by a hash of its
// namespace/name so that it keeps its address when other Ingresses come and go (a collision moves the
// younger Ingress to the next free address). A pure function of the set of Ingresses.
import { createHash } from 'node:crypto';
import { numberToIpv4, parseCidr } from './options.js';

export interface AddressRequest {
  /** namespace/name */
  key: string;
}

/**
 * Assigns addresses in the order given (oldest Ingress first); the pool's first and last addresses
 * (network and broadcast) and `excluded` ones are never handed out. An Ingress that finds the pool full
 * gets none.
 */
export function assignDedicatedAddresses(requests: AddressRequest[], pool: string, excluded: Set<string>): Map<string, string> {
  const { base, size } = parseCidr(pool);
  const usable = size - 2;
  const taken = new Set<string>(excluded);
  const out = new Map<string, string>();
  for (const r of requests) {
    const start = createHash('sha256').update(r.key).digest().readUInt32BE(0) % usable;
    for (let i = 0; i < usable; i++) {
      const address = numberToIpv4(base + 1 + ((start + i) % usable));
      if (taken.has(address)) continue;
      taken.add(address);
      out.set(r.key, address);
      break;
    }
  }
  return out;
}
