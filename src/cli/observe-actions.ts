// What `weft observe`, `weft relay` and `weft flows-agent` do once their flags are parsed (observe.ts defines them;
// main.ts says why this module is imported only when one of them runs).
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../log/logger.js';
import { KubernetesDirectory } from '../observe/kubernetes-directory.js';
import { Datapath } from '../datapath/datapath.js';
import { FlowAgent } from '../observe/agent.js';
import { directoryFromIdentities, serviceRecords } from '../observe/directory-sources.js';
import { filterFromParams, type FilterParam } from '../observe/filter-params.js';
import { clientCredentials, mtlsFromDir } from '../observe/mtls.js';
import { observerClient, type GetFlowsResponse } from '../observe/observer-service.js';
import { formatFlow, type OutputFormat } from '../observe/output.js';
import { Relay } from '../observe/relay.js';
import { AgentDiscovery } from '../observe/agent-discovery.js';
import { serveServiceMap } from '../observe/service-map-server.js';
import { classifyManifests } from '../sources/kinds.js';
import { loadManifestDir } from '../sources/manifests.js';
import { translateManifests } from '../standalone/pipeline.js';
import { startHealthServer } from '../kubernetes/health-server.js';
import { registerDatapathMetrics } from '../metrics/datapath.js';
import { processRegistry } from '../metrics/registry.js';

function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`${flag} must be host:port, not "${text}"`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export type ObserveFlags = { server: string; tlsDir?: string; follow: boolean; last: string; output: string } & Partial<Record<string, string[]>>;
export interface RelayFlags { agent: string[]; kubernetes: boolean; kubeconfig?: string; agentPort: string; agentSelector?: string; agentNamespace?: string; listen: string; uiListen: string; tlsDir?: string }
export interface FlowsAgentFlags { node: string; listen: string; accessLogListen: string; l7AccessLog?: string; tlsDir?: string; bpfPinRoot: string; config?: string; kubernetes: boolean; kubeconfig?: string; ring: string; metricsListen?: string }

/** `weft observe`: prints the flows the agent or relay at --server holds (and, with --follow, new ones). */
export async function printFlows(opts: ObserveFlags): Promise<void> {
  if (!['compact', 'wide', 'json'].includes(opts.output)) throw new Error(`--output must be compact, wide or json, not ${opts.output}`);
  const last = Number(opts.last);
  if (!Number.isInteger(last) || last < 0) throw new Error(`--last must be a non-negative integer, not "${opts.last}"`);
  const camel = (p: string): string => p.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
  const filter = filterFromParams((name: FilterParam) => opts[camel(name)] ?? []);
  hostPort(opts.server, '--server');
  const credentials = opts.tlsDir ? clientCredentials(mtlsFromDir(opts.tlsDir)) : grpc.credentials.createInsecure();
  const client = observerClient(opts.server, credentials);
  const stream = client.GetFlows({ filter, number: last, follow: opts.follow });
  const stop = (): void => stream.cancel();
  process.once('SIGINT', stop);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (res: GetFlowsResponse) => {
      if (res.lost) process.stderr.write(`weft observe: ${res.lost} flows lost (this reader fell behind)\n`);
      for (const f of res.flows) process.stdout.write(`${formatFlow(f, opts.output as OutputFormat)}\n`);
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(new Error(`${opts.server}: ${err.details || err.message}`))));
    stream.on('end', () => resolve());
  });
  client.close();
}

