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
import { envoyRoute, envoyRoutes, INVALID_BACKEND_CLUSTER, redirectKeepsRequestHost } from './http-routes.js';

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
   * Encoded routes by listener port (the key nearly every route is encoded for), then by IR object. Kept across
   * translations (`weft run`): weakly, so that routes the Gateway translation no longer holds are forgotten. For one
   * translation a Map: adding thousands of keys to a WeakMap cost more than encoding a tenth of the routes.
   */
  private readonly byPort = new Map<number, RouteBytes<Uint8Array>>();
  /** The routes whose encoding also depends on the virtual host's hostname, by `"{port} {hostname}"`. */
  private readonly byPortAndHost = new Map<string, RouteBytes<Uint8Array[]>>();

  private hosts = new Map<string, EncodedVirtualHost>();
  private nextHosts = new Map<string, EncodedVirtualHost>();
  /** This translation's route tables, by route list. */
  private tables = new Map<readonly HttpRouteIR[], EncodedRouteTable[]>();

  constructor(private readonly kept = false) {}

  private routeMap<T>(): RouteBytes<T> {
    return this.kept ? new WeakMap<HttpRouteIR, T>() : new Map<HttpRouteIR, T>();
  }

  /**
   * Appends the encoded Route messages of an IR route (usually one; see envoyRoutes) in a virtual host of `hostname`
   * to `into`; only a redirect that keeps the request's host encodes differently per hostname (then it returns true).
   */
  addRouteBytes(r: HttpRouteIR, listenerPort: number, hostname: string, into: Uint8Array[]): boolean {
    if (redirectKeepsRequestHost(r, listenerPort)) {
      const key = `${listenerPort} ${hostname}`;
      let byRoute = this.byPortAndHost.get(key);
      if (!byRoute) this.byPortAndHost.set(key, (byRoute = this.routeMap()));
      let all = byRoute.get(r);
      if (!all) byRoute.set(r, (all = envoyRoutes(r, listenerPort, hostname)));
      for (const bytes of all) into.push(bytes);
      return true;
    }
    let byRoute = this.byPort.get(listenerPort);
    if (!byRoute) this.byPort.set(listenerPort, (byRoute = this.routeMap()));
    let bytes = byRoute.get(r);
    if (!bytes) byRoute.set(r, (bytes = envoyRoute(r, listenerPort)));
    into.push(bytes);
    return false;
  }

  /** The VirtualHost's encoding; the previous translation's when it had the same route objects in the same order. */
  virtualHost(vh: VirtualHostRoutes, listenerPort: number): EncodedVirtualHost {
    const key = `${listenerPort} ${vh.name} ${vh.domains.join(' ')}`;
    const last = this.hosts.get(key);
    const encoded =
      last && last.table.routes.length === vh.routes.length && last.table.routes.every((r, i) => r === vh.routes[i])
        ? last
        : { head: encodeMessage('envoy.config.route.v3.VirtualHost', { name: vh.name, domains: vh.domains }), table: this.routeTable(vh, listenerPort) };
    this.nextHosts.set(key, encoded);
    return encoded;
  }

  /**
   * The route table of a virtual host: encoded once per translation for each list of routes (virtual hosts with the
   * same routes get the same array from the Gateway stage), and again for another listener port, or another host
   * when a route's encoding depends on it (see addRouteBytes).
   */
  private routeTable(vh: VirtualHostRoutes, listenerPort: number): EncodedRouteTable {
    const tables = this.tables.get(vh.routes);
    const hostname = vh.domains[0];
    for (const t of tables ?? []) if (t.listenerPort === listenerPort && (t.hostname === undefined || t.hostname === hostname)) return t;
    const routes: Uint8Array[] = [];
    const clusters = new Set<string>();
    const upstreams = new Map<string, ClusterIR>();
    let invalidBackend = false;
    let perHost = false;
    for (const r of vh.routes) {
      if (this.addRouteBytes(r, listenerPort, hostname, routes)) perHost = true;
      routeClusters(r, clusters);
      if (r.action.kind !== 'forward') continue;
      for (const b of r.action.backends) {
        if (b.cluster) upstreams.set(b.cluster.name, b.cluster);
        else invalidBackend = true;
      }
      for (const m of r.mirrors ?? []) upstreams.set(m.cluster.name, m.cluster);
    }
    const table: EncodedRouteTable = {
      routes: vh.routes,
      listenerPort,
      hostname: perHost ? hostname : undefined,
      bytes: routeFields(routes),
      clusters: [...clusters],
      upstreams: [...upstreams.values()],
      invalidBackend,
    };
    if (tables) tables.push(table);
    else this.tables.set(vh.routes, [table]);
    return table;
  }

  /** Ends a translation: virtual hosts it did not have are forgotten. */
  endTranslation(): void {
    this.hosts = this.nextHosts;
    this.nextHosts = new Map();
    this.tables = new Map();
  }
}

