// The Helm chart (charts/weft, issue 10): linted, rendered over a matrix of values and validated strictly against the
// schemas of a real API server (kubeconform), its values schema rejecting bad values, applied with server-side dry
// run, and finally installed with helm on the local cluster, whose process kubelet runs the operator and the agent:
// the operator takes its Lease and writes the GatewayClass status under its own ServiceAccount, the agent reports
// ready, the ServiceAccounts can do what the code needs and no more, and an upgrade keeps the CRDs it installed.
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { controlPlaneBinaries } from '../src/devcluster/binaries.js';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { cniConfigForNode } from '../src/kubernetes/cni-install.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';
import { writeKubeconformSchemas } from './helpers/openapi-schemas.js';

const run = promisify(execFile);
const root = projectRoot();
const chart = join(root, 'charts', 'weft');
const NS = 'weft-system';

interface Result { code: number; stdout: string; stderr: string }

/** Runs a command to its end, feeding `input`; never throws on a non-zero exit (the tests look at it). */
function exec(cmd: string, args: string[], input?: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A command that exits before reading its input (a failure) closes the pipe: its exit code tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

let tools: { helm: string; kubeconform: string } | undefined;
async function helmTools(): Promise<{ helm: string; kubeconform: string }> {
  if (!tools) {
    await run('bash', [join(root, 'scripts', 'chart-crds.sh')]);
    const { stdout } = await run('bash', [join(root, 'scripts', 'helm-tools.sh')], { maxBuffer: 16 * 1024 * 1024 });
    const dir = stdout.trim().split('\n').pop()!;
    tools = { helm: join(dir, 'helm'), kubeconform: join(dir, 'kubeconform') };
  }
  return tools;
}

async function template(sets: string[], extra: string[] = []): Promise<Result> {
  const { helm } = await helmTools();
  return exec(helm, ['template', 'weft', chart, '--namespace', NS, ...sets.flatMap((s) => ['--set', s]), ...extra]);
}

const docsOf = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as k8s.KubernetesObject | null).filter((d): d is k8s.KubernetesObject => Boolean(d));

