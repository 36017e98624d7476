// `weft dev cluster up|down`: the local Kubernetes cluster for trying and testing Weft on one machine.
import type { Command } from 'commander';

interface ClusterFlags { name: string; subnet: string; stateDir?: string; nodes?: string; weft?: boolean; mutualAuth?: boolean }
interface KubeletFlags { node: string; kubeconfig: string; nodeNetns: string; nodeAddress: string; podCidr: string; stateDir: string; podNetnsPrefix: string; bpfPinRoot: string; tlsCertFile?: string; tlsPrivateKeyFile?: string; clientCaFile?: string }

function requireRoot(): void {
  // Network namespaces and veths need CAP_NET_ADMIN and CAP_SYS_ADMIN.
  if (process.getuid?.() !== 0) throw new Error('weft dev cluster needs root (it creates network namespaces)');
}

export function addDevClusterCommands(program: Command): void {
  const dev = program.command('dev').description('development tooling');
  const cluster = dev.command('cluster')
    .description('a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) in network namespaces');
  const common = (c: Command) => c
    .option('--name <name>', 'cluster name (1-11 characters)', 'dev')
    .option('--subnet <cidr>', 'IPv4 /24 of the cluster management network; the API server is its .1', '10.77.0.0/24')
    .option('--state-dir <dir>', 'where the cluster keeps its state (default ~/.local/state/weft/clusters/<name>)');
  common(cluster.command('up').description('start the cluster (building its binaries the first time) and print the KUBECONFIG path'))
    .option('--nodes <n>', 'number of nodes (network namespaces, each with its kubelet)', '1')
    .option('--no-weft', 'do not start Weft (the operator, one agent with the datapath per node, the GatewayClass weft)')
    .option('--mutual-auth', 'start the operator and the agents with --mutual-auth: the mesh CA in kube-system, pods\' SVIDs, the mesh listeners')
    .action(async (flags: ClusterFlags) => {
      if (flags.mutualAuth && flags.weft === false) throw new Error('--mutual-auth is passed to the Weft that up starts; it makes no sense with --no-weft');
      requireRoot();
      const nodes = Number(flags.nodes ?? '1');
      if (!Number.isInteger(nodes) || nodes < 0 || nodes > 200) throw new Error(`--nodes must be 0-200, not "${flags.nodes}"`);
      const { clusterOptions, clusterUp } = await import('../devcluster/cluster.js');
      const state = await clusterUp({ ...clusterOptions(flags.name, flags.subnet, flags.stateDir), nodes, weft: flags.weft !== false, mutualAuth: flags.mutualAuth === true }, (line) => console.error(line));
      console.error(`cluster ${state.name} is up: API server ${state.apiserverUrl}; kubectl: ${state.kubectl}`);
      for (const p of state.processes) console.error(`  ${p.name.padEnd(26)} pid ${String(p.pid).padEnd(8)} log ${p.log}`);
      console.log(state.kubeconfig);
    });
  common(cluster.command('status').description('show the cluster\'s processes (control plane, kubelets, Weft) and whether each runs; exits 1 if one does not'))
    .action(async (flags: ClusterFlags) => {
      const { clusterOptions, clusterStatus } = await import('../devcluster/cluster.js');
      const status = await clusterStatus(clusterOptions(flags.name, flags.subnet, flags.stateDir));
      if (!status) {
        console.log(`cluster ${flags.name} is not up`);
        process.exitCode = 1;
        return;
      }
      console.log(`cluster ${status.name}: API server ${status.apiserverUrl}, KUBECONFIG=${status.kubeconfig}`);
      for (const p of status.processes) console.log(`  ${p.name.padEnd(26)} ${(p.running ? 'running' : 'NOT RUNNING').padEnd(12)} pid ${String(p.pid).padEnd(8)} log ${p.log}`);
      if (status.processes.some((p) => !p.running)) process.exitCode = 1;
    });
  common(cluster.command('down').description('stop the cluster and remove its namespaces and state'))
    .action(async (flags: ClusterFlags) => {
      requireRoot();
      const { clusterDown, clusterOptions } = await import('../devcluster/cluster.js');
      await clusterDown(clusterOptions(flags.name, flags.subnet, flags.stateDir), (line) => console.error(line));
      console.error(`cluster ${flags.name} is down`);
    });
  dev.command('kubelet')
    .description('a small kubelet for one node of the local cluster (weft dev cluster up starts one per node, inside the node\'s namespace)')
    .requiredOption('--node <name>', 'the Node\'s name')
    .requiredOption('--kubeconfig <file>', 'kubeconfig to use')
    .requiredOption('--node-netns <name>', 'the node\'s network namespace (the kubelet runs inside it)')
    .requiredOption('--node-address <ip>', 'the node\'s InternalIP')
    .requiredOption('--pod-cidr <cidr>', 'the node\'s pod CIDR')
    .requiredOption('--state-dir <dir>', 'where the kubelet keeps pod records, CNI state and container logs')
    .requiredOption('--pod-netns-prefix <prefix>', 'prefix of the pods\' network namespace names')
    .requiredOption('--bpf-pin-root <dir>', 'where the CNI plugin pins this node\'s BPF maps')
    .option('--tls-cert-file <file>', 'serving certificate of the kubelet API (port 10250: container logs)')
    .option('--tls-private-key-file <file>', 'its private key')
    .option('--client-ca-file <file>', 'CA of the API server\'s client certificate, the only client the kubelet API accepts')
    .action(async (f: KubeletFlags) => {
      requireRoot();
      const tlsFlags = [f.tlsCertFile, f.tlsPrivateKeyFile, f.clientCaFile];
      if (tlsFlags.some(Boolean) && !tlsFlags.every(Boolean)) throw new Error('--tls-cert-file, --tls-private-key-file and --client-ca-file go together');
      const { runKubelet } = await import('../devcluster/kubelet/main.js');
      await runKubelet({ nodeName: f.node, kubeconfig: f.kubeconfig, nodeNetns: f.nodeNetns, nodeAddress: f.nodeAddress, podCidr: f.podCidr,
        stateDir: f.stateDir, podNetnsPrefix: f.podNetnsPrefix, bpfPinRoot: f.bpfPinRoot,
        ...(f.tlsCertFile && f.tlsPrivateKeyFile && f.clientCaFile ? { tls: { cert: f.tlsCertFile, key: f.tlsPrivateKeyFile, clientCa: f.clientCaFile } } : {}) });
    });
}
