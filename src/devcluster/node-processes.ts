// The nodes of `weft dev cluster up --nodes N`: each a network namespace with routes to the other nodes' pod
// CIDRs and a kubelet (started detached inside it); and their removal, which leaves no process or namespace.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { projectRoot } from '../../envoy/binary.js';
import type { ClusterState } from './cluster.js';
import { deleteNamespace, ip, ipIn } from './netns.js';
import { createNodeNetwork, nodeNetwork, type NodeNetwork } from './nodes.js';
import { createKubeletServingCert, kubeletServingFiles } from './pki.js';
import { mountNodeBpffs, nodeBpfPinRoot, unmountNodeBpffs } from './bpffs.js';
import { startInNetworkOnly, type StartedProcess } from './processes.js';

const run = promisify(execFile);

/** Where the node's weft-cni pins the datapath maps and its agent opens them: a bpffs of the node's own (bpffs.ts). */
export const bpfPinRoot = (state: Pick<ClusterState, 'stateDir'>, node: NodeNetwork) => nodeBpfPinRoot(state.stateDir, node.name);
export const kubeletStateDir = (state: Pick<ClusterState, 'stateDir'>, node: NodeNetwork) => join(state.stateDir, 'nodes', node.name);
export const podNetnsPrefix = (node: NodeNetwork) => `${node.netns}-`;
/** The network namespace the node's kubelet made for the pod with this UID. */
export const podNetns = (node: NodeNetwork, podUid: string) => `${podNetnsPrefix(node)}${podUid.replace(/-/g, '').slice(0, 12)}`;
const pkiDir = (state: Pick<ClusterState, 'stateDir'>) => join(state.stateDir, 'pki');

/** Creates nodes 1..count and routes each node's pod CIDR through its address from every other node. */
export async function createNodes(state: ClusterState, count: number): Promise<NodeNetwork[]> {
  const nodes: NodeNetwork[] = [];
  for (let i = 1; i <= count; i++) {
    const node = await createNodeNetwork(state, i);
    nodes.push(node);
    await createKubeletServingCert(pkiDir(state), node.name, node.address);
    await mountNodeBpffs(state.stateDir, node.name);
    // The node routes between its pods, its eth0 and the other nodes.
    await ip('netns', 'exec', node.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  }
  for (const a of nodes) {
    for (const b of nodes) if (a !== b) await ipIn(a.netns, 'route', 'add', b.podCidr, 'via', b.address, 'dev', 'eth0');
  }
  return nodes;
}

/** The `weft` command's entry point, run with this Node for the cluster's own processes (kubelets, Weft). */
export const weftMain = () => join(projectRoot(), 'dist', 'src', 'cli', 'main.js');

export function startKubelet(state: ClusterState, node: NodeNetwork, logDir: string): StartedProcess {
  const main = weftMain();
  const tls = kubeletServingFiles(pkiDir(state), node.name);
  return startInNetworkOnly(node.netns, `kubelet-${node.name}`, process.execPath, [
    main, 'dev', 'kubelet', '--node', node.name, '--kubeconfig', state.kubeconfig, '--node-netns', node.netns,
    '--node-address', node.address, '--pod-cidr', node.podCidr, '--state-dir', kubeletStateDir(state, node),
    '--pod-netns-prefix', podNetnsPrefix(node), '--bpf-pin-root', bpfPinRoot(state, node),
    '--tls-cert-file', tls.cert, '--tls-private-key-file', tls.key, '--client-ca-file', join(pkiDir(state), 'ca.crt'),
  ], join(logDir, `kubelet-${node.name}.log`));
}

async function namespaces(): Promise<string[]> {
  return (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

/** Kills what still runs inside `netns` (pods outlive their kubelet by design), then removes it. */
async function emptyAndDelete(netns: string): Promise<void> {
  const pids = async () => (await run('ip', ['netns', 'pids', netns]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean).map(Number);
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    for (const pid of await pids()) {
      try { process.kill(pid, signal); } catch { /* gone */ }
    }
    const deadline = Date.now() + 3000;
    while ((await pids()).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  await deleteNamespace(netns);
}

/** Removes every node of the cluster and every pod namespace on them (run after the kubelets are stopped). */
export async function deleteNodes(state: Pick<ClusterState, 'name' | 'subnet' | 'stateDir' | 'bridgeNamespace'>): Promise<void> {
  const all = await namespaces();
  const nodePattern = new RegExp(`^weft-${state.name}-n(\\d+)$`);
  const indexes = new Set<number>();
  for (const n of all) {
    const m = nodePattern.exec(n);
    if (m) indexes.add(Number(m[1]));
  }
  const nodes = [...indexes].map((i) => nodeNetwork(state as ClusterState, i));
  for (const node of nodes) {
    for (const pod of all.filter((n) => n.startsWith(podNetnsPrefix(node)))) await emptyAndDelete(pod);
  }
  for (const node of nodes) await emptyAndDelete(node.netns);
  await unmountNodeBpffs(state.stateDir);
}

/** Waits until every node of the cluster is Ready=True and untainted, failing early when `failure` names a reason. */
export async function waitForNodesReady(state: ClusterState, timeoutMs: number, failure: () => Promise<string | undefined>): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const want = new Set((state.nodes ?? []).map((n) => n.name));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // The TaintNodesByCondition admission plugin taints a new Node not-ready; the node-lifecycle controller lifts
    // the taint once the node posts Ready. Only then does the scheduler place pods on it.
    const ready = (await core.listNode()).items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
      !n.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/'))).map((n) => n.metadata?.name);
    if ([...want].every((n) => ready.includes(n))) return;
    const why = await failure();
    if (why) throw new Error(why);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`nodes ${[...want].join(', ')} not Ready after ${timeoutMs / 1000}s`);
}