test('helm lint --strict passes, with the default values and with every feature off', async (t) => {
  const { helm } = await helmTools();
  for (const sets of [[], ['gatewayAPI.enabled=false,ingress.enabled=false,l7Policy.enabled=false,datapath.enabled=false,metrics.enabled=false']]) {
    const r = await exec(helm, ['lint', '--strict', chart, ...sets.flatMap((s) => ['--set', s])]);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('values.schema.json rejects unknown and mistyped values, naming the field', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['operator.replica=2'], /at '\/operator': additional properties 'replica' not allowed/],
    [['operator.replicas=two'], /at '\/operator\/replicas': got string, want integer/],
    [['agent.protocol=grpc'], /at '\/agent\/protocol'/],
    [['image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy'/],
    [['gatewayAPI.addressPool=not-a-range'], /at '\/gatewayAPI\/addressPool'/],
    [['ciliumCRDs.install=maybe'], /at '\/ciliumCRDs\/install'/],
    [['datapath.cni.binDir=relative/dir'], /at '\/datapath\/cni\/binDir'/],
    [['envoy.resources.requests.memory=lots'], /at '\/envoy\/resources\/requests\/memory'/],
    [['nosuchkey=1'], /additional properties 'nosuchkey' not allowed/],
    [['flows.port=0'], /at '\/flows\/port'/],
    [['flows.tls.agentSecretName=Not_A_Name'], /at '\/flows\/tls\/agentSecretName'/],
    [['relay.serviceType=Internal'], /at '\/relay\/serviceType'/],
  ];
  for (const [sets, message] of cases) {
    const r = await template(sets);
    t.not(r.code, 0, `helm accepted ${sets.join(' ')}`);
    t.regex(r.stderr, message, sets.join(' '));
  }
  t.regex((await template(['mutualAuth.trustDomain=Not A Domain'])).stderr, /at '\/mutualAuth\/trustDomain'/);
  t.regex((await template(['mutualAuth.inboundPort=0'])).stderr, /at '\/mutualAuth\/inboundPort'/);
  // The relay needs the agents' flows, and speaks TLS to them exactly when they do.
  t.regex((await template(['relay.enabled=true,flows.enabled=false'])).stderr, /relay\.enabled: the relay merges the agents' flows; it needs flows\.enabled/);
  t.regex((await template(['relay.enabled=true,flows.tls.agentSecretName=agent-svid'])).stderr, /flows\.tls: with relay\.enabled, set both agentSecretName and relaySecretName/);
});

test('toggles: each feature renders its objects, and only then', async (t) => {
  const kinds = async (sets: string[]) => {
    const r = await template(sets);
    t.is(r.code, 0, r.stderr);
    return docsOf(r.stdout).map((d) => `${d.kind}/${d.metadata?.name}`);
  };
  const all = await kinds([]);
  for (const k of ['GatewayClass/weft', 'IngressClass/weft', 'CustomResourceDefinition/ciliumnetworkpolicies.cilium.io',
    'CustomResourceDefinition/ciliumclusterwidenetworkpolicies.cilium.io', 'ConfigMap/weft-cni', 'Service/weft-operator-metrics',
    'Service/weft-agent-metrics', 'PodDisruptionBudget/weft-operator', 'PodDisruptionBudget/weft-agent', 'Deployment/weft-operator',
    'DaemonSet/weft-agent', 'Role/weft-operator-lease', 'ClusterRole/weft-operator', 'ClusterRole/weft-agent']) t.true(all.includes(k), k);
  const none = await kinds(['gatewayAPI.enabled=false,ingress.enabled=false,l7Policy.enabled=false,datapath.enabled=false,metrics.enabled=false',
    'operator.podDisruptionBudget.enabled=false,agent.podDisruptionBudget.enabled=false']);
  for (const k of ['GatewayClass', 'IngressClass', 'CustomResourceDefinition', 'ConfigMap', 'Service', 'PodDisruptionBudget']) {
    t.false(none.some((n) => n.startsWith(`${k}/`)), k);
  }
  t.false((await kinds(['ciliumCRDs.install=never'])).some((n) => n.startsWith('CustomResourceDefinition/')));
  // Without the datapath the agent is not privileged, mounts no BPF filesystem and installs no CNI plugin.
  const plain = docsOf((await template(['datapath.enabled=false'])).stdout).find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet;
  t.is(plain.spec!.template.spec!.initContainers, undefined);
  t.not(plain.spec!.template.spec!.containers[0].securityContext?.privileged, true);
  const full = docsOf((await template([])).stdout).find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet;
  t.is(full.spec!.template.spec!.initContainers?.[0]?.name, 'install-cni');
  t.true(full.spec!.template.spec!.containers[0].securityContext?.privileged);
  t.true(full.spec!.template.spec!.hostNetwork);

  // Flows: on in every agent by default (its port, Pods to name flows' ends); the relay only when asked, finding
  // this release's agent pods; the TLS Secrets mounted where the flags say.
  t.true(full.spec!.template.spec!.containers[0].args!.includes('--flows-listen=0.0.0.0:4244'));
  t.deepEqual(full.spec!.template.spec!.containers[0].ports!.find((p) => p.name === 'flows'), { name: 'flows', containerPort: 4244, protocol: 'TCP' });
  const agentRole = docsOf((await template([])).stdout).find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'weft-agent') as k8s.V1ClusterRole;
  t.true(agentRole.rules!.some((r) => r.resources?.includes('pods') && r.verbs.join() === 'list,watch'));
  t.false(all.some((k) => k.endsWith('/weft-relay')), 'no relay by default');
  // Mutual authentication: the operator keeps the CA in the release namespace (a Role for exactly its Secret and
  // ConfigMap), every agent signs its pods' SVIDs from it and serves the mesh listeners; nothing of it by default.
  const mtlsDocs = docsOf((await template(['mutualAuth.enabled=true,mutualAuth.trustDomain=mesh.example'])).stdout);
  const mtlsOperator = (mtlsDocs.find((d) => d.kind === 'Deployment' && d.metadata?.name === 'weft-operator') as k8s.V1Deployment).spec!.template.spec!.containers[0].args!;
  for (const a of ['--mutual-auth', '--trust-domain=mesh.example', `--ca-namespace=${NS}`]) t.true(mtlsOperator.includes(a), a);
  const mtlsAgent = (mtlsDocs.find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet).spec!.template.spec!.containers[0].args!;
  for (const a of ['--mutual-auth', '--trust-domain=mesh.example', `--ca-namespace=${NS}`, '--mesh-outbound-port=15002', '--mesh-inbound-port=15443']) t.true(mtlsAgent.includes(a), a);
  const mtlsRole = mtlsDocs.find((d) => d.kind === 'Role' && d.metadata?.name === 'weft-operator-mtls') as k8s.V1Role;
  t.is(mtlsRole.metadata?.namespace, NS);
  t.deepEqual(mtlsRole.rules!.map((r) => `${r.resources!.join('+')}:${(r.resourceNames ?? ['*']).join('+')}:${r.verbs.join('+')}`),
    ['secrets+configmaps:*:create', 'secrets:weft-mtls-ca:get+list+watch+update', 'configmaps:weft-mtls-trust-bundle:get+update']);
  t.true(mtlsDocs.some((d) => d.kind === 'RoleBinding' && d.metadata?.name === 'weft-operator-mtls'));
  // The operator signs the agents' intermediates (CSRs of its signer, requested by the agents' ServiceAccount); the
  // agents create and read their requests and never read the CA Secret by name.
  t.true(mtlsOperator.includes('--agent-service-account=weft-agent'));
  const signerRole = mtlsDocs.find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'weft-operator-mtls-signer') as k8s.V1ClusterRole;
  t.deepEqual(signerRole.rules!.map((r) => `${r.resources!.join('+')}:${(r.resourceNames ?? ['*']).join('+')}:${r.verbs.join('+')}`),
    ['certificatesigningrequests:*:list+watch', 'certificatesigningrequests/approval+certificatesigningrequests/status:*:update', 'signers:weft.dev/mesh-node-intermediate:approve+sign', 'nodes:*:list']);
  const mtlsAgentRules = (mtlsDocs.find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'weft-agent') as k8s.V1ClusterRole).rules!;
  t.true(mtlsAgentRules.some((r) => r.resources?.join() === 'certificatesigningrequests' && r.verbs.join() === 'create,get'));
  t.false(mtlsAgentRules.some((r) => r.resources?.includes('secrets')), 'no Secret anywhere but in the secrets namespace');
  t.true(mtlsAgent.includes('--tls-secrets-namespace=weft-secrets') && mtlsOperator.includes('--tls-secrets-namespace=weft-secrets'));
  const secretsRole = (name: string) => (mtlsDocs.find((d) => d.kind === 'Role' && d.metadata?.name === name && d.metadata?.namespace === 'weft-secrets') as k8s.V1Role).rules!.map((r) => `${r.resources!.join('+')}:${r.verbs.join('+')}`);
  t.deepEqual(secretsRole('weft-agent-tls-secrets'), ['secrets:list+watch']);
  t.deepEqual(secretsRole('weft-operator-tls-secrets'), ['secrets:create+update+delete']);
  t.true(mtlsDocs.some((d) => d.kind === 'Namespace' && d.metadata?.name === 'weft-secrets'));
  t.regex((await template([`mutualAuth.enabled=true,mutualAuth.tlsSecretsNamespace=${NS}`])).stderr, /mutualAuth\.tlsSecretsNamespace: the agents may list every Secret there/);
  // Without the mesh the agents list TLS Secrets everywhere (no root key to protect).
  t.true(agentRole.rules!.some((r) => r.resources?.includes('secrets')));
  t.false(all.includes('Role/weft-operator-mtls'));
  t.false((full.spec!.template.spec!.containers[0].args!).includes('--mutual-auth'));
  const agentRules = (sets: string[]) => async () => (docsOf((await template(sets)).stdout).find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'weft-agent') as k8s.V1ClusterRole).rules!;
  const noFlows = docsOf((await template(['flows.enabled=false'])).stdout);
  const noFlowsAgent = noFlows.find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet;
  t.true(noFlowsAgent.spec!.template.spec!.containers[0].args!.includes('--no-flows'));
  // Pods are read for flows or for the datapath, and otherwise not.
  t.false((await agentRules(['flows.enabled=false,datapath.enabled=false'])()).some((r) => r.resources?.includes('pods')));
  t.is((await agentRules(['datapath.enabled=false'])()).filter((r) => r.resources?.includes('pods')).length, 1);
  t.is((await agentRules(['flows.enabled=false,datapath.enabled=false,mutualAuth.enabled=true'])()).filter((r) => r.resources?.includes('pods')).length, 1, 'the mesh reads the node\'s pods');
  // L2 announcement: the agents contend for the per-address Leases in the release namespace, and only then.
  const announceDocs = docsOf((await template(['agent.announceInterface=eth0'])).stdout);
  const announceAgent = (announceDocs.find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet).spec!.template.spec!.containers[0].args!;
  for (const a of ['--announce-interface=eth0', `--announce-lease-namespace=${NS}`]) t.true(announceAgent.includes(a), a);
  const announceRole = announceDocs.find((d) => d.kind === 'Role' && d.metadata?.name === 'weft-agent-announce') as k8s.V1Role;
  t.is(announceRole.metadata?.namespace, NS);
  t.deepEqual(announceRole.rules!.map((r) => `${r.resources!.join('+')}:${r.verbs.join('+')}`), ['leases:get+create+update']);
  t.true(announceDocs.some((d) => d.kind === 'RoleBinding' && d.metadata?.name === 'weft-agent-announce'));
  t.false(all.includes('Role/weft-agent-announce'));
  const withRelay = await kinds(['relay.enabled=true,flows.tls.agentSecretName=agent-svid,flows.tls.relaySecretName=relay-svid']);
  for (const k of ['Deployment/weft-relay', 'Service/weft-relay', 'ServiceAccount/weft-relay', 'Role/weft-relay', 'RoleBinding/weft-relay']) t.true(withRelay.includes(k), k);
  const relayDocs = docsOf((await template(['relay.enabled=true,flows.tls.agentSecretName=agent-svid,flows.tls.relaySecretName=relay-svid'])).stdout);
  const relay = relayDocs.find((d) => d.kind === 'Deployment' && d.metadata?.name === 'weft-relay') as k8s.V1Deployment;
  const relayArgs = relay.spec!.template.spec!.containers[0].args!;
  t.true(relayArgs.includes('--agent-selector=app.kubernetes.io/name=weft,app.kubernetes.io/instance=weft,app.kubernetes.io/component=agent'));
  t.true(relayArgs.includes(`--agent-namespace=${NS}`) && relayArgs.includes('--agent-port=4244') && relayArgs.includes('--tls-dir=/etc/weft/flows-tls'));
  t.is(relay.spec!.template.spec!.volumes!.find((v) => v.name === 'flows-tls')?.secret?.secretName, 'relay-svid');
  const tlsAgent = relayDocs.find((d) => d.kind === 'DaemonSet') as k8s.V1DaemonSet;
  t.true(tlsAgent.spec!.template.spec!.containers[0].args!.includes('--flows-tls-dir=/etc/weft/flows-tls'));
  t.is(tlsAgent.spec!.template.spec!.volumes!.find((v) => v.name === 'flows-tls')?.secret?.secretName, 'agent-svid');
});

