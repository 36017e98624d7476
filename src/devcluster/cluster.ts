// `weft dev cluster up|down|status`: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) on this machine, inside network namespaces with no route out; nodes with their kubelets; and,
// unless told not to, Weft on it (weft-processes.ts).
//
// Topology (management subnet S, default 10.77.0.0/24):
//   weft-<name>-net  a bridge, the cluster's switch
//   weft-<name>-cp   control plane, eth0 = S.1, joined to the bridge
//   host             veth wft-<name> = S.254, joined to the bridge, so kubectl and tests on the host reach S.1:6443
// No namespace has a default route, and the host only gains the connected route to S.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { controlPlaneBinaries } from './binaries.js';
import { createNamespace, createVeth, deleteNamespace, ip, ipIn, linkExists } from './netns.js';
import { createClusterPki, writeAdminKubeconfig } from './pki.js';
import { isRunning, restartProcess, startInNamespace, stopProcess, tailOf, type StartedProcess } from './processes.js';
import { waitForApiserver } from './readiness.js';
import { installClusterCrds } from './crds.js';
import { createNodes, deleteNodes, startKubelet, waitForNodesReady } from './node-processes.js';
import type { NodeNetwork } from './nodes.js';
import { applyAgentIdentity, writeAgentKubeconfig } from './agent-credentials.js';
import { applyGatewayClass, MESH_CA_NAMESPACE, startAgent, startOperator, TLS_SECRETS_NAMESPACE, waitForWeft } from './weft-processes.js';

export interface ClusterOptions {
  name: string;
  /** IPv4 /24 of the management network, e.g. 10.77.0.0/24. */
  subnet: string;
  stateDir: string;
  /** Nodes to create, each a network namespace with its kubelet (default 0: control plane only). */
  nodes?: number;
  /** Also start Weft: the operator, one agent with the datapath per node, the GatewayClass `weft` (default false). */
  weft?: boolean;
  /** The Weft it starts runs with --mutual-auth (the mesh CA in kube-system, the pods' SVIDs, the mesh listeners). */
  mutualAuth?: boolean;
}

export interface ClusterState {
  name: string;
  subnet: string;
  stateDir: string;
  bridgeNamespace: string;
  controlPlaneNamespace: string;
  hostInterface: string;
  apiserverUrl: string;
  kubeconfig: string;
  /** kubectl of the same Kubernetes version. */
  kubectl: string;
  processes: StartedProcess[];
  nodes?: NodeNetwork[];
}

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,9}[a-z0-9])?$/;

export function defaultStateDir(name: string): string {
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'weft', 'clusters', name);
}

export function clusterOptions(name = 'dev', subnet = '10.77.0.0/24', stateDir?: string): ClusterOptions {
  // The host-side veth is called wft-<name>; Linux interface names hold at most 15 characters.
  if (!NAME_PATTERN.test(name)) throw new Error(`cluster name "${name}" must be 1-11 lowercase letters, digits or '-', starting and ending with a letter or digit`);
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`--subnet must be an IPv4 /24 such as 10.77.0.0/24, not "${subnet}"`);
  return { name, subnet, stateDir: stateDir ?? defaultStateDir(name) };
}

function addressIn(subnet: string, host: number): string {
  return `${subnet.split('.').slice(0, 3).join('.')}.${host}`;
}

