// A resource as the cache holds it: encoded once, versioned by content, with the names it references.
import { hash } from 'node:crypto';
import type { Any } from '../generated/google/protobuf/Any.js';
import { TYPE_PREFIX, type TypeUrl } from './type-urls.js';
import { encodeMessage } from './protos.js';

export interface ResourceRef {
  readonly typeUrl: TypeUrl;
  readonly name: string;
}

export interface Resource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  /** Content hash: equal bytes give equal versions, so a restarted control plane resyncs without churn. */
  readonly version: string;
  /** The encoded message (the `value` of the google.protobuf.Any). */
  readonly body: Uint8Array;
  /** Resources this one needs in place before Envoy receives it (make-before-break). */
  readonly references: readonly ResourceRef[];
}

export function contentVersion(bytes: Uint8Array): string {
  // One-shot: the same digest without a Hash object per resource (thousands per translation).
  return hash('sha256', bytes, 'base64url').slice(0, 16);
}

export function makeResource(
  typeUrl: TypeUrl,
  name: string,
  message: object,
  references: readonly ResourceRef[] = [],
): Resource {
  if (!name) throw new Error(`${typeUrl}: a resource needs a non-empty name`);
  return encodedResource(typeUrl, name, encodeMessage(typeUrl.slice(TYPE_PREFIX.length), message), references);
}

/** The same for a message encoded already. */
export function encodedResource(typeUrl: TypeUrl, name: string, body: Uint8Array, references: readonly ResourceRef[] = []): Resource {
  if (!name) throw new Error(`${typeUrl}: a resource needs a non-empty name`);
  return { typeUrl, name, version: contentVersion(body), body, references };
}

export function resourceAsAny(resource: Resource): Any {
  return { type_url: resource.typeUrl, value: Buffer.from(resource.body.buffer, resource.body.byteOffset, resource.body.byteLength) };
}
