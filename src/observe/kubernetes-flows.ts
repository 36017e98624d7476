// Flows in `weft agent` (Kubernetes mode): the node's flow agent runs in the agent's process. The node Envoy's
// Gateway and Ingress listeners stream their access log to it over gRPC, it follows the L7 policy listeners' access
// log file, the datapath's ring buffer feeds it when the datapath's maps are pinned on this node, and the API
// server's Pods, Services and Namespaces name the ends of flows.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { Datapath } from '../datapath/datapath.js';
import type { RotationReader } from '../l7policy/access-log-limit.js';
import type { Logger } from '../log/logger.js';
import type { TranslateOptions } from '../standalone/pipeline.js';
import type { AccessLogServiceTarget } from '../xds/translator/access-log-service.js';
import { FlowAgent } from './agent.js';
import { KubernetesDirectory } from './kubernetes-directory.js';
import type { MtlsMaterial } from './mtls.js';

/** The pinned map the datapath's flow events go through: present once the datapath runs on this node. */
export const FLOWS_MAP_PIN = 'weft_flows';

export interface NodeFlowsOptions {
  kubeConfig: k8s.KubeConfig;
  node: string;
  logger: Logger;
  /** host:port of the Observer API (the relay and `weft observe` connect here). */
  listen: string;
  /** host:port (loopback) of the access log service the node's Envoy streams Gateway and Ingress requests to. */
  accessLogListen: string;
  mtls?: MtlsMaterial;
  /** The datapath's pin directory; its flow events are read only when its ring buffer is pinned there. */
  bpfPinRoot?: string;
  /** The ring buffer of a datapath this process already opened (weft agent --datapath): read instead. */
  flowsMapFd?: number;
  ringCapacity?: number;
  /** Where to count flows (the agent's /metrics). */
  registry?: Registry;
}

export class NodeFlows {
  private constructor(readonly agent: FlowAgent, private readonly directory: KubernetesDirectory, private readonly datapath: Datapath | undefined, readonly accessLogService: AccessLogServiceTarget) {}

  static async start(o: NodeFlowsOptions): Promise<NodeFlows> {
    const pinned = o.flowsMapFd === undefined && o.bpfPinRoot !== undefined && existsSync(path.join(o.bpfPinRoot, FLOWS_MAP_PIN));
    if (o.flowsMapFd === undefined && !pinned) o.logger.info({ pinRoot: o.bpfPinRoot }, 'no datapath on this node (no pinned flow ring buffer): L7 flows only');
    const datapath = pinned ? Datapath.open({ pinRoot: o.bpfPinRoot }) : undefined;
    const flowsMapFd = o.flowsMapFd ?? datapath?.flowsMapFd;
    let agent: FlowAgent;
    try {
      agent = await FlowAgent.start({
        node: o.node, listen: o.listen, accessLogListen: o.accessLogListen,
        ...(o.mtls ? { mtls: o.mtls } : {}), ...(flowsMapFd !== undefined ? { flowsMapFd } : {}), ...(o.ringCapacity ? { ringCapacity: o.ringCapacity } : {}),
        ...(o.registry ? { registry: o.registry } : {}), logger: o.logger,
      });
    } catch (err) {
      datapath?.close();
      throw err;
    }
    const directory = new KubernetesDirectory(o.kubeConfig, o.node, o.logger, (d) => (agent.directory = d));
    // Envoy runs in the same network namespace: the listen address may be a wildcard, Envoy dials loopback.
    const host = o.accessLogListen.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const address = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return new NodeFlows(agent, directory, datapath, { address, port: agent.accessLogPort });
  }

  /** The node agent's translate options: Gateway and Ingress listeners stream here, L7 policy's lines carry what flows need. */
  translateOptions(base: TranslateOptions): TranslateOptions {
    return { ...base, accessLogService: this.accessLogService, l7: { ...base.l7, accessLogForFlows: true } };
  }

  /** Follows the L7 policy listeners' access log file (the node agent's; its size limit rotates around the tail). */
  followL7AccessLog(file: string): RotationReader {
    return this.agent.followL7AccessLog(file);
  }

  async stop(): Promise<void> {
    await this.directory.stop();
    this.agent.stop();
    this.datapath?.close();
  }
}
