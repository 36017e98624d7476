#!/usr/bin/env node
// The `weft` command.
import path from 'node:path';
import { Command } from 'commander';
import type { CaCliOptions } from '../mtls/cli.js';
import { trustDomainProblem } from '../mtls/spiffe-id.js';
import type { TranslateOutputType } from './translate.js';
import { addDevClusterCommands } from './dev-cluster.js';
import { addIngressFlags, ingressOptionsFromFlags, type IngressFlags } from './ingress-flags.js';
import { DEFAULT_MESH_INBOUND_PORT, DEFAULT_MESH_OUTBOUND_PORT, DEFAULT_MESH_TRANSPARENT_PORT } from '../kubernetes/mesh-ports.js';
import { addAgentFlowFlags, agentFlowFlags, type AgentFlowFlagValues } from './agent-flow-flags.js';
import { addObserveCommands } from './observe.js';
import { addOpsCommands } from './ops.js';

// Each command's implementation is imported when that command runs (`await import(...)` in its action):
// loading them all costs over a second of CPU at every start, `weft --help` and `weft version` included.
// The modules imported above only define commands and check flags.

const program = new Command();
program.name('weft').description('Weft: a sidecarless service mesh centred on Envoy').showHelpAfterError();

program
  .command('version')
  .description('print the versions of Weft, Node and the Envoy binary Weft would use')
  .action(async () => {
    const { printVersion } = await import('./version.js');
    await printVersion();
  });

program
  .command('demo')
  .description('start the control plane and a local Envoy with a small demo configuration')
  .option('--port <port>', 'port of the demo HTTP listener on 127.0.0.1', '10080')
  .option('--admin-port <port>', 'port of Weft\'s own admin endpoint (/metrics, /debug/xds) on 127.0.0.1', '9901')
  .option('--protocol <protocol>', 'xDS flavour Envoy uses: delta or sotw', 'delta')
  .action(async (opts: { port: string; adminPort: string; protocol: string }) => {
    if (opts.protocol !== 'delta' && opts.protocol !== 'sotw') throw new Error(`--protocol must be delta or sotw, not ${opts.protocol}`);
    const { runDemo } = await import('./demo.js');
    await runDemo({ port: parsePort(opts.port, '--port'), adminPort: parsePort(opts.adminPort, '--admin-port'), protocol: opts.protocol });
  });

