// `weft sysdump --bpf-pin-root`: the datapath's maps as they are: every entry's key and value in hex, and
// where the layout has a decoder (endpoints, identity cache prefixes, mesh redirects, conntrack) the decoded form beside it.
import { Datapath } from '../datapath/datapath.js';
import { decodeConntrack, decodeEndpointInfo, formatAddress } from '../datapath/layout.js';
import type { CollectedFile } from './kubernetes.js';

function decoded(map: string, key: Buffer, value: Buffer): string {
  try {
    if (map === 'endpoints') return `${formatAddress(key[16], key.subarray(0, 16))} ${JSON.stringify(decodeEndpointInfo(value))}`;
    if (map === 'ipcache') return `${formatAddress(key[4], key.subarray(8, 24))}/${key.readUInt32LE(0) - 32} identity ${value.readUInt32LE(0)}`;
    if (map === 'mesh') return `identity ${key.readUInt32LE(16)} to ${formatAddress(key[22], key.subarray(0, 16))} port ${key.readUInt16LE(20)}: mesh listener ${value.readUInt16LE(2)}`;
    if (map === 'conntrack') return JSON.stringify(decodeConntrack(key, value), (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    // an entry the decoder does not know: the hex says it all
  }
  return '';
}

export function collectDatapath(pinRoot: string, errors: string[]): CollectedFile[] {
  let dp: Datapath;
  try {
    dp = Datapath.open({ pinRoot });
  } catch (err) {
    errors.push(`datapath at ${pinRoot}: ${(err as Error).message}`);
    return [];
  }
  try {
    const files: CollectedFile[] = [];
    for (const [name, map] of Object.entries(dp.maps) as Array<[string, Datapath['maps']['policy']]>) {
      try {
        const lines = [...map.entries()].map(([k, v]) => `${k.toString('hex')} ${v.toString('hex')}${(d => (d ? `  ${d}` : ''))(decoded(name, k, v))}`);
        files.push({ name: `datapath/${name}.txt`, format: 'text', content: `# ${map.name}: ${lines.length} entries (key value [decoded])\n${lines.join('\n')}\n` });
      } catch (err) {
        errors.push(`datapath map ${name}: ${(err as Error).message}`);
      }
    }
    return files;
  } finally {
    dp.close();
  }
}
