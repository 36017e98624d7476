// xDS resources as readable objects: every Any is decoded in place as {"@type": ..., fields}.
// For `weft translate` and golden files; never on the serving path.
import { createHash } from 'node:crypto';
import { decodeMessage } from '../protos.js';
import type { Resource } from '../resource.js';
import { TYPE_PREFIX, shortTypeName } from '../type-urls.js';

function expandAnys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandAnys);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if (typeof obj.type_url === 'string' && obj.type_url.startsWith(TYPE_PREFIX) && obj.value !== undefined) {
    const bytes = typeof obj.value === 'string' ? Buffer.from(obj.value, 'base64') : (obj.value as Uint8Array);
    return { '@type': obj.type_url, ...(expandAnys(decodeMessage(obj.type_url.slice(TYPE_PREFIX.length), bytes)) as object) };
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, expandAnys(v)]));
}

/** What a private key reads as in printed output: never the key, but its digest, so a change shows. */
export function redactedKey(pem: string): string {
  return `[redacted private key sha256:${createHash('sha256').update(pem).digest('hex').slice(0, 12)}]`;
}

export function readableResource(r: Resource): Record<string, unknown> {
  const out = expandAnys(decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body)) as Record<string, unknown>;
  const key = (out.tls_certificate as { private_key?: { inline_string?: string } } | undefined)?.private_key;
  if (key?.inline_string !== undefined) key.inline_string = redactedKey(key.inline_string);
  return out;
}

/** Resources grouped by type (Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, Secret), in order. */
export function readableResources(resources: Resource[]): Record<string, Array<Record<string, unknown>>> {
  const out: Record<string, Array<Record<string, unknown>>> = {};
  for (const r of resources) (out[shortTypeName(r.typeUrl)] ??= []).push(readableResource(r));
  return out;
}
