// Socket-level load balancing in the real kernel: the client pod's processes run in a cgroup v2 with the
// cgroup/connect, sendmsg, recvmsg and getpeername programs attached. A connection to a ClusterIP then goes
// to a backend chosen at connect time: no service conntrack entry (nothing was NATed per packet), the
// client's socket still reports the service address as its peer, UDP replies come from the service
// address, and the backend sees the client's own address. A pod outside the cgroup keeps the tc path.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { ServiceMap, type Backend } from '../src/datapath/services.js';
import { Conntrack } from '../src/datapath/conntrack.js';
import { cgroup2Root, ensureCgroup, removeCgroup } from '../src/datapath/cgroup.js';
import { Topology } from './helpers/datapath-topology.js';

const cgroupRoot = cgroup2Root();
const unavailable = datapathUnavailable() ?? (cgroupRoot ? undefined : 'no cgroup v2 hierarchy is mounted (socket-level load balancing attaches to a cgroup v2)');
const VIP = '10.96.0.20';
const VIP6 = 'fd00:96::20';

let topo: Topology | undefined;
let dp: Datapath | undefined;
let cgroup: string | undefined;
let services: ServiceMap;

const backendsOf = (names: string[], port: number, family: 4 | 6 = 4): Backend[] =>
  names.map((n) => ({ ip: family === 4 ? topo!.pod(n).ip4 : topo!.pod(n).ip6, port }));

/** Service conntrack entries (the tc path's per-connection NAT state) for a service address. */
const serviceCt = (vip: string) => new Conntrack(dp!.maps.conntrack).entries().filter((e) => e.daddr === vip && e.dir === 2);

