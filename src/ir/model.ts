// The intermediate model: what the node proxy must do, independent of where it was asked for (Gateway
// API, Ingress, policies) and of how Envoy spells it. Translators produce it; src/xds/translator turns
// it into xDS resources. Plain data: comparable, printable, and the subject of golden files.

export interface ProxyIR {
  httpListeners: HttpListenerIR[];
}

/** One socket Envoy listens on, serving HTTP; several Gateway listeners may share it. */
export interface HttpListenerIR {
  /** Stable and unique: `<address>:<port>` based. */
  name: string;
  address: string;
  port: number;
  /** Ordered most specific hostname first; Envoy picks the virtual host by the request's Host. */
  virtualHosts: VirtualHostIR[];
  /** Absent: plaintext HTTP. Present: every connection is TLS, dispatched by SNI (see TlsListenerIR). */
  tls?: TlsListenerIR;
}

// ---- TLS (downstream) ----------------------------------------------------------------------------
//
// A TLS socket is a list of chains, each selected by the client's SNI (Envoy's filter chain match:
// an exact name beats the longest matching `*.suffix` wildcard, which beats the default chain). A
// chain either terminates TLS (certificates served, HTTP inside goes to the listener's virtual hosts,
// or TCP to `tcpBackends`) or passes the TLS stream through untouched to `tcpBackends` (the backend
// terminates). Certificates reach Envoy as SDS Secrets named by `TlsCertificateIR.name`; a new
// certificate under the same name is a rotation that changes only the Secret, never the Listener.
//
// No SNI, or an SNI no chain names: the default chain (empty `serverNames`) if there is one, otherwise
// Envoy closes the connection during the handshake. That is Envoy Gateway's behaviour (a catch-all
// chain exists only for a listener without hostname); producers decide whether to add a default.

/** A certificate chain and its private key (PEM), delivered to Envoy as the SDS Secret `name`. */
export interface TlsCertificateIR {
  /** Stable for its source (e.g. `secret/<ns>/<name>`), so a changed certificate is a rotation. */
  name: string;
  /** PEM: the leaf first, then intermediates. */
  certificateChain: string;
  /** PEM. Never logged or printed: readable output redacts it. */
  privateKey: string;
}

/** PEM CA certificates that peer certificates must chain to, delivered as the SDS Secret `name`. */
export interface TlsTrustIR {
  name: string;
  caCertificates: string;
}

/** Client certificate validation on a terminating chain (Gateway `spec.tls.frontend`). */
export interface ClientValidationIR {
  trust: TlsTrustIR;
  /** AllowValidOnly: a client without a valid certificate fails the handshake. AllowInsecureFallback: a
   * client may present none (or an invalid one) and is still served. */
  mode: 'AllowValidOnly' | 'AllowInsecureFallback';
}

export interface TlsTerminateIR {
  /** One or more (e.g. an RSA and an ECDSA one): Envoy picks by SNI match and the client's capabilities. */
  certificates: TlsCertificateIR[];
  /** ALPN protocols offered, in preference order, e.g. ['h2', 'http/1.1']; empty: no ALPN. */
  alpn: string[];
  clientValidation?: ClientValidationIR;
}

export interface TlsChainIR {
  /** Stable and unique within the listener (used in names and stats). */
  name: string;
  /** SNI names: exact (`a.example.com`) or wildcard (`*.example.com`). Empty: the default chain (at most
   * one per listener). No two chains of a listener share a name. */
  serverNames: string[];
  /** Present: Envoy terminates TLS. Absent: passthrough (requires `tcpBackends`). */
  terminate?: TlsTerminateIR;
  /** Present: connections go over TCP to these backends (weighted; an undefined cluster's share is
   * refused). Absent (terminate only): the decrypted HTTP goes to the listener's virtual hosts. */
  tcpBackends?: WeightedBackendIR[];
  /**
   * The hostname (`*` for none) of the Gateway listener whose HTTPS this chain terminates. When a socket's
   * HTTP chains come from several listeners, each chain gets a route configuration of its own in which the
   * virtual hosts of the other listeners answer 421 Misdirected Request (a connection whose SNI chose one
   * listener must not be used for another listener's hosts; HTTP/2 coalescing would otherwise cross them).
   */
  listenerHostname?: string;
}

export interface TlsListenerIR {
  chains: TlsChainIR[];
}