test('install-cni: the weft-cni plugin gets the node\'s pod CIDRs (IPv4, and IPv6 when dual stack); a bad template is named with its field', (t) => {
  const out = JSON.parse(cniConfigForNode('{"cniVersion":"1.1.0","name":"weft","plugins":[{"type":"weft-cni","bpfPinRoot":"/sys/fs/bpf/weft"},{"type":"portmap"}]}',
    'c.conflist', ['10.244.3.0/24'])) as { plugins: Array<Record<string, unknown>> };
  t.deepEqual(out.plugins, [{ type: 'weft-cni', bpfPinRoot: '/sys/fs/bpf/weft', podCIDR: '10.244.3.0/24' }, { type: 'portmap' }]);
  const dual = JSON.parse(cniConfigForNode('{"plugins":[{"type":"weft-cni"}]}', 'c.conflist', ['fd00:10:244:3::/64', '10.244.3.0/24'])) as { plugins: Array<Record<string, unknown>> };
  t.deepEqual(dual.plugins, [{ type: 'weft-cni', podCIDR: '10.244.3.0/24', podCIDRv6: 'fd00:10:244:3::/64' }]);
  t.throws(() => cniConfigForNode('{"plugins":[{"type":"weft-cni"}]}', 'c.conflist', ['fd00::/64']), { message: /weft-cni needs an IPv4 pod CIDR/ });
  t.throws(() => cniConfigForNode('{"plugins":[{"type":"bridge"}]}', 'c.conflist', ['10.244.3.0/24']), { message: 'c.conflist: plugins: no plugin of type weft-cni' });
  t.throws(() => cniConfigForNode('{', 'c.conflist', ['10.244.3.0/24']), { message: /^c\.conflist: not JSON/ });
});