const runCommand = program
  .command('run')
  .description('serve a directory of Gateway API and Ingress manifests to a local Envoy that Weft starts and supervises; follows every change to the directory')
  .requiredOption('-c, --config <dir>', 'directory of YAML manifests')
  .option('--protocol <protocol>', 'xDS flavour Envoy uses: delta or sotw', 'delta')
  .option('--admin-port <port>', 'port of Weft\'s own admin endpoint (/metrics, /debug/xds) on 127.0.0.1', '9901')
  .option('--demo-backends', 'also start the quickstart\'s demo backends (blue on 127.0.0.1:18081, green on 127.0.0.1:18082)', false)
  .option('--l7-access-log <file>', 'where Envoy writes the JSON access log of requests under L7 policy (default: a file in Weft\'s temporary directory)')
  .option('--l7-access-log-max-mib <MiB>', 'size limit of the L7 access log file: past it, its lines move to <file>.1 and the file starts again', '100')
  .option('--l7-egress-proxy-port <port>', 'the HTTP proxy (127.0.0.1) through which pods with egress HTTP rules reach any destination under those rules', '15010')
  .option('--flows-listen <host:port>', 'also serve flows (L7 requests; with --flows-bpf-pin-root also the datapath\'s) to `weft observe` and `weft relay` here')
  .option('--flows-tls-dir <dir>', 'mutual TLS for the flow API: svid.pem, svid.key, bundle.pem (`weft ca issue`)')
  .option('--flows-bpf-pin-root <dir>', 'the datapath\'s pinned maps, whose ring buffer holds L3/L4 flow events')
  .option('--node <name>', 'the node name flows carry', 'standalone')
  .option('--mesh-trust-domain <domain>', 'trust domain of the mesh that starts when a CiliumNetworkPolicy requires authentication', 'cluster.local')
  .option('--mesh-ca-dir <dir>', 'the mesh CA root\'s directory (`weft ca init`; default: a new root in Weft\'s temporary directory)')
  .option('--mesh-outbound-port <port>', 'where pods send to reach policed pods over the mesh (127.0.0.1)', '15001')
  .option('--mesh-inbound-port <port>', 'the mesh\'s inbound mutual-TLS listener (127.0.0.1)', '15008')
  .action(async (opts: { config: string; protocol: string; adminPort: string; demoBackends: boolean; l7AccessLog?: string; l7AccessLogMaxMib: string; l7EgressProxyPort: string; flowsListen?: string; flowsTlsDir?: string; flowsBpfPinRoot?: string; node: string; meshTrustDomain: string; meshCaDir?: string; meshOutboundPort: string; meshInboundPort: string; meshTransparentPort: string } & IngressFlags) => {
    if (opts.protocol !== 'delta' && opts.protocol !== 'sotw') throw new Error(`--protocol must be delta or sotw, not ${opts.protocol}`);
    const egressProxy = { address: '127.0.0.1', port: parsePort(opts.l7EgressProxyPort, '--l7-egress-proxy-port') };
    const translate = { ingress: ingressOptionsFromFlags(opts), l7: { egressProxy, ...(opts.l7AccessLog ? { accessLogPath: path.resolve(opts.l7AccessLog) } : {}) } };
    const flows = opts.flowsListen ? { node: opts.node, listen: opts.flowsListen, ...(opts.flowsTlsDir ? { tlsDir: opts.flowsTlsDir } : {}), ...(opts.flowsBpfPinRoot ? { bpfPinRoot: opts.flowsBpfPinRoot } : {}) } : undefined;
    const badTrustDomain = trustDomainProblem(opts.meshTrustDomain);
    if (badTrustDomain) throw new Error(`--mesh-trust-domain: ${badTrustDomain}`);
    const mesh = {
      trustDomain: opts.meshTrustDomain,
      outboundPort: parsePort(opts.meshOutboundPort, '--mesh-outbound-port'),
      inboundPort: parsePort(opts.meshInboundPort, '--mesh-inbound-port'),
      ...(opts.meshCaDir ? { caDir: path.resolve(opts.meshCaDir) } : {}),
    };
    const { runStandalone } = await import('./run.js');
    await runStandalone({ dir: opts.config, protocol: opts.protocol, adminPort: parsePort(opts.adminPort, '--admin-port', true), demoBackends: opts.demoBackends, translate, mesh, ...(flows ? { flows } : {}), l7AccessLogMaxBytes: parseMib(opts.l7AccessLogMaxMib, '--l7-access-log-max-mib') });
  });
addIngressFlags(runCommand);

const translateCommand = program
  .command('translate')
  .description('print the status of every object and the xDS resources Weft computes from a directory of manifests, without starting anything')
  .requiredOption('-c, --config <dir>', 'directory of YAML manifests')
  .option('-o, --output <format>', 'yaml or json', 'yaml')
  .option('--type <type>', 'status, xds or all', 'all')
  .action(async (opts: { config: string; output: string; type: string } & IngressFlags) => {
    if (opts.output !== 'yaml' && opts.output !== 'json') throw new Error(`--output must be yaml or json, not ${opts.output}`);
    if (!['status', 'xds', 'all'].includes(opts.type)) throw new Error(`--type must be status, xds or all, not ${opts.type}`);
    const { printTranslation } = await import('./translate.js');
    process.exitCode = printTranslation(opts.config, opts.output, opts.type as TranslateOutputType, { ingress: ingressOptionsFromFlags(opts) });
  });
addIngressFlags(translateCommand);