export interface VirtualHostIR {
  name: string;
  /** An exact hostname, a wildcard `*.example.com`, or `*` for any. */
  hostname: string;
  /**
   * The hostname (`*` for none) of the Gateway listener this virtual host serves requests for. A virtual
   * host falls back to the routes of less specific ones only within the same listener (listener
   * isolation); absent is a group of its own.
   */
  listenerHostname?: string;
  /** In match order: the first route that matches a request serves it. */
  routes: HttpRouteIR[];
}

export type StringMatchType = 'Exact' | 'RegularExpression';

export interface HttpRouteMatchIR {
  path: { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string };
  headers: Array<{ name: string; type: StringMatchType; value: string }>;
  queryParams: Array<{ name: string; type: StringMatchType; value: string }>;
  method?: string;
}

export interface HeaderModifierIR {
  set: Array<{ name: string; value: string }>;
  add: Array<{ name: string; value: string }>;
  remove: string[];
}

export interface RedirectIR {
  scheme?: string;
  hostname?: string;
  /** Absent: keep the request's port (or the scheme's default when the scheme changes). */
  port?: number;
  path?: { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string; prefix: string };
  statusCode: number;
}

export interface UrlRewriteIR {
  hostname?: string;
  path?: { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string; prefix: string };
}

export interface EndpointIR {
  address: string;
  port: number;
}

/** An upstream: a Service port resolved to endpoints. */
export interface ClusterIR {
  /** Stable and unique: derived from the Service and port. */
  name: string;
  endpoints: EndpointIR[];
  /** http2: the backend speaks HTTP/2 in cleartext (appProtocol kubernetes.io/h2c or grpc). */
  protocol: 'http1' | 'http2';
  /** Present: Envoy connects to the backend over TLS (BackendTLSPolicy). */
  tls?: UpstreamTlsIR;
}

/** TLS from Envoy to a backend: the SNI sent, and how the backend's certificate is validated. */
export interface UpstreamTlsIR {
  /** SNI sent to the backend; also the name its certificate must carry unless `subjectAltNames` is set. */
  sni: string;
  /** Absent: the system trust store (Gateway API wellKnownCACertificates: System). */
  trust?: TlsTrustIR;
  /** The certificate must carry one of these; empty: it must carry `sni` (as a DNS SAN). */
  subjectAltNames: Array<{ type: 'Hostname' | 'URI'; value: string }>;
  /** ALPN offered to the backend; empty: none. */
  alpn?: string[];
  /** Presented to the backend when it asks for a client certificate (Gateway `spec.tls.backend`). */
  clientCertificate?: TlsCertificateIR;
}

export interface WeightedBackendIR {
  weight: number;
  /** Undefined for a backendRef that is invalid or not permitted: its share of requests gets a 500. */
  cluster?: ClusterIR;
  requestHeaders?: HeaderModifierIR;
  responseHeaders?: HeaderModifierIR;
}

/** A copy of each request (or of a share of them) sent to another cluster; its responses are ignored. */
export interface MirrorIR {
  cluster: ClusterIR;
  /** The share of requests mirrored; absent: all of them. */
  fraction?: { numerator: number; denominator: number };
}

/** Gateway API CORS filter, as the route answers preflights and decorates responses. */
export interface CorsIR {
  /** Allowed origins: exact (`https://a.com`, port optional), host wildcards (`https://*.a.com`), or `*`. */
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  /** Seconds; the spec's default is 5. */
  maxAge: number;
  allowCredentials: boolean;
}

export interface RetryIR {
  /** Retries after the first attempt; absent: the implementation's default. */
  attempts?: number;
  codes: number[];
  backoffMs?: number;
}

export type RouteActionIR =
  | { kind: 'forward'; backends: WeightedBackendIR[] }
  | { kind: 'redirect'; redirect: RedirectIR }
  | { kind: 'direct'; status: number; body?: string };

export interface HttpRouteIR {
  /** Stable and unique within the listener, e.g. httproute/ns/name/rule/0/match/1. */
  name: string;
  match: HttpRouteMatchIR;
  action: RouteActionIR;
  requestHeaders?: HeaderModifierIR;
  responseHeaders?: HeaderModifierIR;
  urlRewrite?: UrlRewriteIR;
  /** Request timeout in milliseconds; 0 disables Envoy's default. */
  timeoutMs?: number;
  /** Per-try timeout in milliseconds (Gateway API backendRequest). */
  backendTimeoutMs?: number;
  mirrors?: MirrorIR[];
  cors?: CorsIR;
  retry?: RetryIR;
  /** Allows WebSocket upgrades on this route. */
  websocket?: boolean;
}
