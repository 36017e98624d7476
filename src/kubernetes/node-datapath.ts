// `weft agent --datapath`: the node's eBPF datapath driven from the API server. The CNI plugin (weft-cni) loads the
// programs on each pod's veth and registers the pod in the pinned maps; the agent opens the same pinned maps and,
// on every translation, writes identities, L3/L4 policy and Services through the DatapathController. L7-policed
// ports are redirected into the node Envoy's transparent listener: the datapath marks the connections it assigns to
// the proxy (`deliverMark`), and a policy route delivers marked packets locally; Envoy's upstream connections
// carry `upstreamMark`, so that the pods' replies come back to Envoy.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { DatapathController, type MeshRedirect } from '../datapath/controller.js';
import { Datapath } from '../datapath/datapath.js';
import { decodeEndpointInfo } from '../datapath/layout.js';
import type { TransparentProxy } from '../l7policy/envoy.js';
import type { Logger } from '../log/logger.js';
import type { Manifest } from '../sources/manifests.js';
import type { Translation } from '../standalone/pipeline.js';

const run = promisify(execFile);

export interface NodeDatapathOptions {
  /** Where weft-cni pinned the maps (its configuration's bpfPinRoot). */
  pinRoot: string;
  /** The node Envoy's transparent listener port. */
  proxyPort: number;
  /** The node's own addresses: the `host` entity, and NodePorts. */
  nodeIps: string[];
  logger: Logger;
}

/** Packet marks of the redirection (bits of their own, clear of kube-proxy's 0x4000/0x8000 and Cilium's). */
export const DELIVER_MARK = 0x200;
export const UPSTREAM_MARK = 0x400;
/** The routing table holding the local route for marked packets. */
const PROXY_TABLE = '2004';

export class NodeDatapath {
  readonly transparent: TransparentProxy;
  private readonly controller: DatapathController;

  private constructor(private readonly dp: Datapath, private readonly opts: NodeDatapathOptions) {
    this.transparent = { proxyPort: opts.proxyPort, upstreamMark: UPSTREAM_MARK };
    this.controller = new DatapathController(dp, { proxyPort: opts.proxyPort, nodeIps: opts.nodeIps });
  }

  static async open(opts: NodeDatapathOptions): Promise<NodeDatapath> {
    const dp = Datapath.open({ pinRoot: opts.pinRoot });
    dp.setProxyMarks(DELIVER_MARK, UPSTREAM_MARK);
    await ensureProxyRoute();
    await disableTcpEarlyDemux();
    opts.logger.info({ pinRoot: opts.pinRoot, proxyPort: opts.proxyPort }, 'datapath opened');
    return new NodeDatapath(dp, opts);
  }

  /** The agent's hook: every translation (with its policy model) into the maps. */
  syncTranslation(manifests: readonly Manifest[], translation: Translation, mesh?: MeshRedirect): void {
    const r = this.controller.syncTranslation(manifests, translation, mesh);
    if (!r) return;
    for (const u of r.unsupported) this.opts.logger.warn(u);
    this.opts.logger.debug({ localEndpoints: r.localEndpoints.length, policyWrites: r.policyWrites, identityCacheWrites: r.identityCacheWrites, services: r.services }, 'datapath synced');
  }

  /** The datapath's flow ring buffer (the node's flow agent reads it). */
  get flowsMapFd(): number {
    return this.dp.flowsMapFd;
  }

  /** The datapath handle (its maps, for metrics). */
  get datapath(): Datapath {
    return this.dp;
  }

  /**
   * Whether every pod the endpoint map knows still has weft-cni's program on its veth (tc ingress, in this node's
   * namespace): a pod whose program is gone is neither policed nor redirected. Read from `ip` and `tc`, as an
   * operator would check it by hand.
   */
  async endpointPrograms(): Promise<{ attached: number; missing: string[] }> {
    const ifindexes = new Set<number>();
    for (const key of this.dp.maps.endpoints.keys()) {
      const value = this.dp.maps.endpoints.lookup(key);
      if (value) ifindexes.add(decodeEndpointInfo(value).ifindex);
    }
    const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifindex: number; ifname: string }>;
    const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
    let attached = 0;
    const missing: string[] = [];
    for (const ifindex of ifindexes) {
      const name = names.get(ifindex);
      const filters = name ? (JSON.parse((await run('tc', ['-j', 'filter', 'show', 'dev', name, 'ingress'])).stdout || '[]') as Array<{ options?: { bpf_name?: string } }>) : [];
      if (filters.some((f) => f.options?.bpf_name?.startsWith('from_pod'))) attached++;
      else missing.push(name ?? `ifindex ${ifindex}`);
    }
    return { attached, missing };
  }

  /** Closes the agent's handle; the pinned maps (and the pods' programs) stay for the CNI plugin and the next agent. */
  close(): void {
    this.dp.close();
  }
}

/** `ip rule fwmark DELIVER_MARK lookup PROXY_TABLE` and a local default route there, each added once. */
async function ensureProxyRoute(): Promise<void> {
  const mark = `0x${DELIVER_MARK.toString(16)}`;
  const rules = (await run('ip', ['rule', 'show'])).stdout;
  if (!rules.split('\n').some((l) => l.includes(`fwmark ${mark}/${mark}`) && l.includes(`lookup ${PROXY_TABLE}`))) {
    await run('ip', ['rule', 'add', 'fwmark', `${mark}/${mark}`, 'lookup', PROXY_TABLE]);
  }
  await run('ip', ['route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', PROXY_TABLE]);
}

/**
 * A connection from another node to a local pod's L7-policed port is the proxy's (the datapath hands it over on the
 * pod's veth), but its packets arrive on the uplink addressed to the pod: TCP early demux would find the proxy's
 * socket by that address before routing, and a packet with a socket is never forwarded (ip_forward drops it), so
 * it would not reach the veth. Off, the lookup happens once, after the veth's program assigned the socket.
 */
async function disableTcpEarlyDemux(): Promise<void> {
  await writeFile('/proc/sys/net/ipv4/tcp_early_demux', '0');
}
