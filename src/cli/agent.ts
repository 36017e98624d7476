// `weft agent`: the per-node half of Weft on Kubernetes (serves the node's Envoy).
import * as k8s from '@kubernetes/client-node';
import { hostname } from 'node:os';
import type { IngressOptions } from '../ingress/options.js';
import { createLogger } from '../log/logger.js';
import { NodeAgent, type AgentOptions } from '../kubernetes/agent.js';
import { NodeDatapath } from '../kubernetes/node-datapath.js';
import { NodeMesh } from '../kubernetes/node-mesh.js';
import { DEFAULT_PIN_ROOT } from '../datapath/datapath.js';
import { networkInterfaces } from 'node:os';
import { startHealthServer } from '../kubernetes/health-server.js';
import { processRegistry } from '../metrics/registry.js';
import { CertificateMetrics } from '../metrics/certificates.js';
import { registerDatapathMetrics, registerEndpointProgramMetrics } from '../metrics/datapath.js';
import { NodeFlows } from '../observe/kubernetes-flows.js';
import { mtlsFromDir } from '../observe/mtls.js';

/** The node's flow agent (on unless --no-flows). */
export interface AgentFlowFlags { flows: boolean; flowsListen: string; flowsAccessLogListen: string; flowsTlsDir?: string; flowsBpfPinRoot: string; flowsRing: number }

export interface AgentFlags {
  kubeconfig?: string; node?: string; announceInterface?: string; announceLeases?: AgentOptions['announceLeases']; protocol: string; xdsSocket?: string; envoy: string; healthPort?: number; ingress?: IngressOptions;
  /** L7 policy and the eBPF datapath from the API server (pinned maps shared with weft-cni). */
  datapath?: boolean; bpfPinRoot?: string; proxyPort?: number; nodeIps?: string[];
  flows?: AgentFlowFlags;
  /** Mesh mTLS (--mutual-auth). */
  mesh?: { trustDomain: string; caNamespace: string; outboundPort: number; inboundPort: number; transparentPort?: number };
  /** Read TLS Secrets only from the operator's copies in this namespace. */
  tlsSecretsNamespace?: string;
  l7AccessLogMaxBytes?: number;
}

export async function runAgent(flags: AgentFlags): Promise<void> {
  if (flags.protocol !== 'delta' && flags.protocol !== 'sotw') throw new Error(`--protocol must be delta or sotw, not ${flags.protocol}`);
  if (flags.envoy !== 'managed' && flags.envoy !== 'external') throw new Error(`--envoy must be managed or external, not ${flags.envoy}`);
  if (flags.envoy === 'external' && !flags.xdsSocket) throw new Error('--envoy external needs --xds-socket (where `weft envoy` connects)');
  const kc = new k8s.KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  // In a DaemonSet the node name comes from the downward API (spec.nodeName → NODE_NAME).
  const nodeName = flags.node ?? process.env.NODE_NAME ?? hostname();
  const log = createLogger('agent');
  // The node's own addresses (the `host` entity of policies, NodePorts): as given, else this network namespace's.
  const nodeIps = flags.nodeIps?.length ? flags.nodeIps
    : Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal && a.family === 'IPv4').map((a) => a!.address);
  const datapath = flags.datapath
    ? await NodeDatapath.open({ pinRoot: flags.bpfPinRoot ?? DEFAULT_PIN_ROOT, proxyPort: flags.proxyPort ?? 15001, nodeIps, logger: log.child({ component: 'datapath' }) })
    : undefined;
  const registry = processRegistry();
  if (datapath) {
    registerDatapathMetrics(registry, datapath.datapath);
    registerEndpointProgramMetrics(registry, () => datapath.endpointPrograms());
  }
  const f = flags.flows;
  if (f?.flows && !f.flowsTlsDir) log.warn({ listen: f.flowsListen }, 'flows are served without TLS (--flows-tls-dir names the SVID files): anyone who reaches this port reads them');
  const flows = f?.flows ? await NodeFlows.start({
    kubeConfig: kc, node: nodeName, logger: log.child({ component: 'flows' }), listen: f.flowsListen, accessLogListen: f.flowsAccessLogListen,
    bpfPinRoot: f.flowsBpfPinRoot, ...(datapath ? { flowsMapFd: datapath.flowsMapFd } : {}), ringCapacity: f.flowsRing, registry, ...(f.flowsTlsDir ? { mtls: mtlsFromDir(f.flowsTlsDir) } : {}),
  }) : undefined;
  if (flows) log.info({ port: flows.agent.observerPort, accessLogPort: flows.agent.accessLogPort }, 'flows served (weft observe, weft relay)');
  // With the datapath, pods enter the mesh transparently (their connections to other nodes' pods are redirected).
  const meshOptions = flags.mesh && { ...flags.mesh, nodeName };
  if (meshOptions && !datapath) delete meshOptions.transparentPort;
  const mesh = meshOptions ? new NodeMesh(kc, meshOptions, log.child({ component: 'mesh' })) : undefined;
  if (mesh) CertificateMetrics.of(registry).add(() => mesh.certificates());
  const agent = new NodeAgent({
    ...(mesh ? { mesh } : {}),
    ...(datapath ? { datapath, l7: { transparent: datapath.transparent, hostIps: nodeIps } } : {}),
    kubeConfig: kc, nodeName, logger: log, protocol: flags.protocol,
    ...(flags.announceInterface ? { announceInterface: flags.announceInterface } : {}),
    ...(flags.announceLeases ? { announceLeases: flags.announceLeases } : {}),
    ...(flags.xdsSocket ? { xdsSocket: flags.xdsSocket } : {}),
    manageEnvoy: flags.envoy === 'managed', registry,
    ...(flags.ingress ? { ingress: flags.ingress } : {}),
    ...(flows ? { flows } : {}),
    ...(flags.tlsSecretsNamespace ? { tlsSecretsNamespace: flags.tlsSecretsNamespace } : {}),
    ...(flags.l7AccessLogMaxBytes ? { l7AccessLogMaxBytes: flags.l7AccessLogMaxBytes } : {}),
  });
  let announcedSync = false;
  agent.on('synced', () => {
    if (announcedSync) return;
    announcedSync = true;
    process.stdout.write(`weft agent: ready: node ${nodeName}, Envoy ACKed the configuration\n`);
  });
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      log.info('stopping');
      void agent.stop().then(() => flows?.stop()).then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await agent.start();
  // Ready once Envoy holds the configuration the agent computed (probes: /readyz).
  const health = flags.healthPort === undefined ? undefined
    : await startHealthServer({ ready: () => announcedSync, registry: agent.registry, envoyAdminUrl: () => (agent.envoy?.adminPort ? agent.envoy.adminUrl : undefined) }, flags.healthPort);
  await stopped;
  datapath?.close();
  health?.close();
}
