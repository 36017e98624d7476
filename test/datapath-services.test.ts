// Service load balancing in the real kernel: a ClusterIP in front of three backend pods. New connections
// spread over the backends, replies come from the virtual address, a removed backend gets no new
// connections, and an existing connection keeps its backend when the backend list changes.
import test from 'ava';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { ServiceMap, type Backend } from '../src/datapath/services.js';
import { FlowReader } from '../src/datapath/flows.js';
import { Conntrack } from '../src/datapath/conntrack.js';
import type { FlowEvent } from '../src/datapath/layout.js';
import { spawn } from 'node:child_process';
import { inNs, ip, Topology } from './helpers/datapath-topology.js';

const unavailable = datapathUnavailable();
const VIP = '10.96.0.10';
const VIP6 = 'fd00:96::10';

let topo: Topology | undefined;
let dp: Datapath | undefined;
let flows: FlowReader | undefined;
const events: FlowEvent[] = [];
let services: ServiceMap;

const backendsOf = (names: string[], port: number, family: 4 | 6 = 4): Backend[] =>
  names.map((n) => ({ ip: family === 4 ? topo!.pod(n).ip4 : topo!.pod(n).ip6, port }));

if (unavailable) {
  test('datapath services', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.before(async () => {
    topo = new Topology();
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    flows = new FlowReader(dp.flowsMapFd, (batch) => events.push(...batch));
    const endpoints = new EndpointMap(dp.maps.endpoints);
    services = new ServiceMap(dp.maps.services, dp.maps.backends);
    const pods = ['client', 'b1', 'b2', 'b3', 'b4'].map((n, i) => topo!.addPod(n, 10 + i));
    for (const [i, pod] of pods.entries()) {
      dp.attach(topo.nodeNsPath, pod.hostIf);
      endpoints.upsert({ ips: [pod.ip4, pod.ip6], identity: 2000 + i, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, pod.hostIf), ingressEnforced: false, egressEnforced: false });
      if (pod.name !== 'client') {
        await topo.serve(pod.ns, pod.name, 'tcp', [8080]);
        await topo.serve(pod.ns, pod.name, 'udp', [5353]);
        await topo.serve(pod.ns, pod.name, 'tcpecho', [9000]);
      }
    }
    services.upsert({ vip: VIP, port: 80, protocol: 'tcp', backends: backendsOf(['b1', 'b2', 'b3'], 8080) });
    services.upsert({ vip: VIP, port: 53, protocol: 'udp', backends: backendsOf(['b1', 'b2', 'b3'], 5353) });
    services.upsert({ vip: VIP, port: 90, protocol: 'tcp', backends: backendsOf(['b1', 'b2'], 9000) });
    services.upsert({ vip: VIP6, port: 80, protocol: 'tcp', backends: backendsOf(['b1', 'b2', 'b3'], 8080, 6) });
  });

  test.after.always(() => {
    flows?.close();
    if (topo && dp) for (const pod of topo.pods.values()) dp.detach(topo.nodeNsPath, pod.hostIf);
    dp?.destroy();
    topo?.destroy();
  });

  async function spread(proto: 'tcp' | 'udp', vip: string, port: number, n: number): Promise<Map<string, number>> {
    const client = topo!.pod('client');
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await topo!.connect(client.ns, proto, vip, port);
      if (!r.ok) throw new Error(`connection ${i} to ${vip}:${port}/${proto} failed: ${r.error}`);
      if (r.from !== vip) throw new Error(`the reply came from ${r.from}, not from the service address ${vip}`);
      const [backend, peer] = r.reply!.split(' ');
      if (peer !== (vip.includes(':') ? client.ip6 : client.ip4)) throw new Error(`${backend} saw ${peer}, not the client's address`);
      seen.set(backend, (seen.get(backend) ?? 0) + 1);
    }
    return seen;
  }

  test.serial('connections to a ClusterIP spread over the backends, and replies come from the service address', async (t) => {
    const tcp = await spread('tcp', VIP, 80, 24);
    t.true([...tcp.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)));
    t.true(tcp.size >= 2, `24 connections reached only ${[...tcp.keys()].join(', ')}`);
    const udp = await spread('udp', VIP, 53, 12);
    t.true([...udp.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)));
    const v6 = await spread('tcp', VIP6, 80, 12);
    t.true([...v6.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)), 'IPv6 service');
  });

  test.serial('a removed backend receives no new connections; an added one does', async (t) => {
    const writes = services.upsert({ vip: VIP, port: 80, protocol: 'tcp', backends: backendsOf(['b1', 'b2', 'b4'], 8080) });
    t.is(writes, 1, 'only the changed slot is written');
    const seen = await spread('tcp', VIP, 80, 24);
    t.false(seen.has('b3'), `b3 still got ${seen.get('b3')} connections`);
    t.true(seen.has('b4') || seen.size >= 2);
    services.upsert({ vip: VIP, port: 80, protocol: 'tcp', backends: backendsOf(['b2'], 8080) });
    t.deepEqual([...(await spread('tcp', VIP, 80, 6)).keys()], ['b2']);
  });

  test.serial('an existing connection keeps its backend when the backend list changes', async (t) => {
    const client = topo!.pod('client');
    const conn = await topo!.hold(client.ns, VIP, 90);
    try {
      const first = (await conn.send('one')).split(' ');
      t.is(first[1], 'one');
      const backend = first[0];
      // Reorder the slots and add a backend: the connection's backend moves to another slot.
      services.upsert({ vip: VIP, port: 90, protocol: 'tcp', backends: backendsOf(['b3', 'b4', 'b2', 'b1'], 9000) });
      for (let i = 0; i < 5; i++) t.is(await conn.send(`again${i}`), `${backend} again${i}`);
      const ct = new Conntrack(dp!.maps.conntrack).entries().filter((e) => e.daddr === VIP && e.dport === 90 && e.dir === 2);
      t.is(ct.length, 1, 'one service conntrack entry for the held connection');
    } finally {
      conn.close();
    }
  });

  test.serial('two services sharing a backend, reached from the same client port, each answer from their own address', async (t) => {
    const client = topo!.pod('client');
    const other = '10.96.0.11';
    services.upsert({ vip: VIP, port: 82, protocol: 'tcp', backends: backendsOf(['b1'], 8080) });
    services.upsert({ vip: other, port: 82, protocol: 'tcp', backends: backendsOf(['b1'], 8080) });
    // After NAT both connections are client:41000 → b1:8080, the same tuple.
    const first = await topo!.connect(client.ns, 'tcp', VIP, 82, 1500, 41000);
    t.like(first, { ok: true, from: VIP });
    const second = await topo!.connect(client.ns, 'tcp', other, 82, 1500, 41000);
    t.like(second, { ok: true, from: other });
    services.remove(other, 82, 'tcp');
    services.remove(VIP, 82, 'tcp');
  });

  test.serial('NodePort: a client outside the node reaches the backends through the node address', async (t) => {
    // An "outside" namespace behind the node's uplink (192.0.2.0/24, TEST-NET-1, inside the test's namespaces).
    const ext = `wx${topo!.id}`;
    topo!.addNs(ext);
    const uplink = `u${topo!.id}`;
    ip('-n', topo!.node, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext);
    ip('-n', topo!.node, 'addr', 'add', '192.0.2.1/24', 'dev', uplink);
    ip('-n', topo!.node, 'link', 'set', uplink, 'up');
    ip('-n', ext, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0');
    ip('-n', ext, 'link', 'set', 'eth0', 'up');
    ip('-n', ext, 'route', 'add', '10.99.0.0/16', 'via', '192.0.2.1');
    dp!.attachUplink(topo!.nodeNsPath, uplink);
    services.upsert({ vip: '192.0.2.1', port: 30080, protocol: 'tcp', backends: backendsOf(['b1', 'b2'], 8080) });
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await topo!.connect(ext, 'tcp', '192.0.2.1', 30080);
      t.like(r, { ok: true, from: '192.0.2.1' });
      const [backend, peer] = r.reply!.split(' ');
      t.is(peer, '192.0.2.2', 'the backend sees the outside client');
      seen.add(backend);
    }
    t.true([...seen].every((b) => b === 'b1' || b === 'b2'));
    t.true(dp!.detach(topo!.nodeNsPath, uplink));
    t.false((await topo!.connect(ext, 'tcp', '192.0.2.1', 30080, 800)).ok, 'without the programs nothing listens on the node port');
  });

  test.serial('ICMP errors about a service connection reach the client translated back to the service address', async (t) => {
    // b1 has nothing on UDP 5999: its kernel answers port unreachable, quoting client → b1:5999. Only
    // translated back (quoted destination and the error's source → the service address) does the client's
    // socket, connected to the service address, recognise it.
    const client = topo!.pod('client');
    services.upsert({ vip: VIP, port: 55, protocol: 'udp', backends: backendsOf(['b1'], 5999) });
    services.upsert({ vip: VIP6, port: 55, protocol: 'udp', backends: backendsOf(['b1'], 5999, 6) });
    try {
      t.like(await topo!.udpConnected(client.ns, VIP, 55), { ok: false, error: 'ECONNREFUSED' });
      t.like(await topo!.udpConnected(client.ns, VIP6, 55), { ok: false, error: 'ECONNREFUSED' }, 'IPv6');
      t.like(await topo!.udpConnected(client.ns, VIP, 53), { ok: true, from: VIP }, 'a served port still answers');
    } finally {
      services.remove(VIP, 55, 'udp');
      services.remove(VIP6, 55, 'udp');
    }
  });

  test.serial('an ICMP error the client sends about a service reply reaches the backend', async (t) => {
    // The backend answers 300 ms late on a socket connected to the client, whose socket is closed by then:
    // the client's kernel answers port unreachable, quoting the reply as it arrived (from the service
    // address). Translated to the backend, the error reaches the backend's connected socket (ECONNREFUSED).
    const client = topo!.pod('client');
    services.upsert({ vip: VIP, port: 56, protocol: 'udp', backends: backendsOf(['b2'], 6000) });
    const backend = spawn('ip', ['netns', 'exec', topo!.pod('b2').ns, 'python3', '-c', `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 6000))
print('ready', flush=True)
data, peer = s.recvfrom(100)
s.connect(peer)
time.sleep(0.3)
s.send(b'late')
s.settimeout(2)
try:
    s.recv(100)
    print('reply', flush=True)
except ConnectionRefusedError:
    print('refused', flush=True)
except socket.timeout:
    print('timeout', flush=True)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines: string[] = [];
      const next = () => new Promise<string>((resolve) => {
        const check = () => (lines.length ? resolve(lines.shift()!) : setTimeout(check, 20));
        check();
      });
      backend.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
      t.is(await next(), 'ready');
      inNs(client.ns, 'python3', '-c', `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('${VIP}', 56)); s.close()`);
      t.is(await next(), 'refused');
    } finally {
      backend.kill();
      services.remove(VIP, 56, 'udp');
    }
  });

  test.serial('a service without backends drops new connections with a flow event', async (t) => {
    services.upsert({ vip: VIP, port: 81, protocol: 'tcp', backends: [] });
    events.length = 0;
    const r = await topo!.connect(topo!.pod('client').ns, 'tcp', VIP, 81, 800);
    t.false(r.ok);
    await new Promise((res) => setTimeout(res, 100));
    t.true(events.some((e) => e.kind === 'drop' && e.reason === 'no-service-backend' && e.destination.ip === VIP && e.destination.port === 81));
    t.true(services.remove(VIP, 81, 'tcp'));
    t.false(services.remove(VIP, 81, 'tcp'));
  });
}