// The matrix rendered and validated against the cluster's schemas.
const MATRIX: string[][] = [
  [],
  ['gatewayAPI.enabled=false,ingress.enabled=false,l7Policy.enabled=false,datapath.enabled=false,metrics.enabled=false'],
  ['operator.podDisruptionBudget.enabled=false,agent.podDisruptionBudget.enabled=false,ciliumCRDs.install=never'],
  ['gatewayAPI.addressPool=10.0.0.10-10.0.0.20,agent.announceInterface=eth0,agent.protocol=sotw,ingress.ingressClass.default=true',
    'datapath.enabled=false,operator.replicas=3,operator.hostNetwork=false,image.tag=dev,image.pullPolicy=Always'],
  ['imagePullSecrets[0]=regcred,operator.nodeSelector.kubernetes\\.io/os=linux,agent.tolerations=null',
    'operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=kubernetes.io/arch',
    'operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
    'gatewayAPI.gatewayClass.name=mesh,ingress.ingressClass.name=mesh'],
  ['relay.enabled=true,relay.serviceType=NodePort,relay.hostNetwork=true,flows.port=5244,flows.ringCapacity=1000,flows.tls.agentSecretName=agent-svid,flows.tls.relaySecretName=relay-svid'],
  ['flows.enabled=false'],
  ['mutualAuth.enabled=true,mutualAuth.trustDomain=mesh.example,mutualAuth.outboundPort=16002'],
  ['mutualAuth.enabled=true,datapath.enabled=false,flows.enabled=false'],
];