if (unavailable) {
  test('datapath socket-level load balancing', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.before(async () => {
    topo = new Topology();
    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    const endpoints = new EndpointMap(dp.maps.endpoints);
    services = new ServiceMap(dp.maps.services, dp.maps.backends);
    const pods = ['client', 'other', 'b1', 'b2', 'b3'].map((n, i) => topo!.addPod(n, 30 + i));
    for (const [i, pod] of pods.entries()) {
      dp.attach(topo.nodeNsPath, pod.hostIf);
      endpoints.upsert({ ips: [pod.ip4, pod.ip6], identity: 3000 + i, ifindex: nativeBpf().ifIndex(topo.nodeNsPath, pod.hostIf), ingressEnforced: false, egressEnforced: false });
      if (pod.name.startsWith('b')) {
        await topo.serve(pod.ns, pod.name, 'tcp', [8080]);
        await topo.serve(pod.ns, pod.name, 'udp', [5353]);
        await topo.serve(pod.ns, pod.name, 'tcpecho', [9000]);
      }
    }
    cgroup = ensureCgroup(cgroupRoot!, `weft-test-${topo.id}`);
    topo.cgroups.set(topo.pod('client').ns, cgroup);
    dp.attachSockets(cgroup);
    services.upsert({ vip: VIP, port: 80, protocol: 'tcp', backends: backendsOf(['b1', 'b2', 'b3'], 8080) });
    services.upsert({ vip: VIP, port: 53, protocol: 'udp', backends: backendsOf(['b1', 'b2', 'b3'], 5353) });
    services.upsert({ vip: VIP, port: 90, protocol: 'tcp', backends: backendsOf(['b1', 'b2'], 9000) });
    services.upsert({ vip: VIP6, port: 80, protocol: 'tcp', backends: backendsOf(['b1', 'b2', 'b3'], 8080, 6) });
  });

  test.after.always(() => {
    if (topo && dp) for (const pod of topo.pods.values()) dp.detach(topo.nodeNsPath, pod.hostIf);
    if (cgroup && dp) dp.detachSockets(cgroup);
    dp?.destroy();
    topo?.destroy(); // its processes are gone now, so the cgroup is empty
    if (cgroup) removeCgroup(cgroup);
  });

  async function spread(pod: string, proto: 'tcp' | 'udp', vip: string, port: number, n: number): Promise<Map<string, number>> {
    const client = topo!.pod(pod);
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await topo!.connect(client.ns, proto, vip, port);
      if (!r.ok) throw new Error(`connection ${i} to ${vip}:${port}/${proto} failed: ${r.error}`);
      if (r.from !== vip) throw new Error(`the peer is ${r.from}, not the service address ${vip}`);
      const [backend, peer] = r.reply!.split(' ');
      if (peer !== (vip.includes(':') ? client.ip6 : client.ip4)) throw new Error(`${backend} saw ${peer}, not the client's address`);
      seen.set(backend, (seen.get(backend) ?? 0) + 1);
    }
    return seen;
  }

  test.serial('connections from the cgroup get their backend at connect time, and see the service address as their peer', async (t) => {
    const before = serviceCt(VIP).length;
    const tcp = await spread('client', 'tcp', VIP, 80, 24);
    t.true([...tcp.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)));
    t.true(tcp.size >= 2, `24 connections reached only ${[...tcp.keys()].join(', ')}`);
    const udp = await spread('client', 'udp', VIP, 53, 12);
    t.true([...udp.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)), 'UDP: sendmsg chose, recvmsg reported the service address');
    const v6 = await spread('client', 'tcp', VIP6, 80, 12);
    t.true([...v6.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)), 'IPv6 service');
    t.is(serviceCt(VIP).length, before, 'no packet of these connections was load-balanced by the tc programs');
    t.is(serviceCt(VIP6).length, 0);
  });

  test.serial('a pod outside the cgroup keeps the tc path', async (t) => {
    const seen = await spread('other', 'tcp', VIP, 80, 6);
    t.true([...seen.keys()].every((b) => ['b1', 'b2', 'b3'].includes(b)));
    t.true(serviceCt(VIP).length >= 1, 'the tc program load-balanced (service conntrack entries)');
  });

  test.serial('a removed backend receives no new connections; a held connection keeps its backend', async (t) => {
    const conn = await topo!.hold(topo!.pod('client').ns, VIP, 90);
    try {
      const backend = (await conn.send('one')).split(' ')[0];
      const remaining = backend === 'b1' ? 'b2' : 'b1';
      services.upsert({ vip: VIP, port: 90, protocol: 'tcp', backends: backendsOf([remaining], 9000) });
      t.is(await conn.send('two'), `${backend} two`, 'the held connection still reaches its backend');
      for (let i = 0; i < 4; i++) {
        const fresh = await topo!.hold(topo!.pod('client').ns, VIP, 90);
        try {
          t.is(await fresh.send(`new${i}`), `${remaining} new${i}`, 'a new connection goes to the remaining backend');
        } finally {
          fresh.close();
        }
      }
      services.upsert({ vip: VIP, port: 80, protocol: 'tcp', backends: backendsOf(['b2'], 8080) });
      t.deepEqual([...(await spread('client', 'tcp', VIP, 80, 6)).keys()], ['b2']);
    } finally {
      conn.close();
    }
  });

  test.serial('the same client port towards one backend through two service addresses connects at once', async (t) => {
    // The tc path's 1 s stall: the backend holds the first connection in TIME_WAIT and the client's second
    // SYN (timestamps offset per destination = per service address) is answered with a challenge ACK.
    // Chosen at connect time, both connections have the backend as their peer.
    const client = topo!.pod('client');
    const other = '10.96.0.21';
    services.upsert({ vip: VIP, port: 82, protocol: 'tcp', backends: backendsOf(['b1'], 8080) });
    services.upsert({ vip: other, port: 82, protocol: 'tcp', backends: backendsOf(['b1'], 8080) });
    t.like(await topo!.connect(client.ns, 'tcp', VIP, 82, 1500, 41001), { ok: true, from: VIP });
    const started = Date.now();
    t.like(await topo!.connect(client.ns, 'tcp', other, 82, 900, 41001), { ok: true, from: other }, 'within 900 ms: no SYN retransmission (1 s)');
    t.log(`second connection: ${Date.now() - started} ms`);
    services.remove(other, 82, 'tcp');
    services.remove(VIP, 82, 'tcp');
  });

  test.serial('detaching removes the attachment and its pinned links', async (t) => {
    const pins = () => readdirSync(dp!.pinRoot).filter((n) => n.startsWith('weft_link_'));
    t.is(pins().length, 8, 'one pinned link per program');
    dp!.attachSockets(cgroup!); // a restart re-attaching replaces the programs, never doubles them
    t.is(pins().length, 8);
    t.true(dp!.detachSockets(cgroup!));
    t.deepEqual(pins(), []);
    t.false(dp!.detachSockets(cgroup!));
    const before = serviceCt(VIP).length;
    await spread('client', 'tcp', VIP, 80, 2);
    t.true(serviceCt(VIP).length > before, 'without the socket programs, the tc path load-balances the client');
    t.true(existsSync(path.join(cgroup!, 'cgroup.procs')));
  });
}