async function readState(stateDir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, 'cluster.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Starts the cluster (or reports the running one) and returns its state; the kubeconfig path is `state.kubeconfig`. */
export async function clusterUp(opts: ClusterOptions, log: (line: string) => void = () => undefined): Promise<ClusterState> {
  const existing = await readState(opts.stateDir);
  if (existing && (await Promise.all(existing.processes.map(isRunning))).every(Boolean)) {
    log(`cluster ${opts.name} is already up`);
    return existing;
  }
  if (existing) await clusterDown(opts);

  const binaries = await controlPlaneBinaries();
  const cpAddress = addressIn(opts.subnet, 1);
  const state: ClusterState = {
    name: opts.name,
    subnet: opts.subnet,
    stateDir: opts.stateDir,
    bridgeNamespace: `weft-${opts.name}-net`,
    controlPlaneNamespace: `weft-${opts.name}-cp`,
    hostInterface: `wft-${opts.name}`,
    apiserverUrl: `https://${cpAddress}:6443`,
    kubeconfig: join(opts.stateDir, 'kubeconfig'),
    kubectl: binaries.kubectl,
    processes: [],
  };
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const saveState = () => writeFile(join(opts.stateDir, 'cluster.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await saveState();

  try {
    log('creating the cluster network');
    await createNamespace(state.bridgeNamespace);
    await ipIn(state.bridgeNamespace, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(state.bridgeNamespace, 'link', 'set', 'br0', 'up');
    await createNamespace(state.controlPlaneNamespace);
    await createVeth({ netns: state.controlPlaneNamespace, name: 'eth0', address: `${cpAddress}/24` }, { netns: state.bridgeNamespace, name: 'cp' });
    await createVeth({ name: state.hostInterface, address: `${addressIn(opts.subnet, 254)}/24` }, { netns: state.bridgeNamespace, name: 'host' });
    for (const port of ['cp', 'host']) await ipIn(state.bridgeNamespace, 'link', 'set', port, 'master', 'br0');

    const pki = await createClusterPki(join(opts.stateDir, 'pki'), [cpAddress, '10.96.0.1']);
    await writeAdminKubeconfig(state.kubeconfig, `weft-${opts.name}`, state.apiserverUrl, pki);
    // Components inside the control-plane namespace talk to the API server over its loopback.
    const internalKubeconfig = join(opts.stateDir, 'kubeconfig.internal');
    await writeAdminKubeconfig(internalKubeconfig, `weft-${opts.name}`, 'https://127.0.0.1:6443', pki);

    const logs = join(opts.stateDir, 'logs');
    await mkdir(logs, { recursive: true, mode: 0o700 });
    const start = (name: string, binary: string, args: string[]) => {
      const p = startInNamespace(state.controlPlaneNamespace, name, binary, args, join(logs, `${name}.log`));
      state.processes.push(p);
      return saveState();
    };

    log('starting etcd');
    await start('etcd', binaries.etcd, [
      `--name=weft-${opts.name}`, `--data-dir=${join(opts.stateDir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379', '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      `--initial-cluster=weft-${opts.name}=http://127.0.0.1:2380`,
      // A throwaway development cluster: durability is not worth an fsync per write.
      '--unsafe-no-fsync', '--log-level=warn',
    ]);
    log('starting kube-apiserver');
    await start('kube-apiserver', binaries.kubeApiserver, [
      '--etcd-servers=http://127.0.0.1:2379',
      '--bind-address=0.0.0.0', '--secure-port=6443', `--advertise-address=${cpAddress}`,
      `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`, `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${pki.tokenFile}`, '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.96.0.0/16', '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPub}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--cert-dir=${join(opts.stateDir, 'pki')}`,
      // pods/log (and later exec, port-forward) are proxied to the kubelet at the node's InternalIP, over TLS
      // checked against the cluster CA, with a client certificate the kubelet checks in turn.
      `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`,
      `--kubelet-certificate-authority=${pki.caCert}`, '--kubelet-preferred-address-types=InternalIP',
    ]);
    await waitForApiserver(state.apiserverUrl, pki.caCert, pki.adminToken, 120_000, async () => {
      for (const p of state.processes) {
        if (!(await isRunning(p))) return `${p.name} exited:\n${await tailOf(p.log)}`;
      }
      return undefined;
    });
    log('starting kube-controller-manager and kube-scheduler');
    await start('kube-controller-manager', binaries.kubeControllerManager, [
      `--kubeconfig=${internalKubeconfig}`, `--authentication-kubeconfig=${internalKubeconfig}`, `--authorization-kubeconfig=${internalKubeconfig}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`, `--root-ca-file=${pki.caCert}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', `--cluster-name=weft-${opts.name}`,
      '--use-service-account-credentials=false',
    ]);
    await start('kube-scheduler', binaries.kubeScheduler, [
      `--kubeconfig=${internalKubeconfig}`, `--authentication-kubeconfig=${internalKubeconfig}`, `--authorization-kubeconfig=${internalKubeconfig}`,
      '--leader-elect=false', '--bind-address=127.0.0.1',
    ]);
    log('installing the Gateway API and Cilium network policy CRDs');
    await installClusterCrds(state.kubeconfig);
    if (opts.nodes) {
      log(`creating ${opts.nodes} node(s), each with its kubelet`);
      state.nodes = await createNodes(state, opts.nodes);
      await saveState();
      for (const node of state.nodes) {
        state.processes.push(startKubelet(state, node, logs));
        await saveState();
      }
      await waitForNodesReady(state, 60_000, async () => {
        for (const p of state.processes) {
          if (!(await isRunning(p))) return `${p.name} exited:\n${await tailOf(p.log)}`;
        }
        return undefined;
      });
    }
    if (opts.weft) {
      log('starting Weft: the operator, and one agent (with its Envoy and the datapath) per node');
      const operator = startOperator(state, logs, opts.mutualAuth === true);
      state.processes.push(operator);
      await saveState();
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(state.kubeconfig);
      await applyGatewayClass(kc);
      // With the mesh, the agents run as their own ServiceAccount (the chart's RBAC): no access to the CA's root key.
      if (opts.mutualAuth) await applyAgentIdentity(kc, MESH_CA_NAMESPACE, TLS_SECRETS_NAMESPACE);
      const agents: StartedProcess[] = [];
      for (const node of state.nodes ?? []) {
        const kubeconfig = opts.mutualAuth ? await writeAgentKubeconfig(kc, MESH_CA_NAMESPACE, node, opts.stateDir) : state.kubeconfig;
        agents.push(startAgent(state, node, logs, opts.mutualAuth === true, kubeconfig));
      }
      state.processes.push(...agents);
      await saveState();
      await waitForWeft(kc, agents, operator, 180_000);
    }
    return state;
  } catch (err) {
    await clusterDown(opts).catch(() => undefined);
    throw err;
  }
}

export interface ProcessStatus extends StartedProcess { running: boolean }

/** The cluster's recorded state and whether each of its processes still runs; undefined when it is not up. */
export async function clusterStatus(opts: ClusterOptions): Promise<(Omit<ClusterState, 'processes'> & { processes: ProcessStatus[] }) | undefined> {
  const state = await readState(opts.stateDir);
  if (!state) return undefined;
  return { ...state, processes: await Promise.all(state.processes.map(async (p) => ({ ...p, running: await isRunning(p) }))) };
}

/** Restarts one control-plane component (kube-apiserver, etcd, ...) in place, and records its new PID. */
export async function restartComponent(opts: ClusterOptions, name: string): Promise<ClusterState> {
  const state = await readState(opts.stateDir);
  const index = state?.processes.findIndex((p) => p.name === name) ?? -1;
  if (!state || index < 0) throw new Error(`cluster ${opts.name} has no running ${name}`);
  state.processes[index] = await restartProcess(state.processes[index]);
  await writeFile(join(opts.stateDir, 'cluster.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  return state;
}

/** Stops every process of the cluster and removes its namespaces and host interface; keeps nothing running. */
export async function clusterDown(opts: ClusterOptions, log: (line: string) => void = () => undefined): Promise<void> {
  const state = await readState(opts.stateDir);
  // Stop in reverse order of start: the API server before etcd.
  for (const p of [...(state?.processes ?? [])].reverse()) {
    log(`stopping ${p.name} (pid ${p.pid})`);
    await stopProcess(p);
  }
  // Pods outlive their kubelet by design: the node and pod namespaces are emptied of processes, then removed.
  await deleteNodes({ name: opts.name, subnet: state?.subnet ?? opts.subnet, stateDir: opts.stateDir, bridgeNamespace: state?.bridgeNamespace ?? `weft-${opts.name}-net` });
  const hostInterface = state?.hostInterface ?? `wft-${opts.name}`;
  if (await linkExists(hostInterface)) await ip('link', 'delete', hostInterface);
  await deleteNamespace(state?.controlPlaneNamespace ?? `weft-${opts.name}-cp`);
  await deleteNamespace(state?.bridgeNamespace ?? `weft-${opts.name}-net`);
  await rm(opts.stateDir, { recursive: true, force: true });
}