const unavailable = devClusterUnavailable();
if (unavailable) console.log(`helm chart cluster tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

let cluster: TestCluster | undefined;
let work: string | undefined;
test.after.always(async () => {
  await cluster?.down();
  if (work) rmSync(work, { recursive: true, force: true });
});

clusterTest('the local cluster: kubeconform, server-side dry run, lookup, and the operator and agent deployed from the chart', async (t) => {
  t.timeout(300_000);
  const { helm, kubeconform } = await helmTools();
  const { kubectl } = await controlPlaneBinaries();
  work = mkdtempSync(join(tmpdir(), 'weft-helm-'));
  cluster = await startTestCluster({ nodes: 1 });
  const kubeconfig = cluster.state.kubeconfig;
  const kube = (args: string[], input?: string) => exec(kubectl, ['--kubeconfig', kubeconfig, ...args], input);

  // kubeconform -strict against the API server's own OpenAPI (built-in kinds and the CRDs installed there).
  const { location, kinds } = await writeKubeconformSchemas(cluster.kc, join(work, 'schemas'));
  t.true(kinds > 50, `only ${kinds} kinds in the cluster's OpenAPI`);
  const validate = (yaml: string) => exec(kubeconform, ['-strict', '-summary', '-output', 'json', '-schema-location', location], yaml);
  for (const sets of MATRIX) {
    const r = await template(sets);
    t.is(r.code, 0, r.stderr);
    const v = await validate(r.stdout);
    const summary = (JSON.parse(v.stdout) as { summary: { valid: number; invalid: number; errors: number; skipped: number } }).summary;
    t.is(v.code, 0, `${sets.join(' ')}: ${v.stdout}`);
    t.deepEqual(summary, { valid: docsOf(r.stdout).length, invalid: 0, errors: 0, skipped: 0 }, sets.join(' '));
  }
  // The schemas are strict: a misspelt field is caught, as is a wrong type.
  const rendered = (await template([])).stdout;
  const typo = await validate(rendered.replace('  replicas: 2\n', '  replicas: 2\n  replicass: 2\n'));
  t.not(typo.code, 0);
  t.regex(typo.stdout, /replicass/);
  const wrongType = await validate(rendered.replace('  replicas: 2\n', '  replicas: "2"\n'));
  t.not(wrongType.code, 0);

  // Helm's lookup against a cluster that already has the Cilium policy CRDs (the local cluster installs them):
  // the chart leaves them alone; offline (helm template) it renders them.
  t.true(docsOf(rendered).some((d) => d.kind === 'CustomResourceDefinition'));
  const online = await template([], ['--dry-run=server', '--kubeconfig', kubeconfig]);
  t.is(online.code, 0, online.stderr);
  t.false(docsOf(online.stdout).some((d) => d.kind === 'CustomResourceDefinition'));

  // The chart as Helm would install it here, through the API server's admission and validation, not persisted.
  t.is((await kube(['create', 'namespace', NS])).code, 0);
  const dry = await kube(['apply', '--server-side', '--field-manager=helm', '--dry-run=server', '-f', '-'], online.stdout);
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.stdout.match(/serverside-applied \(server dry run\)/g)?.length, docsOf(online.stdout).length, dry.stdout);
  const crdDry = await kube(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], rendered);
  t.is(crdDry.code, 0, crdDry.stderr);

  // Installed for real with `helm install`: the process kubelet runs Weft's image as this checkout's bin/weft, the
  // agent and the operator on the node's network (hostNetwork), each with its own ServiceAccount's token. One
  // operator replica keeps the test light. The Cilium CRDs are removed first, so that the release installs them
  // (lookup finds none) and must keep them on upgrade (lookup finds its own).
  t.is((await kube(['delete', 'crd', 'ciliumnetworkpolicies.cilium.io', 'ciliumclusterwidenetworkpolicies.cilium.io'])).code, 0);
  await eventually(async () => (await kube(['get', 'crd', 'ciliumnetworkpolicies.cilium.io'])).code !== 0, 30_000, 'the Cilium CRD to go');
  // What would be the pod's emptyDir: the process kubelet mounts no volumes, so the directory is made here.
  const socketDir = join(work, 'xds');
  mkdirSync(socketDir);
  const helmEnv = { HELM_CONFIG_HOME: join(work, 'helm', 'config'), HELM_CACHE_HOME: join(work, 'helm', 'cache'), HELM_DATA_HOME: join(work, 'helm', 'data') };
  const release = (verb: string) => exec(helm, [verb, 'weft', chart, '--namespace', NS, '--kubeconfig', kubeconfig,
    '--set', 'operator.replicas=1', '--set', `agent.socketDir=${socketDir}`, '--set', 'relay.enabled=true', '--set', 'mutualAuth.enabled=true',
    // The local cluster's control plane has no route back to pod addresses: the relay must reach the API server.
    '--set', 'relay.hostNetwork=true'], undefined, helmEnv);
  const install = await release('install');
  t.is(install.code, 0, install.stderr);
  const crdUid = async () => (await kube(['get', 'crd', 'ciliumnetworkpolicies.cilium.io', '-o', 'jsonpath={.metadata.uid} {.metadata.annotations.meta\\.helm\\.sh/release-name}'])).stdout;
  const installedCrd = await crdUid();
  t.regex(installedCrd, /^[0-9a-f-]{36} weft$/, 'the release installed the Cilium CRD');

  try {
    await deployed(t, cluster, kube);
  } catch (err) {
    // What the pods and their containers said, to see why.
    t.log((await kube(['get', 'pods', '-A', '-o', 'wide'])).stdout);
    t.log((await kube(['get', 'pods', '-n', NS, '-o', 'jsonpath={.items[*].status}'])).stdout);
    const logs = await exec('sh', ['-c', `for f in $(find ${cluster.opts.stateDir} -name '${NS}_*.log' -o -name 'kubelet*.log'); do echo "== $f"; grep -v 'watch' "$f" | tail -n 12; done`]);
    t.log(logs.stdout);
    throw err;
  }
  const upgrade = await release('upgrade');
  t.is(upgrade.code, 0, upgrade.stderr);
  t.is(await crdUid(), installedCrd, 'the upgrade kept the Cilium CRD the release installed (same object)');
});

