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
}

export interface VirtualHostIR {
  name: string;
  /** An exact hostname, a wildcard `*.example.com`, or `*` for any. */
  hostname: string;
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
