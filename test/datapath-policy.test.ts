// L3/L4 policy in the real kernel: pods are network namespaces behind veths in a "node" namespace, with
// Weft's tc programs on the host-side veths. Allow and deny by identity, entity (host) and CIDR, in both
// directions, over IPv4 and IPv6; replies of allowed connections pass through connection tracking; denied
// connections drop and produce a flow event saying why.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import { EndpointMap, IdentityCache } from '../src/datapath/endpoints.js';
import { PolicyMap } from '../src/datapath/policy.js';
import { FlowReader } from '../src/datapath/flows.js';
import { Conntrack } from '../src/datapath/conntrack.js';
import { IDENTITY, type FlowEvent } from '../src/datapath/layout.js';
import { nativeBpf } from '../src/datapath/native.js';
import { inNs, ip, Topology } from './helpers/datapath-topology.js';
import { eventually } from './helpers/net.js';

const unavailable = datapathUnavailable();
const ID = { a: 1001, b: 1002, c: 1003, external: 16_777_217 } as const;
const EXTERNAL = '192.0.2.10'; // TEST-NET-1, on the node namespace's loopback only

let topo: Topology | undefined;
let dp: Datapath | undefined;
let flows: FlowReader | undefined;
const events: FlowEvent[] = [];
let endpoints: EndpointMap;
let policy: PolicyMap;

