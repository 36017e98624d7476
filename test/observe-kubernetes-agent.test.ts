// Flows in a Kubernetes deployment, against the real API server: `weft agent` (a process in the node's network
// namespace, flows on by default, mutual TLS) runs the node's flow agent, and its Envoy streams the Gateway's
// requests to it; the flow names the backend pod from the API server. `weft relay --kubernetes` finds the agent
// from its pod (label selector, hostNetwork: the node's address), serves the same flows, and follows the agent
// pod going and coming back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { silentLogger } from '../src/log/logger.js';
import { Operator } from '../src/kubernetes/operator.js';
import { createNodeNetwork, deleteNodeNetwork } from '../src/devcluster/nodes.js';
import type { Flow } from '../src/observe/flow.js';
import type { NodeInfo } from '../src/observe/observer-service.js';
import { devClusterUnavailable, startTestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';
import { client, getFlows, TrustDomain, writeTls, type ObserverClient } from './helpers/observe.js';
import { serviceForPod, startEchoPod } from './helpers/pods.js';

const unavailable = devClusterUnavailable();
const mainJs = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const NS = 'flows-test';
const AGENT_LABELS = { 'app.kubernetes.io/name': 'weft', 'app.kubernetes.io/component': 'agent' };

function httpGet(host: string, port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A weft process; resolves once `stream` prints `ready`, with everything it printed so far. */
function startWeft(t: ExecutionContext, command: string[], stream: 'stdout' | 'stderr', ready: RegExp): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  let output = '';
  let errors = '';
  child.stderr.on('data', (d: Buffer) => {
    errors += d.toString();
    if (process.env.WEFT_TEST_LOG) process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    child[stream].on('data', (d: Buffer) => {
      output += d.toString();
      if (ready.test(output)) resolve({ child, output });
    });
    child.once('exit', (code) => reject(new Error(`${command.slice(0, 6).join(' ')} exited with ${code}: ${errors.slice(-2000)}`)));
  });
}

function getNodes(c: ObserverClient): Promise<NodeInfo[]> {
  return new Promise((resolve, reject) => c.GetNodes({}, (err, res) => (err ? reject(err) : resolve(res!.nodes))));
}

if (unavailable) {
  test('flows in a Kubernetes deployment', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test('a request through the node agent\'s Envoy is a flow at the agent and at a relay that found the agent from the API server', async (t) => {
    const cluster = await startTestCluster();
    t.teardown(() => cluster.down());
    const prefix = cluster.opts.subnet.split('.').slice(0, 3).join('.');
    const gatewayIp = `${prefix}.200`;
    const operator = new Operator({ kubeConfig: cluster.kc, logger: silentLogger, identity: 'op', gatewayAddressPool: `${prefix}.200-${prefix}.210` });
    operator.start();
    t.teardown(() => operator.stop().catch(() => undefined));
    const node = await createNodeNetwork(cluster.state, 1);
    t.teardown(() => deleteNodeNetwork(cluster.state, 1).catch(() => undefined));
    const blue = await startEchoPod(node, 0, 'blue', 3000);
    t.teardown(() => blue.remove().catch(() => undefined));

    const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
    const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    for (const o of [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } },
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
      ...serviceForPod(NS, 'blue', blue.address),
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'blue', namespace: NS }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'blue', port: 80 }] }] } },
    ]) await objects.create(o);
    // The backend's Pod object, with the address its (test) pod has: the flow's destination is named from it.
    await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'blue-0', labels: { app: 'blue' } }, spec: { nodeName: node.name, containers: [{ name: 'c', image: 'example' }] } } });
    const setPodStatus = (namespace: string, name: string, ip: string): Promise<true> => eventually(async () => {
      const pod = await core.readNamespacedPod({ name, namespace });
      await core.replaceNamespacedPodStatus({ name, namespace, body: { ...pod, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } });
      return true as const;
    }, 10_000, `${namespace}/${name}'s status written`);
    await setPodStatus(NS, 'blue-0', blue.address);

    const td = new TrustDomain();
    const tls = mkdtempSync(path.join(tmpdir(), 'weft-flows-tls-'));
    t.teardown(() => rmSync(tls, { recursive: true, force: true }));
    const agentTls = writeTls(tls, 'agent', td.material('/weft/agent'));
    const relayTls = writeTls(tls, 'relay', td.material('/weft/relay'));

    // Flows are on by default; the datapath's maps are not pinned under this root, so L7 flows only.
    await startWeft(t, ['ip', 'netns', 'exec', node.netns, process.execPath, mainJs, 'agent', '--kubeconfig', cluster.state.kubeconfig, '--node', node.name,
      '--announce-interface', 'eth0', '--flows-tls-dir', agentTls, '--flows-bpf-pin-root', path.join(tls, 'no-datapath')], 'stdout', /ready/);

    const status = await eventually(async () => {
      const s = await httpGet(gatewayIp, 8080, '/blue/x').catch(() => 0);
      return s === 200 && s;
    }, 30_000, 'a 200 through the node Envoy');
    t.is(status, 200);
    t.is(await httpGet(gatewayIp, 8080, '/second'), 200);

    // At the agent itself (the node's address, the flow port's default).
    const direct = client(`${node.address}:4244`, td.material('/weft/observe'));
    t.teardown(() => direct.close());
    const atAgent = await eventually(async () => {
      const got = await getFlows(direct, { type: ['L7'] });
      return got.some((f) => f.http?.path === '/second') && got;
    }, 15_000, 'the requests\' flows at the agent');
    const flow = atAgent.find((f) => f.http?.path === '/blue/x');
    t.like(flow, { node: node.name, type: 'L7', verdict: 'FORWARDED', protocol: 'HTTP', http: { method: 'GET', status: 200, host: `${gatewayIp}:8080` }, summary: 'via_upstream',
      destination: { ip: blue.address, port: 3000, namespace: NS, pod: 'blue-0', workload: 'blue' } });
    t.deepEqual(flow?.destination.labels, ['app=blue']);
    t.true((flow?.destination.identity ?? 0) >= 256, 'the backend pod\'s identity from its labels');
    t.is(flow?.source.ip.startsWith(prefix), true, 'the client is the host, on the cluster network');

    // The agent's pod, as the chart's DaemonSet makes it (hostNetwork: its address is the node's).
    await core.createNamespacedPod({ namespace: 'weft-system', body: { metadata: { name: 'weft-agent-a', labels: AGENT_LABELS }, spec: { nodeName: node.name, hostNetwork: true, containers: [{ name: 'agent', image: 'weft' }] } } });
    await setPodStatus('weft-system', 'weft-agent-a', node.address);

    const relay = await startWeft(t, [process.execPath, mainJs, 'relay', '--kubernetes', '--kubeconfig', cluster.state.kubeconfig,
      '--agent-selector', 'app.kubernetes.io/name=weft,app.kubernetes.io/component=agent', '--agent-namespace', 'weft-system', '--listen', '127.0.0.1:0', '--ui-listen', '127.0.0.1:0', '--tls-dir', relayTls], 'stderr', /service map on/);
    const relayPort = Number(/flows on port (\d+)/.exec(relay.output)![1]);
    const c = client(`127.0.0.1:${relayPort}`, td.material('/weft/observe'));
    t.teardown(() => c.close());
    const atRelay = await eventually(async () => {
      const got = await getFlows(c, { type: ['L7'] });
      return got.length >= atAgent.length && got;
    }, 20_000, 'the flows at the relay');
    t.deepEqual(atRelay.filter((f: Flow) => atAgent.some((a) => a.time_ms === f.time_ms && a.http?.path === f.http?.path)), atAgent, 'the agent\'s flows, as the agent has them');
    t.like((await getNodes(c)).find((n) => n.address === `${node.address}:4244`), { name: node.name, connected: true });

    // The agent pod goes: the relay stops following it; it comes back: followed again.
    await core.deleteNamespacedPod({ name: 'weft-agent-a', namespace: 'weft-system', gracePeriodSeconds: 0 });
    await eventually(async () => (await getNodes(c)).length === 0, 15_000, 'the agent gone from the relay');
    await core.createNamespacedPod({ namespace: 'weft-system', body: { metadata: { name: 'weft-agent-b', labels: AGENT_LABELS }, spec: { nodeName: node.name, hostNetwork: true, containers: [{ name: 'agent', image: 'weft' }] } } });
    await setPodStatus('weft-system', 'weft-agent-b', node.address);
    await eventually(async () => (await getNodes(c)).some((n) => n.connected && n.name === node.name), 15_000, 'the agent followed again');
    t.is(await httpGet(gatewayIp, 8080, '/third'), 200);
    await eventually(async () => (await getFlows(c, { http_path: ['/third'] })).length === 1, 15_000, 'a new flow through the relay');
  });
}
