// Services: a virtual address and port (ClusterIP, or a NodePort on a node address) → backends.
// A service's backends sit in numbered slots; the datapath picks a slot for each new connection and keeps
// the choice in connection tracking, so existing connections survive changes to the list. Updates write
// only the slots that changed, in an order that never lets the datapath read a slot that is not there.
import type { BpfMap } from './bpf-map.js';
import { backendKey, backendValue, parseAddress, protocolNumber, serviceKey, serviceValue } from './layout.js';

export interface Backend { ip: string; port: number }

export interface Service {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  backends: Backend[];
}

interface Written { id: number; key: Buffer; slots: string[] }

export class ServiceMap {
  private readonly services = new Map<string, Written>();
  private readonly backendIds = new Map<string, number>();
  private nextServiceId = 1;
  private nextBackendId = 1;

  constructor(private readonly servicesMap: BpfMap, private readonly backendsMap: BpfMap) {}

  /** Adds or updates a service; returns the number of map writes. */
  upsert(service: Service): number {
    validate(service);
    const vip = parseAddress(service.vip);
    const key = serviceKey(vip, service.port, protocolNumber(service.protocol, vip.family));
    const name = key.toString('hex');
    const existing = this.services.get(name);
    const id = existing?.id ?? this.nextServiceId++;
    const slots = service.backends.map((b) => `${b.ip}|${b.port}`);
    const old = existing?.slots ?? [];
    let writes = 0;
    // Shrinking: lower the count first, then delete the slots beyond it.
    if (slots.length < old.length) {
      this.servicesMap.update(key, serviceValue(id, slots.length));
      writes++;
    }
    for (let slot = 0; slot < slots.length; slot++) {
      if (old[slot] === slots[slot]) continue;
      const b = service.backends[slot];
      this.backendsMap.update(backendKey(id, slot), backendValue(parseAddress(b.ip), b.port, this.backendId(slots[slot])));
      writes++;
    }
    for (let slot = slots.length; slot < old.length; slot++) {
      this.backendsMap.delete(backendKey(id, slot));
      writes++;
    }
    // Growing (or new): raise the count once every slot below it is written.
    if (slots.length >= old.length && (slots.length !== old.length || !existing)) {
      this.servicesMap.update(key, serviceValue(id, slots.length));
      writes++;
    }
    this.services.set(name, { id, key, slots });
    return writes;
  }

  remove(vip: string, port: number, protocol: 'tcp' | 'udp'): boolean {
    const address = parseAddress(vip);
    const key = serviceKey(address, port, protocolNumber(protocol, address.family));
    const name = key.toString('hex');
    const existing = this.services.get(name);
    if (!existing) return false;
    this.servicesMap.delete(key);
    for (let slot = 0; slot < existing.slots.length; slot++) this.backendsMap.delete(backendKey(existing.id, slot));
    this.services.delete(name);
    return true;
  }

  /** The id the datapath records in connection tracking for a backend. */
  backendId(backend: string): number {
    let id = this.backendIds.get(backend);
    if (id === undefined) {
      id = this.nextBackendId++;
      this.backendIds.set(backend, id);
    }
    return id;
  }

  get size(): number {
    return this.services.size;
  }
}

function validate(s: Service): void {
  const where = `service ${s.vip}:${s.port}/${s.protocol}`;
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new Error(`${where}: port must be 1..65535`);
  for (const b of s.backends) {
    if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65535) throw new Error(`${where}: backend ${b.ip} port must be 1..65535`);
    if (parseAddress(b.ip).family !== parseAddress(s.vip).family) throw new Error(`${where}: backend ${b.ip} is of another address family`);
  }
}