const operatorCommand = program
  .command('operator')
  .description('run Weft\'s control plane against a Kubernetes API server: translate Gateway API objects and write their statuses (one active replica, through a Lease)')
  .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
  .option('--lease-namespace <namespace>', 'namespace of the leader-election Lease', 'kube-system')
  .option('--gateway-address-pool <range>', 'addresses for Gateways that ask for one: A.B.C.D-A.B.C.E or a CIDR (without it they are Programmed False AddressNotAssigned)')
  .option('--health-port <port>', 'serve /healthz, /readyz and /metrics on this port (all addresses)')
  .option('--mutual-auth', 'mesh mTLS: keep the CA root in the Secret weft-mtls-ca (created if absent, never overwritten), publish the trust bundle in the ConfigMap weft-mtls-trust-bundle, and sign the node agents\' intermediates (CertificateSigningRequests of weft.dev/mesh-node-intermediate)')
  .option('--trust-domain <name>', 'the SPIFFE trust domain of the mesh (--mutual-auth)', 'cluster.local')
  .option('--ca-namespace <namespace>', 'namespace of the CA Secret and the trust bundle ConfigMap (default: --lease-namespace)')
  .option('--tls-secrets-namespace <namespace>', 'copy every kubernetes.io/tls Secret into this namespace, where agents started with the same flag read them (so agents need no Secret access elsewhere; not the --ca-namespace)')
  .option('--agent-service-account <name>', 'the node agents\' ServiceAccount in --ca-namespace: the only requester whose mesh intermediates the operator signs (--mutual-auth)', 'weft-agent')
  .action(async (opts: { kubeconfig?: string; leaseNamespace: string; gatewayAddressPool?: string; healthPort?: string; mutualAuth?: boolean; trustDomain: string; caNamespace?: string; agentServiceAccount: string; tlsSecretsNamespace?: string } & IngressFlags) => {
    const { mutualAuth, agentServiceAccount, ...rest } = opts;
    const { runOperator } = await import('./operator.js');
    await runOperator({ ...rest, ingress: ingressOptionsFromFlags(opts), healthPort: opts.healthPort === undefined ? undefined : parsePort(opts.healthPort, '--health-port'),
      ...(mutualAuth ? { mutualAuth: { namespace: opts.caNamespace ?? opts.leaseNamespace, trustDomain: opts.trustDomain, agentServiceAccount } } : {}) });
  });
// Ingress addresses are computed from these options by the operator and every agent alike: give them the same.
addIngressFlags(operatorCommand);

