// Builds an encoded RouteConfiguration from separately encoded Route messages. A route attached to
// several hostnames appears in several virtual hosts (and wildcard routes in every host they cover), so
// encoding each Route once and framing its bytes into each virtual host halves the encoding of a large
// table; across reloads, a route whose IR object did not change is not encoded again at all.
//
// Protobuf lets a message be written as the concatenation of its fields in any order, and repeated
// message fields are just a tag and a length-prefixed body each. The fields are written here in field
// number order, as protobufjs writes them, so the bytes equal those of encoding the whole message at once.
import type { ClusterIR, HttpRouteIR } from '../../ir/model.js';
import { encodeMessage } from '../protos.js';
import { contentVersion, type Resource, type ResourceRef } from '../resource.js';
import { TypeUrl } from '../type-urls.js';
import { envoyRoutes, INVALID_BACKEND_CLUSTER, redirectKeepsRequestHost } from './http-routes.js';

/** Field numbers (envoy/config/route/v3/route.proto); both are length-delimited (wire type 2). */
const ROUTE_CONFIGURATION_VIRTUAL_HOSTS = 2;
const VIRTUAL_HOST_ROUTES = 3;
const tag = (field: number): number => (field << 3) | 2;

/**
 * Encoded Route messages by IR route object and listener port (redirects depend on the port, and some on the host). IR objects
 * are never mutated once built, so an object seen again encodes to the same bytes. Keep one for a whole
 * `weft run` to skip unchanged routes on reload, or one per translation to encode each route once.
 */
export class RouteEncodingCache {
  /**
   * Kept across translations (`weft run`): by IR object, weakly, so that routes the Gateway translation no longer
   * holds are forgotten. For one translation a Map: adding thousands of keys to a WeakMap cost more than encoding a
   * tenth of the routes.
   */
  private readonly byRoute: { get(r: HttpRouteIR): EncodedRoute | undefined; set(r: HttpRouteIR, e: EncodedRoute): unknown };

  constructor(kept = false) {
    this.byRoute = kept ? new WeakMap<HttpRouteIR, EncodedRoute>() : new Map<HttpRouteIR, EncodedRoute>();
  }
  private hosts = new Map<string, EncodedVirtualHost>();
  private nextHosts = new Map<string, EncodedVirtualHost>();

  /**
   * The encoded Route messages of an IR route (usually one; see envoyRoutes) in a virtual host of `hostname`; only a
   * redirect that keeps the request's host encodes differently per hostname.
   */
  routeBytes(r: HttpRouteIR, listenerPort: number, hostname = '*'): Uint8Array[] {
    const key = redirectKeepsRequestHost(r, listenerPort) ? `${listenerPort} ${hostname}` : listenerPort;
    const encoded = this.byRoute.get(r);
    // Nearly every route is encoded for one key (its listener's port): a Map for the others only.
    if (encoded?.key === key) return encoded.bytes;
    let bytes = encoded?.others?.get(key);
    if (bytes) return bytes;
    bytes = envoyRoutes(r, listenerPort, hostname);
    if (!encoded) this.byRoute.set(r, { key, bytes });
    else (encoded.others ??= new Map<string | number, Uint8Array[]>()).set(key, bytes);
    return bytes;
  }

  /** The VirtualHost's encoding; the previous translation's when it had the same route objects in the same order. */
  virtualHost(vh: VirtualHostRoutes, listenerPort: number): EncodedVirtualHost {
    const key = `${listenerPort} ${vh.name} ${vh.domains.join(' ')}`;
    const last = this.hosts.get(key);
    const encoded = last && last.routes.length === vh.routes.length && last.routes.every((r, i) => r === vh.routes[i]) ? last : this.encodeVirtualHost(vh, listenerPort);
    this.nextHosts.set(key, encoded);
    return encoded;
  }

  private encodeVirtualHost(vh: VirtualHostRoutes, listenerPort: number): EncodedVirtualHost {
    const routes: Uint8Array[] = [];
    const clusters = new Set<string>();
    const upstreams = new Map<string, ClusterIR>();
    let invalidBackend = false;
    for (const r of vh.routes) {
      for (const bytes of this.routeBytes(r, listenerPort, vh.domains[0])) routes.push(bytes);
      routeClusters(r, clusters);
      if (r.action.kind !== 'forward') continue;
      for (const b of r.action.backends) {
        if (b.cluster) upstreams.set(b.cluster.name, b.cluster);
        else invalidBackend = true;
      }
      for (const m of r.mirrors ?? []) upstreams.set(m.cluster.name, m.cluster);
    }
    // name (field 1) and domains (2) before the routes (3).
    const body = framed(encodeMessage('envoy.config.route.v3.VirtualHost', { name: vh.name, domains: vh.domains }), VIRTUAL_HOST_ROUTES, routes);
    return { routes: vh.routes, body, clusters: [...clusters], upstreams: [...upstreams.values()], invalidBackend };
  }

  /** Ends a translation: virtual hosts it did not have are forgotten. */
  endTranslation(): void {
    this.hosts = this.nextHosts;
    this.nextHosts = new Map();
  }
}