async function deployed(t: ExecutionContext, cluster: TestCluster, kube: (args: string[], input?: string) => Promise<Result>): Promise<void> {
  const coordination = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
  const lease = await eventually(async () => {
    const l = await coordination.readNamespacedLease({ name: 'weft-operator', namespace: NS });
    return l.spec?.holderIdentity ? l : undefined;
  }, 120_000, 'the operator to take its Lease');
  t.truthy(lease.spec?.renewTime);

  // The status can only have been written by the operator's pod, with the chart's RBAC.
  const custom = cluster.kc.makeApiClient(k8s.CustomObjectsApi);
  const gatewayClass = await eventually(async () => {
    const gc = await custom.getClusterCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', name: 'weft' }) as
      { status?: { conditions?: Array<{ type: string; status: string }> } };
    return gc.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True') ? gc : undefined;
  }, 60_000, 'GatewayClass weft Accepted');
  t.truthy(gatewayClass);
  const managers = await kube(['get', 'gatewayclass', 'weft', '--show-managed-fields', '-o', 'json']);
  t.regex(managers.stdout, /"subresource": "status"/);
  t.is((await custom.getClusterCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', name: 'weft' }) as
    { spec: { controllerName: string } }).spec.controllerName, CONTROLLER_NAME);

  const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  // Ready means the readiness probe (/readyz) passed: the operator translated; the agent's Envoy ACKed.
  await eventually(async () => (await apps.readNamespacedDeployment({ name: 'weft-operator', namespace: NS })).status?.availableReplicas === 1,
    120_000, 'the operator Deployment to be available');
  const ds = await eventually(async () => {
    const d = await apps.readNamespacedDaemonSet({ name: 'weft-agent', namespace: NS });
    return d.status?.numberReady === 1 ? d : undefined;
  }, 120_000, 'the agent DaemonSet to be ready');
  t.is(ds.status?.desiredNumberScheduled, 1);
  const agentPod = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/component=agent' })).items[0];
  t.is(agentPod.status?.podIP, cluster.state.nodes![0].address, 'a hostNetwork pod has the node\'s address');
  t.true(agentPod.status?.containerStatuses?.every((c) => c.ready && c.state?.running));

  // The metrics Services' endpoints answer: the operator reports its leadership.
  const operatorPod = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/component=operator' })).items[0];
  t.is(operatorPod.status?.podIP, cluster.state.nodes![0].address, 'the operator runs on the node network by default');
  const metrics = await exec('ip', ['netns', 'exec', cluster.state.nodes![0].netns, 'curl', '-sf', `http://${operatorPod.status!.podIP}:9090/metrics`]);
  t.regex(metrics.stdout, /^weft_operator_leader 1$/m);
  const agentMetrics = await exec('ip', ['netns', 'exec', cluster.state.nodes![0].netns, 'curl', '-sf', `http://${agentPod.status!.podIP}:9091/metrics`]);
  t.regex(agentMetrics.stdout, /weft_xds_acks_total/);

  // The operations commands' Kubernetes paths against the chart's pods: `weft status` finds the operator and the
  // agent and reads their /readyz and /metrics through the API server; `weft sysdump` collects their objects and
  // logs and leaves the values of the cluster's Secrets out.
  const weftBin = join(root, 'bin', 'weft');
  const status = await exec(weftBin, ['status', '--kubeconfig', cluster.state.kubeconfig, '-o', 'json']);
  t.is(status.code, 0, status.stdout + status.stderr);
  const report = JSON.parse(status.stdout) as Array<{ healthy: boolean; checks: Array<{ subject: string; state: string }> }>;
  t.true(report[0].healthy);
  for (const component of ['operator', 'agent']) t.true(report[0].checks.some((c) => c.subject.includes(component) && c.state === 'ok'), `${component} checked: ${status.stdout}`);
  const secretValue = 'hunter2-do-not-leak';
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'sysdump-probe' }, stringData: { password: secretValue } } });
  const dumpDir = mkdtempSync(join(tmpdir(), 'weft-sysdump-'));
  try {
    const dump = await exec(weftBin, ['sysdump', '--kubeconfig', cluster.state.kubeconfig, '-o', join(dumpDir, 'dump.tar.gz')]);
    t.is(dump.code, 0, dump.stderr);
    await run('tar', ['-xzf', join(dumpDir, 'dump.tar.gz'), '-C', dumpDir]);
    const listing = (await run('find', [dumpDir, '-type', 'f'])).stdout;
    t.regex(listing, /operator/, 'the operator pod is in the dump');
    t.regex(listing, /agent/, 'the agent pod is in the dump');
    const grep = await exec('grep', ['-rl', secretValue, dumpDir]);
    t.is(grep.stdout, '', 'no Secret value anywhere in the archive');
  } finally {
    rmSync(dumpDir, { recursive: true, force: true });
  }

  // The init container ran to completion in the agent's pod (the dev kubelet runs init containers first; it writes
  // into the node's own host root). Its command as the chart renders it, run here again with the agent's
  // ServiceAccount token and its volumes as directories, installs weft-cni and a configuration holding this node's
  // pod CIDR.
  t.like(agentPod.status?.initContainerStatuses?.[0], { name: 'install-cni', state: { terminated: { exitCode: 0, reason: 'Completed' } } });
  const daemonSet = await apps.readNamespacedDaemonSet({ name: 'weft-agent', namespace: NS });
  const init = daemonSet.spec!.template.spec!.initContainers!.find((c) => c.name === 'install-cni')!;
  const volumes = mkdtempSync(join(tmpdir(), 'weft-cni-volumes-'));
  try {
    const mounts = new Map<string, string>([['/usr/lib/weft/bin', join(root, 'bin')]]);
    for (const m of init.volumeMounts ?? []) mounts.set(m.mountPath, join(volumes, m.name));
    const cm = await core.readNamespacedConfigMap({ name: 'weft-cni', namespace: NS });
    for (const [mountPath, dir] of mounts) {
      if (dir.startsWith(volumes)) mkdirSync(dir, { recursive: true });
      if (mountPath === '/etc/weft-cni') for (const [k, v] of Object.entries(cm.data ?? {})) writeFileSync(join(dir, k), v);
    }
    const hostPath = (p: string) => {
      for (const [mountPath, dir] of mounts) if (p.startsWith(`${mountPath}/`) || p === mountPath) return dir + p.slice(mountPath.length);
      return p;
    };
    const token = (await kube(['create', 'token', 'weft-agent', '-n', NS])).stdout.trim();
    const server = cluster.kc.getCurrentCluster()!;
    const agentKubeconfig = join(volumes, 'kubeconfig');
    writeFileSync(agentKubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'agent',
      clusters: [{ name: 'c', cluster: { server: server.server, ...(server.caFile ? { 'certificate-authority': server.caFile } : {}),
        ...(server.caData ? { 'certificate-authority-data': server.caData } : {}) } }],
      users: [{ name: 'agent', user: { token } }], contexts: [{ name: 'agent', context: { cluster: 'c', user: 'agent' } }],
    }));
    const args = init.args!.map((a) => a.replace('$(NODE_NAME)', agentPod.spec!.nodeName!).replace(/^(--[\w-]+=)(\/.*)$/, (_, flag: string, p: string) => flag + hostPath(p)));
    const installed = await exec(join(root, 'bin', 'weft'), [...args, `--kubeconfig=${agentKubeconfig}`]);
    t.is(installed.code, 0, installed.stderr);
    const node = await core.readNode({ name: agentPod.spec!.nodeName! });
    const conflist = JSON.parse(readFileSync(join(mounts.get('/host/cni-conf')!, '05-weft.conflist'), 'utf8')) as { plugins: Array<{ type: string; podCIDR?: string }> };
    t.truthy(node.spec?.podCIDR);
    t.is(conflist.plugins.find((p) => p.type === 'weft-cni')?.podCIDR, node.spec?.podCIDR);
    const plugin = join(mounts.get('/host/cni-bin')!, 'weft-cni');
    t.is(readFileSync(plugin, 'utf8'), readFileSync(join(root, 'bin', 'weft-cni'), 'utf8'));
    t.is(statSync(plugin).mode & 0o777, 0o755);
  } finally {
    rmSync(volumes, { recursive: true, force: true });
  }

  // Least privilege, as the API server's authorizer sees the two ServiceAccounts.
  const can = async (sa: string, ...args: string[]) =>
    (await kube(['auth', 'can-i', `--as=system:serviceaccount:${NS}:${sa}`, ...args])).stdout.trim();
  t.is(await can('weft-operator', 'update', 'gateways.gateway.networking.k8s.io', '--subresource=status', '-n', 'default'), 'yes');
  t.is(await can('weft-operator', 'update', 'gateways.gateway.networking.k8s.io', '-n', 'default'), 'no', 'spec is not the operator\'s to change');
  t.is(await can('weft-operator', 'get', 'secrets', '-n', 'default'), 'no', 'Secrets are listed (TLS only), never read one by one');
  t.is(await can('weft-operator', 'update', 'leases.coordination.k8s.io/weft-operator', '-n', NS), 'yes');
  t.is(await can('weft-operator', 'update', 'leases.coordination.k8s.io/other', '-n', NS), 'no');
  t.is(await can('weft-operator', 'create', 'leases.coordination.k8s.io', '-n', 'kube-system'), 'no');
  t.is(await can('weft-operator', 'patch', 'services', '-n', 'default'), 'yes', 'the per-Gateway Service is server-side applied');
  t.is(await can('weft-operator', 'delete', 'endpointslices.discovery.k8s.io', '-n', 'default'), 'yes');
  t.is(await can('weft-operator', 'update', 'services', '-n', 'default'), 'no');
  t.is(await can('weft-agent', 'list', 'httproutes.gateway.networking.k8s.io', '-A'), 'yes');
  t.is(await can('weft-agent', 'update', 'gateways.gateway.networking.k8s.io', '--subresource=status', '-n', 'default'), 'no', 'the agent writes nothing');
  t.is(await can('weft-agent', 'create', 'leases.coordination.k8s.io', '-n', NS), 'no');
  t.is(await can('weft-agent', 'get', 'nodes'), 'yes', 'install-cni reads its Node');
  t.is(await can('weft-agent', 'update', 'nodes'), 'no');
  t.is(await can('weft-agent', 'list', 'pods', '-A'), 'yes', 'the flow agent names flows\' ends from Pods');
  t.is(await can('weft-relay', 'list', 'pods', '-n', NS), 'yes', 'the relay finds the agent pods');
  t.is(await can('weft-relay', 'list', 'pods', '-n', 'default'), 'no', 'only in the release namespace');
  t.is(await can('weft-relay', 'list', 'nodes'), 'no');
  t.is(await can('weft-operator', 'get', 'secrets/weft-mtls-ca', '-n', NS), 'yes', 'the mesh CA Secret');
  t.is(await can('weft-operator', 'update', 'secrets/weft-mtls-ca', '-n', NS), 'yes', 'the steps of a rotation it was asked for');
  t.is(await can('weft-agent', 'get', 'secrets/weft-mtls-ca', '-n', NS), 'no', 'the agents never read the root key');
  t.is(await can('weft-agent', 'list', 'secrets', '-n', NS), 'no');
  t.is(await can('weft-agent', 'list', 'secrets', '-A'), 'no');
  t.is(await can('weft-agent', 'list', 'secrets', '-n', 'weft-secrets'), 'yes', 'the TLS Secrets\' copies');
  t.is(await can('weft-agent', 'create', 'certificatesigningrequests.certificates.k8s.io'), 'yes');
  // Signer names hold a slash, which kubectl auth can-i cannot name: a SubjectAccessReview.
  const mayApprove = async (verb: string, signer: string) => (await cluster.kc.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({ body: { spec: {
    user: `system:serviceaccount:${NS}:weft-operator`, groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`],
    resourceAttributes: { group: 'certificates.k8s.io', resource: 'signers', name: signer, verb },
  } } })).status?.allowed;
  for (const verb of ['approve', 'sign']) {
    t.true(await mayApprove(verb, 'weft.dev/mesh-node-intermediate'), verb);
    t.false(await mayApprove(verb, 'kubernetes.io/kube-apiserver-client'), `${verb} for another signer`);
  }
  t.is(await can('weft-operator', 'get', 'secrets/other', '-n', NS), 'no');
  t.is(await can('weft-operator', 'update', 'configmaps/weft-mtls-trust-bundle', '-n', NS), 'yes');

  // mutualAuth.enabled: the operator's pod created the CA root Secret and the trust bundle with the chart's RBAC.
  const caSecret = await eventually(async () => core.readNamespacedSecret({ name: 'weft-mtls-ca', namespace: NS }).catch(() => undefined), 60_000, 'the mesh CA Secret');
  t.is(caSecret.type, 'Opaque');
  const bundle = await eventually(async () => (await core.readNamespacedConfigMap({ name: 'weft-mtls-trust-bundle', namespace: NS }).catch(() => undefined))?.data?.['bundle.pem'], 60_000, 'the trust bundle');
  t.is(bundle, Buffer.from(caSecret.data!['tls.crt'], 'base64').toString());
  // The agent's pod (its token bound to its pod, so to its node) asked for its intermediate; the operator signed it.
  const certificates = cluster.kc.makeApiClient(k8s.CertificatesV1Api);
  const signed = await eventually(async () => (await certificates.listCertificateSigningRequest({ fieldSelector: 'spec.signerName=weft.dev/mesh-node-intermediate' })).items
    .find((c) => c.status?.certificate), 60_000, 'the agent\'s intermediate signed');
  t.is(signed.spec.username, `system:serviceaccount:${NS}:weft-agent`);
  t.deepEqual(signed.spec.extra?.['authentication.kubernetes.io/node-name'], [agentPod.spec!.nodeName!]);

  // The relay found the agent pod through the API server, with the node's address and flow port.
  await eventually(async () => (await apps.readNamespacedDeployment({ name: 'weft-relay', namespace: NS })).status?.availableReplicas === 1,
    120_000, 'the relay Deployment to be available');
  const relayLog = await eventually(async () => {
    const r = await exec('sh', ['-c', `cat $(find ${cluster.opts.stateDir} -name '${NS}_weft-relay-*_relay.log') 2>/dev/null`]);
    return r.stdout.includes(`${agentPod.spec!.nodeName!}=${agentPod.status!.podIP!}:4244`) && r.stdout;
  }, 30_000, 'the relay to log the agent it found');
  t.truthy(relayLog);
}
