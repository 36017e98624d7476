// Pods for Kubernetes-mode tests until nodes run them: a network namespace per pod, wired to its node namespace
// the way a routed CNI does it (pod eth0 with a /32-style route to the node side, proxy ARP on the node side), and a
// process inside it. Everything here is created by the test and removed by it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNamespace, createVeth, deleteNamespace, ip, ipIn } from '../../src/devcluster/netns.js';
import type { NodeNetwork } from '../../src/devcluster/nodes.js';

export interface TestPod {
  netns: string;
  address: string;
  process: ChildProcess;
  remove(): Promise<void>;
}

const echoMain = fileURLToPath(new URL('./echo-main.js', import.meta.url));

/** An echo backend named `name` listening on `port` inside a new pod namespace on `node`. */
export async function startEchoPod(node: NodeNetwork, podIndex: number, name: string, port: number): Promise<TestPod> {
  const netns = `${node.netns}-p${podIndex}`;
  const address = `${node.podCidr.split('.').slice(0, 3).join('.')}.${10 + podIndex}`;
  await createNamespace(netns);
  try {
    return await wirePod(node, netns, address, podIndex, name, port);
  } catch (err) {
    await deleteNamespace(netns);
    throw err;
  }
}

async function wirePod(node: NodeNetwork, netns: string, address: string, podIndex: number, name: string, port: number): Promise<TestPod> {
  const hostSide = `p${podIndex}`;
  await createVeth({ netns, name: 'eth0', address: `${address}/32` }, { netns: node.netns, name: hostSide });
  await ipIn(netns, 'route', 'add', 'default', 'dev', 'eth0', 'scope', 'link');
  await ipIn(node.netns, 'route', 'add', `${address}/32`, 'dev', hostSide);
  await ip('netns', 'exec', node.netns, 'sysctl', '-qw', `net.ipv4.conf.${hostSide}.proxy_arp=1`);
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, echoMain, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`echo pod ${name} exited with ${code}`)));
    child.stdout.once('data', () => resolve());
  });
  return {
    netns,
    address,
    process: child,
    remove: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await deleteNamespace(netns);
    },
  };
}

/** A Service (port 80 → `port`) for a pod, and the EndpointSlice naming the pod's address as ready. */
export function serviceForPod(namespace: string, name: string, address: string, port = 3000): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80, targetPort: port }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'http', port }], endpoints: [{ addresses: [address], conditions: { ready: true } }] },
  ];
}
