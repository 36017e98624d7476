// The libbpf addon (src/datapath/native, built by scripts/setup.sh) and the compiled BPF object (bpf/build).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Functions of weft_bpf.node; see src/datapath/native/weft_bpf.c. Errors carry `code` "E<errno>". */
export interface NativeBpf {
  ensureBpffs(dir: string): boolean;
  openObject(file: string, pinRoot: string): number;
  closeObject(handle: number): void;
  programFd(handle: number, name: string): number;
  mapFd(handle: number, name: string): number;
  mapCreate(type: number, keySize: number, valueSize: number, maxEntries: number, name: string, flags: number): number;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  closeFd(fd: number): void;
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapKeys(fd: number, keySize: number): Buffer[];
  cgroupAttach(handle: number, program: string, cgroupPath: string, linkPin: string): number;
  cgroupDetach(linkPin: string): boolean;
  tcAttach(netns: string, ifname: string, direction: TcDirection, progFd: number, priority: number, handle: number): number;
  tcDetach(netns: string, ifname: string, direction: TcDirection, priority: number, handle: number): boolean;
  tcQuery(netns: string, ifname: string, direction: TcDirection, priority: number, handle: number): number;
  ifIndex(netns: string, ifname: string): number;
  ringbufOpen(mapFd: number, onBatch: (samples: Buffer[]) => void): RingbufHandle;
  ringbufClose(handle: RingbufHandle): void;
  monotonicNs(): bigint;
}

export type TcDirection = 'ingress' | 'egress';
declare const ringbufBrand: unique symbol;
export type RingbufHandle = { readonly [ringbufBrand]: true };

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const addonPath = path.join(repoRoot, 'src', 'datapath', 'native', 'build', 'Release', 'weft_bpf.node');
export const datapathObjectPath = path.join(repoRoot, 'bpf', 'build', 'datapath.o');

let loaded: NativeBpf | undefined;

/** Loads the addon once; throws naming the missing file and the step that builds it. */
export function nativeBpf(): NativeBpf {
  if (loaded) return loaded;
  if (!existsSync(addonPath)) throw new Error(`${addonPath} is missing: run scripts/setup.sh (it builds the libbpf addon)`);
  loaded = createRequire(import.meta.url)(addonPath) as NativeBpf;
  return loaded;
}

/** Why the datapath cannot run here, or undefined when it can (root, addon, BPF object, kernel BTF). */
export function datapathUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN for network namespaces)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!existsSync(addonPath)) return `${addonPath} is missing (scripts/setup.sh builds it)`;
  if (!existsSync(datapathObjectPath)) return `${datapathObjectPath} is missing (scripts/setup.sh builds it)`;
  return undefined;
}