if (unavailable) {
  test('datapath policy', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.before(async () => {
    topo = new Topology();
    const pods = { a: topo.addPod('a', 2), b: topo.addPod('b', 3), c: topo.addPod('c', 4) };
    ip('-n', topo.node, 'addr', 'add', `${EXTERNAL}/32`, 'dev', 'lo');

    dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` });
    flows = new FlowReader(dp.flowsMapFd, (batch) => events.push(...batch));
    endpoints = new EndpointMap(dp.maps.endpoints);
    policy = new PolicyMap(dp.maps.policy);
    const ids = new IdentityCache(dp.maps.ipcache);
    ids.set(`${topo.nodeIp4}/32`, IDENTITY.host);
    ids.set('192.0.2.0/24', ID.external);
    for (const [name, pod] of Object.entries(pods)) {
      dp.attach(topo.nodeNsPath, pod.hostIf);
      endpoints.upsert({
        ips: [pod.ip4, pod.ip6], identity: ID[name as 'a' | 'b' | 'c'], ifindex: nativeBpf().ifIndex(topo.nodeNsPath, pod.hostIf),
        // b enforces ingress; a enforces both (its replies rely on conntrack); c enforces egress.
        ingressEnforced: name !== 'c', egressEnforced: name !== 'b',
      });
    }
    policy.apply(ID.b, [
      { direction: 'ingress', peerIdentity: ID.a, port: 8080, protocol: 'tcp', verdict: 'allow' },
      { direction: 'ingress', peerIdentity: ID.a, port: 0, protocol: 'icmp', verdict: 'allow' },
      { direction: 'ingress', peerIdentity: ID.a, port: 5353, protocol: 'udp', verdict: 'allow' },
    ]);
    policy.apply(ID.a, [
      { direction: 'egress', peerIdentity: ID.b, port: 0, protocol: 'any', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.c, port: 8080, protocol: 'tcp', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.external, port: 0, protocol: 'tcp', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.external, port: 7002, protocol: 'tcp', verdict: 'deny' },
    ]);
    policy.apply(ID.c, [
      { direction: 'egress', peerIdentity: IDENTITY.host, port: 7000, protocol: 'tcp', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.b, port: 8080, protocol: 'tcp', verdict: 'allow' },
    ]);

    await topo.serve(pods.b.ns, 'b', 'tcp', [8080, 9090]);
    await topo.serve(pods.b.ns, 'b', 'udp', [5353]);
    await topo.serve(pods.c.ns, 'c', 'tcp', [8080]);
    await topo.serve(pods.a.ns, 'a', 'tcp', [8080]);
    await topo.serve(topo.node, 'node', 'tcp', [7000, 7001, 7002]);
  });

  test.after.always(() => {
    flows?.close();
    if (topo && dp) for (const pod of topo.pods.values()) dp.detach(topo.nodeNsPath, pod.hostIf);
    dp?.destroy();
    topo?.destroy();
  });

  const drops = (pred: (e: FlowEvent) => boolean) => events.filter((e) => e.kind === 'drop' && pred(e));
  /** The flow reader runs on the event loop: waits (up to 10 s, however loaded the machine) until `seen` holds. */
  const settle = (seen: () => boolean) => eventually(seen, 10_000).catch(() => undefined);

  test.serial('an allowed identity reaches the port (IPv4 and IPv6), and replies pass the client\'s enforced ingress', async (t) => {
    const { a, b } = { a: topo!.pod('a'), b: topo!.pod('b') };
    const v4 = await topo!.connect(a.ns, 'tcp', b.ip4, 8080);
    t.like(v4, { ok: true, reply: `b ${a.ip4}`, from: b.ip4 });
    const v6 = await topo!.connect(a.ns, 'tcp', b.ip6, 8080);
    t.true(v6.ok, JSON.stringify(v6));
    t.is(v6.reply, `b ${a.ip6}`);
    const udp = await topo!.connect(a.ns, 'udp', b.ip4, 5353);
    t.is(udp.reply, `b ${a.ip4}`);
    t.true(topo!.ping(a.ns, b.ip4), 'ICMP allowed by the icmp rule');
    const isNew = (e: FlowEvent) => e.kind === 'new' && e.direction === 'ingress' && e.destination.ip === b.ip4 && e.destination.port === 8080;
    await settle(() => events.some(isNew));
    const fwd = events.find(isNew);
    t.truthy(fwd, 'a flow event for the new connection');
    t.is(fwd?.source.identity, ID.a);
    t.is(fwd?.destination.identity, ID.b);
    t.is(fwd?.verdict, 'allow');
  });

  test.serial('another identity is dropped at the enforced ingress, with a flow event saying why', async (t) => {
    const { b, c } = { b: topo!.pod('b'), c: topo!.pod('c') };
    events.length = 0;
    const r = await topo!.connect(c.ns, 'tcp', b.ip4, 8080, 800);
    t.false(r.ok);
    const r6 = await topo!.connect(c.ns, 'tcp', b.ip6, 8080, 800);
    t.false(r6.ok);
    t.false(topo!.ping(c.ns, b.ip4));
    await settle(() => drops((e) => e.source.ip === c.ip4 && e.destination.port === 8080).length > 0 && drops((e) => e.source.ip === c.ip6).length > 0);
    const d = drops((e) => e.source.ip === c.ip4 && e.destination.ip === b.ip4 && e.destination.port === 8080);
    t.true(d.length > 0, 'drop events for c → b:8080');
    t.like(d[0], { direction: 'ingress', verdict: 'deny', reason: 'policy-denied', protocol: 6, family: 4, source: { ip: c.ip4, port: d[0].source.port, identity: ID.c }, destination: { ip: b.ip4, port: 8080, identity: ID.b } });
    t.true(drops((e) => e.source.ip === c.ip6 && e.destination.ip === b.ip6).length > 0, 'IPv6 drop reported');
  });

  test.serial('an allowed identity on a port without a rule is dropped', async (t) => {
    const { a, b } = { a: topo!.pod('a'), b: topo!.pod('b') };
    events.length = 0;
    t.false((await topo!.connect(a.ns, 'tcp', b.ip4, 9090, 800)).ok);
    await settle(() => drops((e) => e.destination.port === 9090).length > 0);
    t.true(drops((e) => e.destination.port === 9090 && e.reason === 'policy-denied' && e.direction === 'ingress').length > 0);
  });

  test.serial('egress: entities (host) and CIDRs allowed, an explicit deny rule wins, other peers dropped', async (t) => {
    const { a, b, c } = { a: topo!.pod('a'), b: topo!.pod('b'), c: topo!.pod('c') };
    events.length = 0;
    t.is((await topo!.connect(c.ns, 'tcp', topo!.nodeIp4, 7000)).reply, `node ${c.ip4}`, 'c → host:7000 allowed by entity');
    t.false((await topo!.connect(c.ns, 'tcp', topo!.nodeIp4, 7001, 800)).ok, 'c → host:7001 not allowed');
    t.false((await topo!.connect(c.ns, 'tcp', a.ip4, 8080, 800)).ok, 'c → a not allowed by c\'s egress');
    t.is((await topo!.connect(a.ns, 'tcp', EXTERNAL, 7001)).reply, `node ${a.ip4}`, 'a → CIDR 192.0.2.0/24 allowed');
    t.false((await topo!.connect(a.ns, 'tcp', EXTERNAL, 7002, 800)).ok, 'the deny rule for port 7002 wins over the CIDR allow');
    t.is((await topo!.connect(a.ns, 'tcp', c.ip4, 8080)).reply, `c ${a.ip4}`, 'a → c:8080 (c does not enforce ingress)');
    t.false((await topo!.connect(b.ns, 'tcp', a.ip4, 8080, 800)).ok, 'b → a denied by a\'s enforced ingress');
    await settle(() => [[c.ip4, 7001], [a.ip4, 7002], [b.ip4, 8080]].every(([from, port]) => drops((e) => e.source.ip === from && e.destination.port === port).length > 0));
    t.true(drops((e) => e.source.ip === c.ip4 && e.destination.port === 7001 && e.direction === 'egress' && e.reason === 'policy-denied' && e.destination.identity === IDENTITY.host).length > 0);
    t.true(drops((e) => e.source.ip === a.ip4 && e.destination.port === 7002 && e.reason === 'policy-deny-rule' && e.destination.identity === ID.external).length > 0);
    t.true(drops((e) => e.source.ip === b.ip4 && e.destination.ip === a.ip4 && e.direction === 'ingress' && e.reason === 'policy-denied').length > 0);
  });

  test.serial('a policy change is incremental and enforced for new connections', async (t) => {
    const { b, c } = { b: topo!.pod('b'), c: topo!.pod('c') };
    // c gets egress to b:9090 and b's ingress from c: only the differences are written.
    const egress = policy.apply(ID.c, [
      { direction: 'egress', peerIdentity: IDENTITY.host, port: 7000, protocol: 'tcp', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.b, port: 8080, protocol: 'tcp', verdict: 'allow' },
      { direction: 'egress', peerIdentity: ID.b, port: 9090, protocol: 'tcp', verdict: 'allow' },
    ]);
    t.deepEqual(egress, { written: 1, deleted: 0 });
    const ingress = policy.apply(ID.b, [
      { direction: 'ingress', peerIdentity: ID.a, port: 8080, protocol: 'tcp', verdict: 'allow' },
      { direction: 'ingress', peerIdentity: ID.a, port: 5353, protocol: 'udp', verdict: 'allow' },
      { direction: 'ingress', peerIdentity: ID.c, port: 8080, protocol: 'tcp', verdict: 'allow' },
    ]);
    t.deepEqual(ingress, { written: 1, deleted: 1 }, 'the icmp rule removed, c added');
    t.is((await topo!.connect(c.ns, 'tcp', b.ip4, 8080)).reply, `b ${c.ip4}`);
    t.false(topo!.ping(topo!.pod('a').ns, b.ip4), 'ICMP from a no longer allowed');
  });

  test.serial('an ICMP error about no tracked connection is dropped at an enforced ingress, with a flow event', async (t) => {
    // c forges a port unreachable quoting b:5353 → c:40000/udp, a datagram b never sent (a raw socket in c).
    const { b, c } = { b: topo!.pod('b'), c: topo!.pod('c') };
    const forge = `
import socket, struct
def csum(d):
    s = sum(struct.unpack('!%dH' % (len(d) // 2), d))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 1, 0, 64, 17, 0, socket.inet_aton('${b.ip4}'), socket.inet_aton('${c.ip4}'))
inner = inner[:10] + struct.pack('!H', csum(inner)) + inner[12:] + struct.pack('!HHHH', 5353, 40000, 8, 0)
icmp = struct.pack('!BBHI', 3, 3, 0, 0) + inner
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).sendto(icmp, ('${b.ip4}', 0))
`;
    events.length = 0;
    inNs(c.ns, 'python3', '-c', forge);
    await settle(() => drops((e) => e.reason === 'icmp-unrelated').length > 0);
    await new Promise((r) => setTimeout(r, 100)); // room for a second event, which would be one too many
    const d = drops((e) => e.reason === 'icmp-unrelated');
    t.is(d.length, 1, events.map((e) => `${e.kind} ${e.reason} ${e.source.ip} → ${e.destination.ip} proto ${e.protocol}`).join('; '));
    t.like(d[0], { direction: 'ingress', protocol: 1, source: { ip: c.ip4, identity: ID.c }, destination: { ip: b.ip4, identity: ID.b } });
  });

  test.serial('connection tracking records allowed connections and garbage collection removes idle ones', (t) => {
    const ct = new Conntrack(dp!.maps.conntrack);
    const entries = ct.entries();
    const { a, b } = { a: topo!.pod('a'), b: topo!.pod('b') };
    t.true(entries.some((e) => e.saddr === a.ip4 && e.daddr === b.ip4 && e.dport === 8080 && e.dir === 1), 'egress entry of a → b:8080');
    t.true(entries.some((e) => e.saddr === a.ip4 && e.daddr === b.ip4 && e.dport === 8080 && e.dir === 0), 'ingress entry of a → b:8080');
    t.false(entries.some((e) => e.saddr === topo!.pod('c').ip4 && e.daddr === b.ip4 && e.dport === 9090), 'no entry for a dropped connection');
    const hour = 3_600_000_000_000n;
    t.is(ct.collect({ tcpNs: hour, closingNs: hour, otherNs: hour }), 0, 'nothing has been idle for an hour');
    const removed = ct.collect({ tcpNs: 0n, closingNs: 0n, otherNs: 0n });
    t.is(removed, entries.length);
    t.is(ct.entries().length, 0);
  });

  test.serial('detaching and destroying leaves no filters, pinned maps or namespaces', async (t) => {
    const scratch = new Topology();
    const pod = scratch.addPod('x', 9);
    const pinRoot = `/sys/fs/bpf/weft-test-${scratch.id}`;
    const d = Datapath.open({ pinRoot });
    try {
      const ids = d.attach(scratch.nodeNsPath, pod.hostIf);
      t.true(ids.ingress > 0 && ids.egress > 0);
      t.deepEqual(d.attached(scratch.nodeNsPath, pod.hostIf), ids);
      t.true(readdirSync(pinRoot).includes('weft_policy'));
      t.true(d.detach(scratch.nodeNsPath, pod.hostIf));
      t.deepEqual(d.attached(scratch.nodeNsPath, pod.hostIf), { ingress: 0, egress: 0 });
      t.false(d.detach(scratch.nodeNsPath, pod.hostIf), 'a second detach finds nothing');
    } finally {
      d.destroy();
      scratch.destroy();
    }
    t.false(existsSync(pinRoot));
    t.deepEqual(scratch.leftovers(), []);
    await Promise.resolve();
  });
}