/** Encoded routes by IR route object. */
interface RouteBytes<T> {
  get(r: HttpRouteIR): T | undefined;
  set(r: HttpRouteIR, bytes: T): unknown;
}

/** A VirtualHost message: its name and domains (fields 1 and 2), then its routes (field 3). */
interface EncodedVirtualHost {
  head: Uint8Array;
  table: EncodedRouteTable;
}

/** Routes of a virtual host, encoded; shared by virtual hosts with the same routes. */
interface EncodedRouteTable {
  routes: readonly HttpRouteIR[];
  listenerPort: number;
  /** Set when a route's encoding depends on the virtual host's hostname. */
  hostname: string | undefined;
  /** Each route as a VirtualHost `routes` field. */
  bytes: Uint8Array;
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
  const encoded = virtualHosts.map((vh) => cache.virtualHost(vh, listenerPort));
  const clusters = new Set<string>();
  const upstreams: ClusterIR[] = [];
  let invalidBackend = false;
  // A table shared by several virtual hosts names the same clusters each time: counted once.
  const counted = new Set<EncodedRouteTable>();
  for (const { table } of encoded) {
    if (counted.has(table)) continue;
    counted.add(table);
    for (const c of table.clusters) clusters.add(c);
    for (const u of table.upstreams) upstreams.push(u);
    invalidBackend ||= table.invalidBackend;
  }
  // name (field 1) comes before the virtual hosts, ignore_port_in_host_matching (field 15) after.
  const head = encodeMessage('envoy.config.route.v3.RouteConfiguration', { name });
  const tail = encodeMessage('envoy.config.route.v3.RouteConfiguration', { ignore_port_in_host_matching: true });
  const body = framedVirtualHosts(head, encoded, tail);
  const references: ResourceRef[] = [...clusters].map((c) => ({ typeUrl: TypeUrl.Cluster, name: c }));
  return { resource: { typeUrl: TypeUrl.RouteConfiguration, name, version: contentVersion(body), body, references }, upstreams, invalidBackend };
}

const varintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/** The `routes` fields of a VirtualHost: each of `routes` tagged and length-prefixed, in one buffer. */
function routeFields(routes: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const r of routes) size += varintSize(ROUTES_KEY) + varintSize(r.length) + r.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of routes) {
    at = writeVarint(out, at, ROUTES_KEY);
    at = writeVarint(out, at, r.length);
    out.set(r, at);
    at += r.length;
  }
  return out;
}

const ROUTES_KEY = tag(VIRTUAL_HOST_ROUTES);
const VIRTUAL_HOSTS_KEY = tag(ROUTE_CONFIGURATION_VIRTUAL_HOSTS);

/** `head`, each virtual host (its head, then its route table) as a `virtual_hosts` field, then `tail`: each byte copied once. */
function framedVirtualHosts(head: Uint8Array, virtualHosts: EncodedVirtualHost[], tail: Uint8Array): Uint8Array {
  let size = head.length + tail.length;
  for (const vh of virtualHosts) {
    const n = vh.head.length + vh.table.bytes.length;
    size += varintSize(VIRTUAL_HOSTS_KEY) + varintSize(n) + n;
  }
  const out = Buffer.allocUnsafe(size);
  out.set(head, 0);
  let at = head.length;
  for (const vh of virtualHosts) {
    at = writeVarint(out, at, VIRTUAL_HOSTS_KEY);
    at = writeVarint(out, at, vh.head.length + vh.table.bytes.length);
    out.set(vh.head, at);
    at += vh.head.length;
    out.set(vh.table.bytes, at);
    at += vh.table.bytes.length;
  }
  out.set(tail, at);
  return out;
}

/** Writes `v` as a varint at `at`; returns where it ends. */
function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}
