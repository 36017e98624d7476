// Loads Envoy's API protos once (the tree that @grpc/grpc-js-xds ships) and encodes typed messages.
// Resources are encoded to bytes once, when they enter the cache, so pushes only copy bytes.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import * as protoLoader from '@grpc/proto-loader';
import type { Any } from '../generated/google/protobuf/Any.js';
import { TYPE_PREFIX } from './type-urls.js';
import { plainMessageEncoder, UnsupportedMessageError } from './message-encoder.js';

const require = createRequire(import.meta.url);

export function protoIncludeDirs(): string[] {
  const xdsPackage = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = path.join(xdsPackage, 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
}

/** The .proto files whose messages Weft encodes; every type they reach is loaded with them. */
const ROOT_PROTOS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  // L7 policy (src/l7policy): RBAC with matchers on the source address and request headers, access logs.
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/matching/common_inputs/network/v3/network_inputs.proto',
  // Mesh inbound L7 policy: the verified peer certificate's URI SAN (its SPIFFE ID).
  'envoy/extensions/matching/common_inputs/ssl/v3/ssl_inputs.proto',
  'envoy/extensions/matching/input_matchers/ip/v3/ip.proto',
  'envoy/type/matcher/v3/http_inputs.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  // Kubernetes mode's transparent proxy: connections the datapath redirects keep their original addresses.
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/original_src/v3/original_src.proto',
  // The mesh's transparent listener tells HTTP (mTLS origination) from other TCP (the HTTP/2 CONNECT tunnel).
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  // Flows (src/observe): Envoy's gRPC access log service towards the node agent.
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  // The source identity by an LC trie on the remote address (bench/l7policy-variants.ts peer-ip-tags).
  'envoy/extensions/filters/http/ip_tagging/v3/ip_tagging.proto',
];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  // The generated __Output types promise every field, so decoded requests carry defaults.
  defaults: true,
  oneofs: true,
  json: true,
};

let cachedRoot: protobuf.Root | undefined;

export function envoyProtoRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const includes = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includes) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(ROOT_PROTOS, { keepCase: true });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

/** The ADS service definition for @grpc/grpc-js, built by proto-loader from the same parsed tree. */
export function adsPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.fromJSON(envoyProtoRoot().toJSON(), LOADER_OPTIONS);
}

const typeCache = new Map<string, protobuf.Type>();

export function messageType(fullName: string): protobuf.Type {
  let type = typeCache.get(fullName);
  if (!type) {
    type = envoyProtoRoot().lookupType(fullName);
    typeCache.set(fullName, type);
  }
  return type;
}

/** Encodes a message given in proto-loader's object form (snake_case fields, enum names as strings). */
export function encodeMessage(fullName: string, message: object): Uint8Array {
  return messageEncoder(fullName)(message);
}

const encoders = new Map<string, (message: object) => Uint8Array>();

/** The same as `encodeMessage(fullName, ·)`, its type looked up once: for callers that encode thousands of messages. */
export function messageEncoder(fullName: string): (message: object) => Uint8Array {
  let encoder = encoders.get(fullName);
  if (encoder) return encoder;
  const type = messageType(fullName);
  const fast = plainMessageEncoder(type);
  encoder = (message) => {
    try {
      return fast(message);
    } catch (e) {
      // What the fast encoder does not take (a protobufjs message instance, say), protobufjs does.
      if (!(e instanceof UnsupportedMessageError)) throw e;
      return type.encode(type.fromObject(message)).finish();
    }
  };
  encoders.set(fullName, encoder);
  return encoder;
}

/** Packs a typed message into google.protobuf.Any, as Envoy expects for typed_config and resources. */
export function packAny(fullName: string, message: object): Any {
  return { type_url: TYPE_PREFIX + fullName, value: Buffer.from(encodeMessage(fullName, message)) };
}

/** Decodes bytes to proto-loader's object form; used by tests and debugging, never on the hot path. */
export function decodeMessage(fullName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(fullName);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: false, oneofs: false });
}
