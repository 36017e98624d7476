// Flows from the real kernel datapath (pods as network namespaces, Weft's tc programs, the BPF ring buffer)
// through one node's flow agent and through the relay, with mutual TLS on both hops: an allowed connection
// and L3/L4 drops with their reason appear with the right pods, identities and service; follow streams new
// flows; `weft observe` prints them; a client outside the trust domain is refused.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import test from 'ava';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { EndpointMap, IdentityCache } from '../src/datapath/endpoints.js';
import { PolicyMap } from '../src/datapath/policy.js';
import { IDENTITY } from '../src/datapath/layout.js';
import { FlowAgent } from '../src/observe/agent.js';
import { WorkloadDirectory } from '../src/observe/directory.js';
import type { Flow } from '../src/observe/flow.js';
import { Relay } from '../src/observe/relay.js';
import { Topology } from './helpers/datapath-topology.js';
import { eventually } from './helpers/net.js';
import { client, follow, getFlows, TrustDomain, type ObserverClient } from './helpers/observe.js';

const unavailable = datapathUnavailable();
const ID = { a: 1001, b: 1002, c: 1003 } as const;
const weft = path.resolve('bin', 'weft');

let topo: Topology | undefined;
let dp: Datapath | undefined;
let agent: FlowAgent | undefined;
let relay: Relay | undefined;
const clients: ObserverClient[] = [];
const td = new TrustDomain();
const clientTls = td.material('/weft/observe');
let tlsDir = '';

