// The mesh map (bpf/datapath.c weft_mesh): (source endpoint identity, destination address, port) → redirect into
// the node proxy's transparent mesh listener. sync() makes the kernel map hold exactly the desired entries,
// writing only the differences.
import type { BpfMap } from './bpf-map.js';
import { meshKey, parseAddress, policyValue } from './layout.js';

/** One local source identity's connections to a destination address and port enter the mesh. */
export interface MeshEntry {
  sourceIdentity: number;
  address: string;
  port: number;
}

export class MeshMap {
  /** key hex → value hex, as written. */
  private written = new Map<string, string>();

  constructor(private readonly map: BpfMap) {}

  sync(entries: readonly MeshEntry[], proxyPort: number): { written: number; deleted: number } {
    const value = policyValue({ verdict: 'redirect', proxyPort }).toString('hex');
    const desired = new Map(entries.map((e) => [meshKey(e.sourceIdentity, parseAddress(e.address), e.port).toString('hex'), value]));
    let written = 0, deleted = 0;
    for (const [k, v] of desired) {
      if (this.written.get(k) === v) continue;
      this.map.update(Buffer.from(k, 'hex'), Buffer.from(v, 'hex'));
      written++;
    }
    for (const k of this.written.keys()) {
      if (desired.has(k)) continue;
      this.map.delete(Buffer.from(k, 'hex'));
      deleted++;
    }
    this.written = desired;
    return { written, deleted };
  }
}
