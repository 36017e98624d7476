// `weft observe`, `weft relay` and `weft flows-agent`: flows from one node or, through the relay, the cluster.
// The commands and their flags; what they do is in observe-actions.ts, imported when one runs (see main.ts).
import type { Command } from 'commander';
import { DEFAULT_PIN_ROOT } from '../datapath/datapath.js';
import { FILTER_PARAMS, type FilterParam } from '../observe/filter-params.js';
import { DEFAULT_AGENT_FLOW_PORT } from './agent-flow-flags.js';
import type { FlowsAgentFlags, ObserveFlags, RelayFlags } from './observe-actions.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

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
  cmd.action(async (opts: ObserveFlags) => {
    const { printFlows } = await import('./observe-actions.js');
    await printFlows(opts);
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
    .action(async (opts: RelayFlags) => {
      const { runRelay } = await import('./observe-actions.js');
      await runRelay(opts);
    });

  program
    .command('flows-agent')
    .description('run one node\'s flow agent: datapath flow events and the node proxy\'s access log → flows, served to weft observe and the relay')
    .requiredOption('--node <name>', 'this node\'s name')
    .option('--listen <host:port>', 'where to serve the flow API', '0.0.0.0:4244')
    .option('--access-log-listen <host:port>', 'where the node\'s Envoy streams its Gateway and Ingress listeners\' access log (loopback)', '127.0.0.1:4246')
    .option('--l7-access-log <file>', 'the L7 policy listeners\' access log file to follow (Weft translated with flows on: `weft run --flows-listen`, `weft agent`)')
    .option('--tls-dir <dir>', 'the agent\'s SVID files (svid.pem, svid.key, bundle.pem); without it, plaintext')
    .option('--bpf-pin-root <dir>', 'the datapath\'s pinned maps (its flow ring buffer); "none" for no datapath flows', DEFAULT_PIN_ROOT)
    .option('-c, --config <dir>', 'manifests (Pods, Services, Namespaces) that name the addresses and identities flows show')
    .option('--kubernetes', 'name them from the API server\'s Pods, Services and Namespaces instead (kept current)', false)
    .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--ring <n>', 'flows kept in memory', '65536')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz here (plain HTTP)')
    .action(async (opts: FlowsAgentFlags) => {
      const { runFlowsAgent } = await import('./observe-actions.js');
      await runFlowsAgent(opts);
    });
}
