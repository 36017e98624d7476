// Host-local address management for one node's pod CIDR. State is one JSON file per network, replaced
// atomically (write to a temporary file, fsync, rename), so a crash leaves either the old or the new state.
// Callers serialise access (bin/weft-cni holds a flock for the plugin's whole run).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CniError, CNI_ERRORS } from './errors.js';
import { formatAddress, parseCidr } from '../layout.js';

export interface Allocation { containerId: string; ifname: string }

interface State { allocations: Record<string, Allocation> }

export class HostLocalIpam {
  private readonly file: string;
  private readonly base: bigint;
  private readonly size: bigint;
  private readonly family: number;
  readonly prefixLen: number;

  constructor(dataDir: string, network: string, readonly cidr: string) {
    const c = parseCidr(cidr);
    this.family = c.address.family;
    this.prefixLen = c.prefixLen;
    const bits = c.address.family === 2 ? 32 : 128;
    this.base = toBig(c.address.bytes, bits);
    this.size = 1n << BigInt(bits - c.prefixLen);
    if (this.size < 4n) throw new CniError(CNI_ERRORS.invalidNetworkConfig, `podCIDR ${cidr} is too small`, 'it needs room for the network, gateway and broadcast addresses and a pod');
    this.file = path.join(dataDir, network, `${c.address.family === 2 ? 'ipv4' : 'ipv6'}.json`);
  }

  /** The gateway: the first address of the CIDR (pods route through it; the node holds it). */
  get gateway(): string {
    return this.addressAt(1n);
  }

  /** The container's address: its existing allocation (ADD is idempotent) or the lowest free one. */
  allocate(owner: Allocation): string {
    const state = this.read();
    const existing = this.find(state, owner);
    if (existing) return existing;
    // Skip the network address, the gateway and (IPv4) the broadcast address.
    const last = this.family === 2 ? this.size - 2n : this.size - 1n;
    for (let i = 2n; i <= last; i++) {
      const ip = this.addressAt(i);
      if (!state.allocations[ip]) {
        state.allocations[ip] = owner;
        this.write(state);
        return ip;
      }
    }
    throw new CniError(CNI_ERRORS.addressesExhausted, `no free address in ${this.cidr}`, `${Object.keys(state.allocations).length} addresses allocated`);
  }

  /** Releases the container's address; returns it, or undefined when it had none (DEL is idempotent). */
  release(owner: Allocation): string | undefined {
    const state = this.read();
    const ip = this.find(state, owner);
    if (!ip) return undefined;
    delete state.allocations[ip];
    this.write(state);
    return ip;
  }

  lookup(owner: Allocation): string | undefined {
    return this.find(this.read(), owner);
  }

  /** Releases every allocation whose owner is not in `valid`; returns the released addresses. */
  retain(valid: Allocation[]): string[] {
    const state = this.read();
    const keep = new Set(valid.map((a) => `${a.containerId}/${a.ifname}`));
    const released = Object.entries(state.allocations).filter(([, a]) => !keep.has(`${a.containerId}/${a.ifname}`)).map(([ip]) => ip);
    if (released.length === 0) return [];
    for (const ip of released) delete state.allocations[ip];
    this.write(state);
    return released;
  }

  allocations(): Record<string, Allocation> {
    return this.read().allocations;
  }

  private find(state: State, owner: Allocation): string | undefined {
    return Object.entries(state.allocations).find(([, a]) => a.containerId === owner.containerId && a.ifname === owner.ifname)?.[0];
  }

  private addressAt(offset: bigint): string {
    const bits = this.family === 2 ? 32 : 128;
    return formatAddress(this.family, fromBig(this.base + offset, bits));
  }

  private read(): State {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { allocations: {} };
      throw new CniError(CNI_ERRORS.ioFailure, `cannot read IPAM state ${this.file}`, String(err));
    }
    try {
      const state = JSON.parse(text) as State;
      if (typeof state.allocations !== 'object' || state.allocations === null) throw new Error('no "allocations" object');
      return state;
    } catch (err) {
      throw new CniError(CNI_ERRORS.decodeFailure, `IPAM state ${this.file} is corrupt`, String(err));
    }
  }

  private write(state: State): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(state, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename is durable only once the directory is synced.
    const dir = openSync(path.dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function toBig(bytes: Buffer, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits / 8; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

function fromBig(v: bigint, bits: number): Buffer {
  const b = Buffer.alloc(16);
  for (let i = bits / 8 - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}