/** An IR route's encoding for one key (listener port, and the host for some redirects), and for other keys if any. */
interface EncodedRoute {
  key: string | number;
  bytes: Uint8Array[];
  others?: Map<string | number, Uint8Array[]>;
}

interface EncodedVirtualHost {
  routes: readonly HttpRouteIR[];
  body: Uint8Array;
  /** The clusters its routes name, in order of appearance. */
  clusters: string[];
  /** The clusters its routes send traffic or mirrors to. */
  upstreams: ClusterIR[];
  /** Whether a route sends a share of its traffic to an invalid backend. */
  invalidBackend: boolean;
}

export interface EncodedRouteConfiguration {
  resource: Resource;
  upstreams: ClusterIR[];
  invalidBackend: boolean;
}

/**
 * What a translation may reuse from earlier ones: encoded routes (by IR object) and encoded cluster and
 * endpoint resources (by content: the resolver builds new ClusterIR objects on every translation).
 */
export class XdsEncodingCache {
  readonly routes = new RouteEncodingCache(true);
  private clusters = new Map<string, Resource[]>();
  private nextClusters = new Map<string, Resource[]>();
  private readonly keys = new WeakMap<ClusterIR, string>();

  /** `build(c)`, or what it returned for an equal cluster in this or the previous translation. */
  clusterResources(c: ClusterIR, build: (c: ClusterIR) => Resource[]): Resource[] {
    // The resolver hands out the same cluster object while the backends are unchanged: its key is spelt once.
    let key = this.keys.get(c);
    if (key === undefined) this.keys.set(c, (key = JSON.stringify(c)));
    const resources = this.nextClusters.get(key) ?? this.clusters.get(key) ?? build(c);
    this.nextClusters.set(key, resources);
    return resources;
  }

  /** Ends a translation: clusters not used by it are forgotten. */
  endTranslation(): void {
    this.routes.endTranslation();
    this.clusters = this.nextClusters;
    this.nextClusters = new Map();
  }
}

export interface VirtualHostRoutes {
  name: string;
  domains: string[];
  routes: HttpRouteIR[];
}

/** The clusters a route sends traffic (or mirrors) to, in the order `routeConfigurationResource` finds them. */
function routeClusters(r: HttpRouteIR, into: Set<string>): void {
  if (r.action.kind !== 'forward') return;
  const backends = r.action.backends;
  if (backends.length === 1 && backends[0].cluster && !backends[0].requestHeaders && !backends[0].responseHeaders) into.add(backends[0].cluster.name);
  else for (const b of backends) into.add(b.cluster?.name ?? INVALID_BACKEND_CLUSTER);
  for (const m of r.mirrors ?? []) into.add(m.cluster.name);
}

/**
 * The RouteConfiguration resource `name` with `virtualHosts`, and ignore_port_in_host_matching set,
 * equal (bytes, version and references) to `routeConfigurationResource` of the same message; with the
 * clusters its routes use.
 */
export function routeConfigurationFromRoutes(name: string, listenerPort: number, virtualHosts: VirtualHostRoutes[], cache: RouteEncodingCache): EncodedRouteConfiguration {
  const bodies: Uint8Array[] = [];
  const clusters = new Set<string>();
  const upstreams: ClusterIR[] = [];
  let invalidBackend = false;
  for (const vh of virtualHosts) {
    const encoded = cache.virtualHost(vh, listenerPort);
    bodies.push(encoded.body);
    for (const c of encoded.clusters) clusters.add(c);
    upstreams.push(...encoded.upstreams);
    invalidBackend ||= encoded.invalidBackend;
  }
  // name (field 1) comes before the virtual hosts, ignore_port_in_host_matching (field 15) after.
  const head = encodeMessage('envoy.config.route.v3.RouteConfiguration', { name });
  const tail = encodeMessage('envoy.config.route.v3.RouteConfiguration', { ignore_port_in_host_matching: true });
  const body = framed(head, ROUTE_CONFIGURATION_VIRTUAL_HOSTS, bodies, tail);
  const references: ResourceRef[] = [...clusters].map((c) => ({ typeUrl: TypeUrl.Cluster, name: c }));
  return { resource: { typeUrl: TypeUrl.RouteConfiguration, name, version: contentVersion(body), body, references }, upstreams, invalidBackend };
}

const varintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/** `head`, each of `bodies` as a length-delimited field `field`, then `tail`: one buffer, each byte copied once. */
function framed(head: Uint8Array, field: number, bodies: Uint8Array[], tail?: Uint8Array): Uint8Array {
  const key = tag(field);
  let size = head.length + (tail?.length ?? 0);
  for (const b of bodies) size += varintSize(key) + varintSize(b.length) + b.length;
  const out = Buffer.allocUnsafe(size);
  out.set(head, 0);
  let at = head.length;
  const varint = (v: number): void => {
    while (v > 0x7f) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
  };
  for (const b of bodies) {
    varint(key);
    varint(b.length);
    out.set(b, at);
    at += b.length;
  }
  if (tail) out.set(tail, at);
  return out;
}
