// What every HTTP connection manager that enforces L7 policy shares: the node proxy's policy listeners
// (envoy.ts) and the mesh's inbound mutual-TLS listener (src/mtls/mesh-resources.ts). Rules see the path the
// application will see (RFC 3986 normalised, slashes merged, %2F/%5C decoded and forwarded), and a refusal
// answers Cilium's body.
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';

/** The mesh inbound listener's RBAC filter: route configurations (the mesh's, and the L7 policy's mesh routes) configure it per virtual host. */
export const MESH_INBOUND_RBAC_FILTER = 'envoy.filters.http.rbac';

/** Cilium's body for a request its proxy denies (cilium/proxy appends CRLF). */
export const ACCESS_DENIED_BODY = 'Access denied\r\n';

/**
 * Request headers the policy's routes never pass to the application. `x-envoy-external-address`: what
 * `use_remote_address` adds for a peer that is not internal (every peer here, see envoy.ts hcm), the connection's
 * address as text. Cilium's node proxy never sends it for pods (they are internal to it), the application sees
 * the peer's address on its own connection (transparent mode) and the access log has it; carried to the
 * application it cost ~4,800 instructions a request (BENCHMARKS.md, L7 policy). Removed here, a client cannot
 * send one either.
 */
export const PROXY_ONLY_REQUEST_HEADERS: readonly string[] = ['x-envoy-external-address'];

export const POLICY_REQUEST_HANDLING: HttpConnectionManager = {
  normalize_path: { value: true },
  merge_slashes: true,
  path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD',
  local_reply_config: {
    mappers: [
      {
        filter: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 403, runtime_key: 'weft.l7policy.denied_status' } } } },
        body: { inline_string: ACCESS_DENIED_BODY },
      },
    ],
  },
};
