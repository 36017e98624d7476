// The node agent's side of the datapath: the control plane's model (identities from pods' labels and
// namespaces, the L3/L4 part of the policy model, Services and EndpointSlices) → the kernel maps, written
// incrementally on every translation.
//   - Local endpoints (pods whose address the CNI plugin registered in the endpoint map, with their veth)
//     get their identity and enforcement flags; their policy entries come from datapathPolicy(), where L7
//     ports are a redirect into the node Envoy's transparent listener (proxyPort).
//   - Other pods' addresses go to the identity cache as host prefixes, next to the policies' CIDRs and the
//     node's own addresses (the host identity).
//   - Services: ClusterIPs (and NodePorts on the node's addresses) → ready endpoints.
//   - Mesh (with --mutual-auth): local endpoints' connections to other nodes' pods' mesh ports, and to this node's
//     pods' ports that require authentication, are redirected into the node Envoy's transparent mesh listener, by
//     destination address (src/datapath/mesh-redirect.ts, the mesh map).
import net from 'node:net';
import type { Datapath } from './datapath.js';
import { EndpointMap, IdentityCache } from './endpoints.js';
import { PolicyMap } from './policy.js';
import { ServiceMap, type Service } from './services.js';
import { CidrIdentities, datapathPolicy, registerCidrs } from './policy-from-model.js';
import { meshEntries, type MeshDestination } from './mesh-redirect.js';
import { MeshMap } from './mesh-map.js';
import { clusterServices, type ClusterServicesOptions, type EndpointSliceObject, type ServiceObject } from './cluster-services.js';
import { RESERVED_HOST, type IdentityTable } from '../l7policy/identities.js';
import type { EndpointPolicy, PolicyModel } from '../l7policy/model.js';
import type { Manifest } from '../sources/manifests.js';
import type { Translation } from '../standalone/pipeline.js';

export interface DatapathControllerOptions extends ClusterServicesOptions {
  /** The node Envoy's transparent listener port for L7-policed ports. */
  proxyPort: number;
}

export interface DatapathInput {
  table: IdentityTable;
  model: PolicyModel;
  services: ServiceObject[];
  endpointSlices: EndpointSliceObject[];
  /** Transparent mesh entry: where the node Envoy's mesh listener is, and the remote pods' mesh ports. */
  mesh?: MeshRedirect;
}

export interface MeshRedirect {
  proxyPort: number;
  /** Pods' mesh ports (address and port): every one of other nodes' pods, and this node's policed ones. */
  destinations: Array<{ address: string; port: number }>;
}

export interface SyncResult {
  /** Pods on this node (registered by the CNI plugin) the model knows. */
  localEndpoints: string[];
  policyWrites: number;
  meshWrites: number;
  identityCacheWrites: number;
  services: number;
  /** Policy entries the datapath cannot express, per endpoint (the rest is applied). */
  unsupported: string[];
}

export class DatapathController {
  private readonly endpoints: EndpointMap;
  private readonly identityCache: IdentityCache;
  private readonly policy: PolicyMap;
  private readonly mesh: MeshMap;
  private readonly serviceMap: ServiceMap;
  private readonly cidrs = new CidrIdentities();
  private readonly policed = new Set<number>();
  private readonly written = new Map<string, Service>();

  constructor(dp: Datapath, private readonly opts: DatapathControllerOptions) {
    this.endpoints = new EndpointMap(dp.maps.endpoints);
    this.identityCache = new IdentityCache(dp.maps.ipcache);
    this.policy = new PolicyMap(dp.maps.policy);
    this.mesh = new MeshMap(dp.maps.mesh);
    this.serviceMap = new ServiceMap(dp.maps.services, dp.maps.backends);
  }

  /**
   * The node agent's hook: the objects it translated and their translation (identities and policy model from
   * its L7 policy part). Undefined when the translation has no policy model.
   */
  syncTranslation(manifests: readonly Manifest[], translation: Translation, mesh?: MeshRedirect): SyncResult | undefined {
    if (!translation.l7) return undefined;
    return this.sync({
      ...(mesh ? { mesh } : {}),
      table: translation.l7.table,
      model: translation.l7.model,
      services: manifests.filter((m) => m.kind === 'Service' && m.apiVersion === 'v1') as unknown as ServiceObject[],
      endpointSlices: manifests.filter((m) => m.kind === 'EndpointSlice' && m.apiVersion === 'discovery.k8s.io/v1'),
    });
  }

