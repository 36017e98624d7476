// A typed handle on one BPF map: fixed key and value sizes, raw Buffers in and out.
import { nativeBpf } from './native.js';

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export class BpfMap {
  constructor(readonly name: string, readonly fd: number, readonly keySize: number, readonly valueSize: number) {}

  lookup(key: Buffer): Buffer | null {
    this.checkKey(key);
    return nativeBpf().mapLookup(this.fd, key, this.valueSize);
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    this.checkKey(key);
    if (value.length !== this.valueSize) throw new Error(`map ${this.name}: value is ${value.length} bytes, expected ${this.valueSize}`);
    nativeBpf().mapUpdate(this.fd, key, value, flags);
  }

  /** True when an entry was there. */
  delete(key: Buffer): boolean {
    this.checkKey(key);
    return nativeBpf().mapDelete(this.fd, key);
  }

  keys(): Buffer[] {
    return nativeBpf().mapKeys(this.fd, this.keySize);
  }

  *entries(): Generator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) yield [key, value];
    }
  }

  private checkKey(key: Buffer): void {
    if (key.length !== this.keySize) throw new Error(`map ${this.name}: key is ${key.length} bytes, expected ${this.keySize}`);
  }
}
