// `weft dev cluster up|down`: the local Kubernetes cluster for trying and testing Weft on one machine.
import type { Command } from 'commander';
import { clusterDown, clusterOptions, clusterUp } from '../devcluster/cluster.js';

interface ClusterFlags { name: string; subnet: string; stateDir?: string }

function requireRoot(): void {
  // Network namespaces and veths need CAP_NET_ADMIN and CAP_SYS_ADMIN.
  if (process.getuid?.() !== 0) throw new Error('weft dev cluster needs root (it creates network namespaces)');
}

export function addDevClusterCommands(program: Command): void {
  const cluster = program.command('dev').description('development tooling').command('cluster')
    .description('a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) in network namespaces');
  const common = (c: Command) => c
    .option('--name <name>', 'cluster name (1-11 characters)', 'dev')
    .option('--subnet <cidr>', 'IPv4 /24 of the cluster management network; the API server is its .1', '10.77.0.0/24')
    .option('--state-dir <dir>', 'where the cluster keeps its state (default ~/.local/state/weft/clusters/<name>)');
  common(cluster.command('up').description('start the cluster (building its binaries the first time) and print the KUBECONFIG path'))
    .action(async (flags: ClusterFlags) => {
      requireRoot();
      const state = await clusterUp(clusterOptions(flags.name, flags.subnet, flags.stateDir), (line) => console.error(line));
      console.error(`cluster ${state.name} is up: API server ${state.apiserverUrl}; kubectl: ${state.kubectl}`);
      console.log(state.kubeconfig);
    });
  common(cluster.command('down').description('stop the cluster and remove its namespaces and state'))
    .action(async (flags: ClusterFlags) => {
      requireRoot();
      await clusterDown(clusterOptions(flags.name, flags.subnet, flags.stateDir), (line) => console.error(line));
      console.error(`cluster ${flags.name} is down`);
    });
}