  sync(input: DatapathInput): SyncResult {
    const result: SyncResult = { localEndpoints: [], policyWrites: 0, meshWrites: 0, identityCacheWrites: 0, services: 0, unsupported: [] };
    const cache = new Map<string, number>();
    const policies = new Map<number, ReturnType<typeof datapathPolicy>>();
    // Every local endpoint's policy CIDRs get their identity before any peer list is computed: an entry allowing
    // a CIDR (or the world) lists the identities of the prefixes inside it, whichever policy named them.
    const models = new Map<number, EndpointPolicy>();
    for (const ep of input.table.endpoints) {
      if (models.has(ep.identity) || !ep.ips.some((ip) => this.endpoints.lookup(ip))) continue;
      const model = input.model.endpointPolicy(ep);
      registerCidrs(model, this.cidrs);
      models.set(ep.identity, model);
    }
    for (const ep of input.table.endpoints) {
      const local = ep.ips.map((ip) => ({ ip, info: this.endpoints.lookup(ip) })).find((x) => x.info);
      if (!local) {
        for (const ip of ep.ips) cache.set(`${ip}/${net.isIP(ip) === 6 ? 128 : 32}`, ep.identity);
        continue;
      }
      let dp = policies.get(ep.identity);
      if (!dp) {
        dp = datapathPolicy(models.get(ep.identity) ?? input.model.endpointPolicy(ep), this.cidrs, this.opts.proxyPort, ep.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort));
        policies.set(ep.identity, dp);
        result.unsupported.push(...dp.unsupported.map((u) => `${ep.name}: ${u}`));
      }
      // Addresses the CNI plugin did not register (another family) are not on this node's veth: only the
      // registered ones are updated.
      const ips = ep.ips.filter((ip) => this.endpoints.lookup(ip));
      this.endpoints.upsert({ ips, identity: ep.identity, ifindex: local.info!.ifindex, ingressEnforced: dp.ingressEnforced, egressEnforced: dp.egressEnforced });
      result.localEndpoints.push(ep.name);
    }
    for (const [identity, dp] of policies) {
      const w = this.policy.apply(identity, dp.entries);
      result.policyWrites += w.written + w.deleted;
      this.policed.add(identity);
    }
    for (const identity of [...this.policed]) {
      if (policies.has(identity)) continue;
      result.policyWrites += this.policy.apply(identity, []).deleted;
      this.policed.delete(identity);
    }
    const mesh = input.mesh ? meshEntries(policies.keys(), this.meshDestinations(input, input.mesh)) : [];
    const m = this.mesh.sync(mesh, input.mesh?.proxyPort ?? 0);
    result.meshWrites = m.written + m.deleted;
    for (const [cidr, id] of this.cidrs.entries()) cache.set(cidr, id);
    // The node's own addresses are the host identity, which local endpoints always let in (the kubelet's probes,
    // Envoy's connections to Gateway backends), as with Cilium's default allow-localhost.
    for (const ip of input.table.hostIps) cache.set(`${ip}/${net.isIP(ip) === 6 ? 128 : 32}`, RESERVED_HOST);
    const c = this.identityCache.sync(cache);
    result.identityCacheWrites = c.written + c.deleted;
    const desired = new Map(clusterServices(input.services, input.endpointSlices, this.opts).map((s) => [`${s.vip}|${s.port}|${s.protocol}`, s]));
    for (const [key, s] of desired) {
      this.serviceMap.upsert(s);
      this.written.set(key, s);
    }
    for (const [key, s] of [...this.written]) {
      if (desired.has(key)) continue;
      this.serviceMap.remove(s.vip, s.port, s.protocol);
      this.written.delete(key);
    }
    result.services = desired.size;
    return result;
  }

  /** The mesh destinations with their ingress policies; addresses the table lacks are left out. */
  private meshDestinations(input: DatapathInput, mesh: MeshRedirect): MeshDestination[] {
    const byIp = new Map(input.table.endpoints.flatMap((ep) => ep.ips.map((ip) => [ip, ep] as const)));
    const ingress = new Map<string, MeshDestination['ingress']>();
    const out: MeshDestination[] = [];
    for (const d of mesh.destinations) {
      const ep = byIp.get(d.address);
      if (!ep) continue;
      if (!ingress.has(ep.name)) ingress.set(ep.name, input.model.endpointPolicy(ep).ingress);
      out.push({ ...d, local: this.endpoints.lookup(d.address) !== undefined, ingress: ingress.get(ep.name)! });
    }
    return out;
  }
}
