// `weft observe`, `weft relay` and `weft flows-agent`: flows from one node or, through the relay, the cluster.
import * as grpc from '@grpc/grpc-js';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../log/logger.js';
import { KubernetesDirectory } from '../observe/kubernetes-directory.js';
import type { Command } from 'commander';
import { Datapath, DEFAULT_PIN_ROOT } from '../datapath/datapath.js';
import { FlowAgent } from '../observe/agent.js';
import { directoryFromIdentities, serviceRecords } from '../observe/directory-sources.js';
import { FILTER_PARAMS, filterFromParams, type FilterParam } from '../observe/filter-params.js';
import { clientCredentials, mtlsFromDir } from '../observe/mtls.js';
import { observerClient, type GetFlowsResponse } from '../observe/observer-service.js';
import { formatFlow, type OutputFormat } from '../observe/output.js';
import { Relay } from '../observe/relay.js';
import { AgentDiscovery } from '../observe/agent-discovery.js';
import { DEFAULT_AGENT_FLOW_PORT } from './agent-flow-flags.js';
import { serveServiceMap } from '../observe/service-map-server.js';
import { classifyManifests } from '../sources/kinds.js';
import { loadManifestDir } from '../sources/manifests.js';
import { translateManifests } from '../standalone/pipeline.js';
import { startHealthServer } from '../kubernetes/health-server.js';
import { registerDatapathMetrics } from '../metrics/datapath.js';
import { processRegistry } from '../metrics/registry.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

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

type ObserveOpts = { server: string; tlsDir?: string; follow: boolean; last: string; output: string } & Partial<Record<string, string[]>>;

async function observe(opts: ObserveOpts): Promise<void> {
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

export function addObserveCommands(program: Command): void {
  const cmd = program
    .command('observe')
    .description('print flows (connections and HTTP requests, forwarded or dropped) from one node\'s agent or from the relay')
    .option('-s, --server <host:port>', 'the agent (weft flows-agent) or relay (weft relay) to ask', '127.0.0.1:4245')
    .option('--tls-dir <dir>', 'mutual TLS: this client\'s SVID files (svid.pem, svid.key, bundle.pem from `weft ca issue`)')
    .option('-f, --follow', 'after the past flows, keep printing new ones', false)
    .option('--last <n>', 'at most the n newest past flows (0: all the ring holds)', '0')
    .option('-o, --output <format>', 'compact, wide or json', 'compact');
  const help: Record<FilterParam, string> = {
    pod: 'pod ([namespace/]name) on either side', 'from-pod': 'source pod', 'to-pod': 'destination pod', namespace: 'namespace on either side',
    label: 'label key=value (or key) on either side', identity: 'security identity on either side', verdict: 'FORWARDED, DROPPED, REDIRECTED, ERROR',
    'drop-reason': 'e.g. POLICY_DENIED, POLICY_DENY', protocol: 'TCP, UDP, ICMP, ICMPv6, HTTP', 'http-method': 'GET, POST, ...', 'http-path': 'path prefix',
    'http-status': 'HTTP status code', node: 'node name', type: 'L3_L4 or L7', since: 'time (RFC 3339) or duration ago (5m)', until: 'time (RFC 3339) or duration ago',
  };
  for (const p of FILTER_PARAMS) cmd.option(`--${p} <value>`, `${help[p]} (repeatable: any of them)`, collect, []);
  cmd.action(async (opts: ObserveOpts) => {
    await observe(opts);
  });

  program
    .command('relay')
    .description('merge the flows of every node\'s agent into one API (mutual TLS both ways) and serve the service map page (and /metrics beside it)')
    .option('--agent <host:port>', 'an agent\'s flow API (repeatable)', collect, [])
    .option('--kubernetes', 'find the agents from the API server (agent pods by --agent-selector, else every Node\'s InternalIP) and follow them as they come and go', false)
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--agent-port <port>', 'with --kubernetes: the agents\' flow port', String(DEFAULT_AGENT_FLOW_PORT))
    .option('--agent-selector <labels>', 'with --kubernetes: label selector of the agent pods (hostNetwork: a pod\'s address is its node\'s)')
    .option('--agent-namespace <namespace>', 'with --agent-selector: the agent pods\' namespace (default: every namespace)')
    .option('--listen <host:port>', 'where to serve the merged flow API', '0.0.0.0:4245')
    .option('--ui-listen <host:port>', 'where to serve the service map page (plain HTTP: keep it on loopback)', '127.0.0.1:12000')
    .option('--tls-dir <dir>', 'the relay\'s SVID files (svid.pem, svid.key, bundle.pem); without it, plaintext')
    .action(async (opts: { agent: string[]; kubernetes: boolean; kubeconfig?: string; agentPort: string; agentSelector?: string; agentNamespace?: string; listen: string; uiListen: string; tlsDir?: string }) => {
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
    });

  program
    .command('flows-agent')
    .description('run one node\'s flow agent: datapath flow events and the node proxy\'s access log → flows, served to weft observe and the relay')
    .requiredOption('--node <name>', 'this node\'s name')
    .option('--listen <host:port>', 'where to serve the flow API', '0.0.0.0:4244')
    .option('--access-log-listen <host:port>', 'where the node\'s Envoy streams its access log (loopback)', '127.0.0.1:4246')
    .option('--tls-dir <dir>', 'the agent\'s SVID files (svid.pem, svid.key, bundle.pem); without it, plaintext')
    .option('--bpf-pin-root <dir>', 'the datapath\'s pinned maps (its flow ring buffer); "none" for no datapath flows', DEFAULT_PIN_ROOT)
    .option('-c, --config <dir>', 'manifests (Pods, Services, Namespaces) that name the addresses and identities flows show')
    .option('--kubernetes', 'name them from the API server\'s Pods, Services and Namespaces instead (kept current)', false)
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--ring <n>', 'flows kept in memory', '65536')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz here (plain HTTP)')
    .action(async (opts: { node: string; listen: string; accessLogListen: string; tlsDir?: string; bpfPinRoot: string; config?: string; kubernetes: boolean; kubeconfig?: string; ring: string; metricsListen?: string }) => {
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
        node: opts.node, listen: opts.listen, accessLogListen: opts.accessLogListen, ringCapacity: ring, registry,
        ...(opts.tlsDir ? { mtls: mtlsFromDir(opts.tlsDir) } : {}), ...(datapath ? { flowsMapFd: datapath.flowsMapFd } : {}), ...(directory ? { directory } : {}),
      });
      if (datapath) registerDatapathMetrics(registry, datapath);
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
    });
}