const agentCommand = program
  .command('agent')
  .description('run Weft on one Kubernetes node: translate what the API server holds and serve it to the node\'s Envoy, which the agent starts and supervises')
  .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
  .option('--node <name>', 'this node\'s name (default: $NODE_NAME, else the host name)')
  .option('--announce-interface <name>', 'put the Gateway addresses on this interface (/32), so the node answers for them')
  .option('--announce-lease-namespace <namespace>', 'namespace of the per-address Leases weft-l2announce-<address> that elect one announcer per address', 'kube-system')
  .option('--announce-lease-duration <seconds>', 'how long an announcement Lease lasts without renewal (Cilium\'s l2announcements.leaseDuration)', '15')
  .option('--announce-lease-retry-period <seconds>', 'how often a holder renews and a candidate retries (leaseRetryPeriod)', '2')
  .option('--protocol <protocol>', 'xDS flavour Envoy uses: delta or sotw', 'delta')
  .option('--xds-socket <path>', 'UNIX socket to serve xDS on (default: a private temporary one)')
  .option('--envoy <mode>', 'managed: start and supervise Envoy; external: Envoy runs as `weft envoy` and survives agent restarts', 'managed')
  .option('--health-port <port>', 'serve /healthz, /readyz (Envoy ACKed the configuration) and /metrics on this port (all addresses)')
  .option('--datapath', 'drive the eBPF datapath and L7 policy: watch Pods and network policies, write the maps weft-cni pinned, redirect L7-policed ports into Envoy\'s transparent listener')
  .option('--bpf-pin-root <dir>', 'where weft-cni pinned the datapath maps (its bpfPinRoot)')
  .option('--proxy-port <port>', 'port of the node Envoy\'s transparent listener (--datapath)', '15001')
  .option('--node-ip <ips>', 'the node\'s own addresses, comma-separated (the host entity, NodePorts); default: this network namespace\'s')
  .option('--mutual-auth', 'mesh mTLS: sign the SVIDs of this node\'s pods (through an intermediate the operator signs) and serve Envoy the mesh listeners')
  .option('--trust-domain <name>', 'the SPIFFE trust domain of the mesh (--mutual-auth; the operator\'s)', 'cluster.local')
  .option('--ca-namespace <namespace>', 'namespace of the trust bundle ConfigMap weft-mtls-trust-bundle (--mutual-auth; the operator\'s)', 'kube-system')
  .option('--tls-secrets-namespace <namespace>', 'read TLS Secrets only from the operator\'s copies in this namespace (the operator\'s --tls-secrets-namespace), not from every namespace')
  .option('--mesh-outbound-port <port>', 'port of the mesh outbound listener, where this node\'s pods send (--mutual-auth)', String(DEFAULT_MESH_OUTBOUND_PORT))
  .option('--mesh-inbound-port <port>', 'port of the mesh inbound (mTLS) listener, where other nodes connect (--mutual-auth)', String(DEFAULT_MESH_INBOUND_PORT))
  .option('--mesh-transparent-port <port>', 'port of the mesh transparent listener, where the datapath redirects this node\'s pods\' connections to other nodes\' pods (--mutual-auth with --datapath)', String(DEFAULT_MESH_TRANSPARENT_PORT))
  .option('--l7-access-log-max-mib <MiB>', 'size limit of the L7 access log file: past it, its lines move to <file>.1 and the file starts again', '100')
  .action(async (opts: { kubeconfig?: string; node?: string; announceInterface?: string; announceLeaseNamespace: string; announceLeaseDuration: string;
    announceLeaseRetryPeriod: string; protocol: string; xdsSocket?: string; envoy: string; healthPort?: string; datapath?: boolean; bpfPinRoot?: string; proxyPort: string; nodeIp?: string;
    mutualAuth?: boolean; trustDomain: string; caNamespace: string; tlsSecretsNamespace?: string; meshOutboundPort: string; meshInboundPort: string; meshTransparentPort: string; l7AccessLogMaxMib: string } & IngressFlags & AgentFlowFlagValues) => {
    const { runAgent } = await import('./agent.js');
    await runAgent({
      ...opts, ingress: ingressOptionsFromFlags(opts), healthPort: opts.healthPort === undefined ? undefined : parsePort(opts.healthPort, '--health-port'),
      proxyPort: parsePort(opts.proxyPort, '--proxy-port'), ...(opts.nodeIp ? { nodeIps: opts.nodeIp.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      flows: agentFlowFlags(opts),
      announceLeases: announceLeaseFlags(opts),
      l7AccessLogMaxBytes: parseMib(opts.l7AccessLogMaxMib, '--l7-access-log-max-mib'),
      ...(opts.mutualAuth ? { mesh: { trustDomain: opts.trustDomain, caNamespace: opts.caNamespace,
        outboundPort: parsePort(opts.meshOutboundPort, '--mesh-outbound-port'), inboundPort: parsePort(opts.meshInboundPort, '--mesh-inbound-port'),
        transparentPort: parsePort(opts.meshTransparentPort, '--mesh-transparent-port') } } : {}),
    });
  });
addIngressFlags(agentCommand);
addAgentFlowFlags(agentCommand);

program
  .command('envoy')
  .description('run the node\'s Envoy on its own (supervised), configured by `weft agent --envoy external` over a UNIX socket')
  .requiredOption('--node <name>', 'the node\'s name, as the agent knows it')
  .requiredOption('--xds-socket <path>', 'the agent\'s xDS socket')
  .option('--protocol <protocol>', 'xDS flavour: delta or sotw', 'delta')
  .action(async (opts: { node: string; xdsSocket: string; protocol: string }) => {
    const { runEnvoy } = await import('./envoy.js');
    await runEnvoy(opts);
  });

program
  .command('install-cni')
  .description('install Weft\'s CNI plugin and its configuration (with the node\'s pod CIDR) into the host\'s CNI directories (the agent\'s init container)')
  .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
  .option('--node <name>', 'this node\'s name (default: $NODE_NAME)')
  .requiredOption('--conf-template <file>', 'CNI configuration list whose weft-cni plugin gets the node\'s podCIDR')
  .requiredOption('--conf-dir <dir>', 'the host\'s CNI configuration directory')
  .requiredOption('--conf-name <name>', 'file name of the configuration in --conf-dir')
  .option('--plugin <file>', 'the weft-cni plugin to copy into --bin-dir')
  .option('--bin-dir <dir>', 'the host\'s CNI binary directory')
  .action(async (opts: { kubeconfig?: string; node?: string; confTemplate: string; confDir: string; confName: string; plugin?: string; binDir?: string }) => {
    const { runInstallCni } = await import('./install-cni.js');
    await runInstallCni(opts);
  });

addDevClusterCommands(program);
addObserveCommands(program);
addOpsCommands(program);

program
  .command('connectivity')
  .description('check the mesh\'s paths end to end')
  .command('test')
  .description('deploy test workloads and check pod-to-pod, pod-to-service, gateway, L7 policy allow/deny and mutual auth; exit 1 if a check fails')
  .option('--standalone', 'on this machine, in network namespaces the command creates and removes (root)')
  .option('--kubeconfig <file>', 'against a Kubernetes cluster (not implemented yet)')
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (opts: { standalone?: boolean; kubeconfig?: string; output: string }) => {
    const { runConnectivityTest } = await import('../connectivity/command.js');
    process.exitCode = await runConnectivityTest(opts);
  });

// Mutual authentication (src/mtls/): the standalone CA on files, and the SPIFFE Workload API.
const ca = program.command('ca').description('the SPIFFE certificate authority of a trust domain, on files (standalone mode)');
const caOptions = (c: Command): Command =>
  c
    .requiredOption('-d, --dir <dir>', 'directory of the CA root (created with mode 0700; the key is written with mode 0600)')
    .requiredOption('-t, --trust-domain <name>', 'the SPIFFE trust domain, e.g. cluster.local')
    .option('--root-cert <file>', 'use this root certificate (PEM) instead of the one in --dir')
    .option('--root-key <file>', 'the key of --root-cert (PEM, not readable by group or others)');
caOptions(ca.command('init').description('create the root CA in --dir (or check the existing or supplied one) and print its fingerprint')).action(async (o: CaCliOptions) => (await import('../mtls/cli.js')).caInit(o));
caOptions(ca.command('issue').description('issue an X.509-SVID as files: svid.pem (chain), svid.key (0600), bundle.pem'))
  .requiredOption('--id <spiffe-id>', 'the SPIFFE ID, e.g. spiffe://cluster.local/ns/default/sa/web')
  .requiredOption('-o, --out <dir>', 'where to write the files')
  .option('--ttl <duration>', 'lifetime (1h, 30m, 90s)', '1h')
  .action(async (o: CaCliOptions & { id: string; out: string; ttl: string }) => (await import('../mtls/cli.js')).caIssue(o));
caOptions(program.command('workload-api').description('serve the SPIFFE Workload API, one UNIX socket per identity (<DIR>/agent.sock), until interrupted'))
  .option('--socket <id=dir>', 'a SPIFFE ID and the directory of its socket (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--ttl <duration>', 'SVID lifetime (renewed at half-life)', '1h')
  .action(async (o: CaCliOptions & { socket: string[]; ttl: string }) => {
    const { serveWorkloadApi } = await import('../mtls/cli.js');
    await serveWorkloadApi(o);
  });

function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number of seconds, not ${value}`);
  return Math.round(n * 1000);
}

/** The announcement Leases' timings: the holder must renew several times within the duration. */
function announceLeaseFlags(o: { announceLeaseNamespace: string; announceLeaseDuration: string; announceLeaseRetryPeriod: string }) {
  const durationMs = parseSeconds(o.announceLeaseDuration, '--announce-lease-duration');
  const retryPeriodMs = parseSeconds(o.announceLeaseRetryPeriod, '--announce-lease-retry-period');
  if (retryPeriodMs * 2 > durationMs) throw new Error('--announce-lease-retry-period must be at most half of --announce-lease-duration');
  return { namespace: o.announceLeaseNamespace, durationMs, retryPeriodMs };
}

/** A size in MiB (fractions allowed, e.g. 0.5), in bytes. */
function parseMib(value: string, flag: string): number {
  const mib = Number(value);
  if (!Number.isFinite(mib) || mib <= 0) throw new Error(`${flag} must be a positive number of MiB, not "${value}"`);
  return Math.ceil(mib * 1024 * 1024);
}

function parsePort(value: string, flag: string, allowZero = false): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw new Error(`${flag} must be a port number (1-65535), not "${value}"`);
  return port;
}

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`weft: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