if (unavailable) {
  test('flows from the datapath', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.before(async () => {
    topo = new Topology();
    const pods = { a: topo.addPod('a', 2), b: topo.addPod('b', 3), c: topo.addPod('c', 4) };
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    const endpoints = new EndpointMap(dp.maps.endpoints);
    new IdentityCache(dp.maps.ipcache).set(`${topo.nodeIp4}/32`, IDENTITY.host);
    for (const [name, pod] of Object.entries(pods)) {
      dp.attach(topo.nodeNsPath, pod.hostIf);
      endpoints.upsert({ ips: [pod.ip4, pod.ip6], identity: ID[name as 'a' | 'b' | 'c'], ifindex: nativeBpf().ifIndex(topo.nodeNsPath, pod.hostIf), ingressEnforced: name === 'b', egressEnforced: false });
    }
    new PolicyMap(dp.maps.policy).apply(ID.b, [{ direction: 'ingress', peerIdentity: ID.a, port: 8080, protocol: 'tcp', verdict: 'allow' }]);
    await topo.serve(pods.b.ns, 'b', 'tcp', [8080, 9090]);

    const directory = new WorkloadDirectory(
      'node-1',
      Object.entries(pods).map(([name, p]) => ({ namespace: 'shop', pod: `${name}-0`, labels: { app: name }, identity: ID[name as 'a' | 'b' | 'c'], ips: [p.ip4, p.ip6] })),
      [{ namespace: 'shop', name: 'backend', ips: ['10.96.0.10'], selector: { app: 'b' } }],
    );
    agent = await FlowAgent.start({ node: 'node-1', listen: '127.0.0.1:0', mtls: td.material('/weft/agent/node-1'), flowsMapFd: dp.flowsMapFd, directory });
    relay = await Relay.start({ agents: [`127.0.0.1:${agent.observerPort}`], listen: '127.0.0.1:0', mtls: td.material('/weft/relay') });
    tlsDir = mkdtempSync(path.join(tmpdir(), 'weft-observe-tls-'));
    writeFileSync(path.join(tlsDir, 'svid.pem'), clientTls.chainPem);
    writeFileSync(path.join(tlsDir, 'svid.key'), clientTls.keyPem, { mode: 0o600 });
    writeFileSync(path.join(tlsDir, 'bundle.pem'), clientTls.bundlePem);
  });

  test.after.always(() => {
    for (const c of clients) c.close();
    relay?.stop();
    agent?.stop();
    if (topo && dp) for (const pod of topo.pods.values()) dp.detach(topo.nodeNsPath, pod.hostIf);
    dp?.destroy();
    topo?.destroy();
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
  });

  const agentClient = (): ObserverClient => {
    const c = client(`127.0.0.1:${agent!.observerPort}`, clientTls);
    clients.push(c);
    return c;
  };
  const relayClient = (): ObserverClient => {
    const c = client(`127.0.0.1:${relay!.port}`, clientTls);
    clients.push(c);
    return c;
  };
  const isFlow = (f: Flow, from: string, to: string, port: number): boolean => f.source.pod === from && f.destination.pod === to && f.destination.port === port;

  test.serial('an allowed connection and L3/L4 drops appear with pods, identities, service and reason, through the agent and through the relay; follow streams them', async (t) => {
    const { a, b, c } = { a: topo!.pod('a'), b: topo!.pod('b'), c: topo!.pod('c') };
    const viaRelay = relayClient();
    await eventually(() => relay!.nodes()[0]?.name === 'node-1', 10_000, 'the relay to learn the agent\'s node name');
    const followed = follow(viaRelay, { verdict: ['DROPPED'] });
    const followedAgent = follow(agentClient(), { pod: ['shop/c-0'] });
    await new Promise((r) => setTimeout(r, 200));

    t.true((await topo!.connect(a.ns, 'tcp', b.ip4, 8080)).ok, 'a → b:8080 allowed');
    t.false((await topo!.connect(c.ns, 'tcp', b.ip4, 8080, 800)).ok, 'c → b:8080 dropped');
    t.false((await topo!.connect(a.ns, 'tcp', b.ip4, 9090, 800)).ok, 'a → b:9090 dropped (no rule for the port)');

    const viaAgent = await eventually(async () => {
      const flows = await getFlows(agentClient());
      return flows.some((f) => isFlow(f, 'a-0', 'b-0', 9090)) && flows;
    }, 5000, 'the flows at the agent');
    const allowed = viaAgent.find((f) => isFlow(f, 'a-0', 'b-0', 8080) && f.verdict === 'FORWARDED' && f.traffic_direction === 'INGRESS');
    t.like(allowed, {
      node: 'node-1', type: 'L3_L4', verdict: 'FORWARDED', drop_reason: '', protocol: 'TCP', ip_version: 4,
      source: { ip: a.ip4, identity: ID.a, namespace: 'shop', pod: 'a-0', labels: ['app=a'], workload: 'a' },
      destination: { ip: b.ip4, port: 8080, identity: ID.b, namespace: 'shop', pod: 'b-0', labels: ['app=b'], services: ['shop/backend'], workload: 'b' },
    });
    t.true(Math.abs(allowed!.time_ms - Date.now()) < 60_000, 'the monotonic kernel time became wall-clock time');
    const denied = viaAgent.find((f) => isFlow(f, 'c-0', 'b-0', 8080) && f.traffic_direction === 'INGRESS');
    t.like(viaAgent.find((f) => isFlow(f, 'c-0', 'b-0', 8080) && f.traffic_direction === 'EGRESS'), { verdict: 'FORWARDED' }, 'c does not enforce egress: its side lets the connection out');
    t.like(denied, { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', drop_reason_code: 133, traffic_direction: 'INGRESS', source: { identity: ID.c, ip: c.ip4 }, destination: { identity: ID.b } });
    t.like(viaAgent.find((f) => isFlow(f, 'a-0', 'b-0', 9090) && f.traffic_direction === 'INGRESS'), { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', source: { identity: ID.a } });

    const viaRelayFlows = await eventually(async () => {
      const flows = await getFlows(viaRelay);
      return flows.some((f) => isFlow(f, 'a-0', 'b-0', 9090)) && flows;
    }, 5000, 'the flows at the relay');
    t.like(viaRelayFlows.find((f) => isFlow(f, 'c-0', 'b-0', 8080) && f.verdict === 'DROPPED'), { node: 'node-1', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', source: { identity: ID.c, pod: 'c-0' }, destination: { identity: ID.b, pod: 'b-0' } });
    t.truthy(viaRelayFlows.find((f) => isFlow(f, 'a-0', 'b-0', 8080) && f.verdict === 'FORWARDED'));
    t.is(viaRelayFlows.length, viaAgent.length, 'the relay holds what the agent holds, once');

    // Follow: new flows arrive on streams opened before the traffic, filtered as asked.
    await eventually(() => followed.flows.some((f) => isFlow(f, 'a-0', 'b-0', 9090)), 5000, 'the followed drops');
    t.true(followed.flows.length > 0 && followed.flows.every((f) => f.verdict === 'DROPPED'), 'the relay follower got only drops');
    t.true(followed.flows.some((f) => isFlow(f, 'c-0', 'b-0', 8080)));
    await eventually(() => followedAgent.flows.length > 0, 5000, 'the agent follower');
    t.true(followedAgent.flows.every((f) => f.source.pod === 'c-0' || f.destination.pod === 'c-0'), 'pod filter on the agent follower');
    t.deepEqual([...followed.errors, ...followedAgent.errors], []);
    followed.stop();
    followedAgent.stop();
  });

  test.serial('filters through the relay select exactly what they say', async (t) => {
    const viaRelay = relayClient();
    const all = await getFlows(viaRelay);
    t.true(all.length >= 3);
    const cases: Array<[string, Parameters<typeof getFlows>[1], (f: Flow) => boolean]> = [
      ['verdict FORWARDED', { verdict: ['FORWARDED'] }, (f) => f.verdict === 'FORWARDED'],
      ['drop reason', { drop_reason: ['POLICY_DENIED'] }, (f) => f.drop_reason === 'POLICY_DENIED'],
      ['source pod c', { source_pod: ['shop/c-0'] }, (f) => f.source.pod === 'c-0'],
      ['identity of c', { identity: [ID.c] }, (f) => f.source.identity === ID.c || f.destination.identity === ID.c],
      ['label app=a', { label: ['app=a'] }, (f) => f.source.labels.includes('app=a') || f.destination.labels.includes('app=a')],
      ['UDP (none)', { protocol: ['UDP'] }, (f) => f.protocol === 'UDP'],
      ['dropped from a', { verdict: ['DROPPED'], source_pod: ['a-0'] }, (f) => f.verdict === 'DROPPED' && f.source.pod === 'a-0'],
    ];
    for (const [name, filter, expect] of cases) {
      const got = await getFlows(viaRelay, filter);
      t.deepEqual(got, all.filter(expect), name);
    }
    t.true(all.filter((f) => f.verdict === 'DROPPED' && f.source.pod === 'a-0').length > 0, 'the combined case is not vacuous');
    // The kernel's own IPv6 packets (MLD reports from the veths' link-local addresses) may add flows between two
    // reads: compare the newest two with a read taken right after them, until no flow arrived in between.
    let last: Flow[] = [];
    let newest: Flow[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      last = await getFlows(viaRelay, {}, 2);
      newest = (await getFlows(viaRelay)).slice(-2);
      if (isDeepStrictEqual(last, newest)) break;
    }
    t.deepEqual(last, newest, 'number: the newest n');
  });

  test.serial('weft observe prints flows from the relay (JSON and compact) with mutual TLS; a client of another trust domain is refused', async (t) => {
    const run = promisify(execFile);
    const json = await run(weft, ['observe', '--server', `127.0.0.1:${relay!.port}`, '--tls-dir', tlsDir, '--verdict', 'DROPPED', '--from-pod', 'shop/c-0', '-o', 'json']);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Flow);
    t.true(lines.length > 0);
    t.true(lines.every((f) => f.verdict === 'DROPPED' && f.source.pod === 'c-0' && f.drop_reason === 'POLICY_DENIED'));
    const compact = await run(weft, ['observe', '--server', `127.0.0.1:${relay!.port}`, '--tls-dir', tlsDir, '--to-pod', 'b-0', '--verdict', 'FORWARDED']);
    t.regex(compact.stdout, /shop\/a-0:\d+ \(ID:1001\) -> shop\/b-0:8080 \(ID:1002\) L3_L4 FORWARDED TCP/);
    const wide = await run(weft, ['observe', '--server', `127.0.0.1:${agent!.observerPort}`, '--tls-dir', tlsDir, '--drop-reason', 'POLICY_DENIED', '--last', '1', '-o', 'wide']);
    t.regex(wide.stdout, /^\S+ node=node-1 .* DROPPED \(POLICY_DENIED\) code=133 TCP IPv4/);
    t.is(wide.stdout.trim().split('\n').length, 1, '--last 1');

    const foreign = client(`127.0.0.1:${relay!.port}`, new TrustDomain('other.test').material('/weft/observe'));
    clients.push(foreign);
    await t.throwsAsync(getFlows(foreign), undefined, 'a client certificate from another CA fails the handshake');
    const plain = client(`127.0.0.1:${relay!.port}`);
    clients.push(plain);
    await t.throwsAsync(getFlows(plain), undefined, 'plaintext is refused');
    const bad = await run(weft, ['observe', '--server', `127.0.0.1:${relay!.port}`, '--tls-dir', tlsDir, '--http-status', 'abc']).catch((e: { stderr: string; code: number }) => e);
    t.regex((bad as { stderr: string }).stderr, /http-status: "abc" is not a non-negative integer/);
  });
}