/** `weft relay`: merges the agents' flows and serves them and the service map until a signal. */
export async function runRelay(opts: RelayFlags): Promise<void> {
  for (const a of opts.agent) hostPort(a, '--agent');
  if (opts.agent.length === 0 && !opts.kubernetes) throw new Error('name the agents (--agent host:port, repeatable) or find them with --kubernetes');
  const agentPort = Number(opts.agentPort);
  if (!Number.isInteger(agentPort) || agentPort < 1 || agentPort > 65535) throw new Error(`--agent-port must be a port number (1-65535), not "${opts.agentPort}"`);
  hostPort(opts.listen, '--listen');
  const ui = hostPort(opts.uiListen, '--ui-listen');
  const registry = processRegistry();
  const relay = await Relay.start({ agents: opts.agent, listen: opts.listen, registry, ...(opts.tlsDir ? { mtls: mtlsFromDir(opts.tlsDir) } : {}) });
  let discovery: AgentDiscovery | undefined;
  if (opts.kubernetes) {
    const kc = new k8s.KubeConfig();
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    const log = createLogger('relay');
    // Agents named with --agent stay beside the discovered ones.
    const fixed = opts.agent.map((address) => ({ address }));
    discovery = new AgentDiscovery(kc, { port: agentPort, ...(opts.agentSelector ? { podSelector: opts.agentSelector } : {}), ...(opts.agentNamespace ? { podNamespace: opts.agentNamespace } : {}) }, log, (agents) => {
      log.info({ agents: agents.map((a) => `${a.name}=${a.address}`) }, 'agents');
      relay.setAgents([...fixed, ...agents]);
    });
  }
  const page = await serveServiceMap(relay.ring, ui.host, ui.port, registry);
  process.stderr.write(`weft relay: flows on port ${relay.port}, service map on http://${ui.host}:${page.port}/\n`);
  await untilSignal();
  await discovery?.stop();
  relay.stop();
  page.server.close();
}

/** `weft flows-agent`: one node's flow agent, until a signal. */
export async function runFlowsAgent(opts: FlowsAgentFlags): Promise<void> {
  if (opts.config && opts.kubernetes) throw new Error('-c and --kubernetes are alternatives: names come from files or from the API server');
  hostPort(opts.listen, '--listen');
  hostPort(opts.accessLogListen, '--access-log-listen');
  const metricsAt = opts.metricsListen ? hostPort(opts.metricsListen, '--metrics-listen') : undefined;
  const registry = processRegistry();
  const ring = Number(opts.ring);
  if (!Number.isInteger(ring) || ring < 1) throw new Error(`--ring must be a positive integer, not "${opts.ring}"`);
  let directory;
  if (opts.config) {
    const loaded = loadManifestDir(opts.config);
    const t = translateManifests(loaded.manifests, loaded.problems);
    directory = directoryFromIdentities(opts.node, t.l7!.table, serviceRecords(classifyManifests(loaded.manifests).inputs.services));
  }
  const datapath = opts.bpfPinRoot === 'none' ? undefined : Datapath.open({ pinRoot: opts.bpfPinRoot });
  const agent = await FlowAgent.start({
    node: opts.node, listen: opts.listen, accessLogListen: opts.accessLogListen, ringCapacity: ring, registry, logger: createLogger('flows-agent'),
    ...(opts.tlsDir ? { mtls: mtlsFromDir(opts.tlsDir) } : {}), ...(datapath ? { flowsMapFd: datapath.flowsMapFd } : {}), ...(directory ? { directory } : {}),
  });
  if (datapath) registerDatapathMetrics(registry, datapath);
  // The file's size limit is its writer's (weft run, weft agent): a rotation costs this reader the lines the copy took.
  if (opts.l7AccessLog) agent.followL7AccessLog(path.resolve(opts.l7AccessLog));
  const health = metricsAt ? await startHealthServer({ ready: () => true, registry }, metricsAt.port, metricsAt.host) : undefined;
  let kube: KubernetesDirectory | undefined;
  if (opts.kubernetes) {
    const kc = new k8s.KubeConfig();
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    kube = new KubernetesDirectory(kc, opts.node, createLogger('flows-agent'), (d) => (agent.directory = d));
  }
  process.stderr.write(`weft flows-agent ${opts.node}: flows on port ${agent.observerPort}, access log service on port ${agent.accessLogPort}${health ? `, metrics on port ${(health.address() as { port: number }).port}` : ''}\n`);
  await untilSignal();
  await kube?.stop();
  health?.close();
  agent.stop();
  datapath?.close();
}
