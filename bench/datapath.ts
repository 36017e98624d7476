// The eBPF datapath's benchmarks (root only; network namespaces created here and removed at the end):
//   - iperf3 TCP throughput between two pods, with Weft's programs (policy enforced, conntrack) as a ratio
//     to the same topology without them, runs interleaved;
//   - connections to ClusterIPs with 100 / 1,000 / 10,000 services (2 backends each): Weft's eBPF load
//     balancing (socket-level: the client in a cgroup with the connect-time programs; and the tc path alone)
//     vs iptables DNAT chains built the way kube-proxy (iptables mode) builds them, same run;
//   - map update latency: an endpoint with its policy written → enforced (the next packet reads the maps).
//
//   node dist/bench/datapath.js [--size=quick|full] [--services=100,1000,10000 (empty: none)] [--iperf-rounds=5] [--no-iptables] [--client-no-tcp-timestamps]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { Datapath } from '../src/datapath/datapath.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { PolicyMap } from '../src/datapath/policy.js';
import { ServiceMap } from '../src/datapath/services.js';
import { datapathUnavailable, nativeBpf } from '../src/datapath/native.js';
import { cgroup2Root, ensureCgroup, removeCgroup } from '../src/datapath/cgroup.js';
import { Topology, inNs, type Pod } from '../test/helpers/datapath-topology.js';
import { machine, ms, parseArgs, stats, type Stats } from './lib.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = parseArgs();
const full = args.get('size') === 'full';
const probe = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'helpers', 'datapath-probe.js');
const IPERF_SECONDS = full ? 10 : 4;
const IPERF_ROUNDS = Number(args.get('iperf-rounds') ?? 5);
const SERVICE_COUNTS = (args.get('services') ?? '100,1000,10000').split(',').filter(Boolean).map(Number);
const IPTABLES = !args.has('no-iptables');
// Diagnosis of the connection-rate tail: without TCP timestamps in the client (see BENCHMARKS.md).
const CLIENT_NO_TIMESTAMPS = args.has('client-no-tcp-timestamps');
const CONNECTIONS = full ? 3000 : 1000;
const FIRST_VIP = '10.96.0.1';

function vip(i: number): string {
  const n = (10 << 24) + (96 << 16) + 1 + i;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

async function iperf(topo: Topology, server: Pod, client: Pod): Promise<number> {
  const s = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1', '-B', server.ip4], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  try {
    const out = inNs(client.ns, 'iperf3', '-c', server.ip4, '-t', String(IPERF_SECONDS), '-J');
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    s.kill();
    void topo;
  }
}

interface RateResult { services: number; mode: string; connectionsPerSecond: number; latency: Stats; errors: number; setupMs: number }

/** `cgroup`: the client runs in it (joined before `ip netns exec`, whose sysfs does not show the cgroups). */
async function rate(client: Pod, services: number, cgroup?: string): Promise<{ cps: number; latency: Stats; errors: number }> {
  const cmd = [client.ns, process.execPath, probe, 'rate', FIRST_VIP, String(services), '80', String(CONNECTIONS)];
  const out = await new Promise<string>((resolve, reject) => {
    const c = cgroup
      ? spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"', cgroup, ...cmd], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn('ip', ['netns', 'exec', ...cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
    let data = '';
    c.stdout.on('data', (d: Buffer) => { data += d.toString(); });
    c.on('exit', () => resolve(data));
    c.on('error', reject);
  });
  const r = JSON.parse(out) as { seconds: number; latenciesMs: number[]; errors: number };
  return { cps: r.latenciesMs.length / r.seconds, latency: stats(r.latenciesMs), errors: r.errors };
}

/** kube-proxy's iptables mode: KUBE-SERVICES → KUBE-SVC-* (statistic random per endpoint) → KUBE-SEP-* (DNAT). */
function kubeProxyRules(services: number, backends: Pod[]): string {
  const lines = ['*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]'];
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ];
  for (let i = 0; i < services; i++) {
    const svc = `KUBE-SVC-${String(i).padStart(16, '0')}`;
    lines.push(`:${svc} - [0:0]`);
    rules.push(`-A KUBE-SERVICES -d ${vip(i)}/32 -p tcp -m comment --comment "bench/svc-${i}:http cluster IP" -m tcp --dport 80 -j ${svc}`);
    rules.push(`-A ${svc} ! -s 10.99.0.0/16 -d ${vip(i)}/32 -p tcp -m comment --comment "bench/svc-${i}:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`);
    backends.forEach((b, j) => {
      const sep = `KUBE-SEP-${String(i).padStart(14, '0')}${j}0`;
      lines.push(`:${sep} - [0:0]`);
      const left = backends.length - j;
      rules.push(left > 1
        ? `-A ${svc} -m comment --comment "bench/svc-${i}:http -> ${b.ip4}:8080" -m statistic --mode random --probability ${(1 / left).toFixed(11)} -j ${sep}`
        : `-A ${svc} -m comment --comment "bench/svc-${i}:http -> ${b.ip4}:8080" -j ${sep}`);
      rules.push(`-A ${sep} -s ${b.ip4}/32 -m comment --comment "bench/svc-${i}:http" -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -p tcp -m comment --comment "bench/svc-${i}:http" -m tcp -j DNAT --to-destination ${b.ip4}:8080`);
    });
  }
  rules.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  lines.splice(4, 0, ':KUBE-NODEPORTS - [0:0]');
  return [...lines, ...rules, 'COMMIT', ''].join('\n');
}

async function main(): Promise<void> {
  const why = datapathUnavailable();
  const missing = ['iperf3', 'iptables-restore'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (why || missing.length) {
    console.log(`datapath benchmarks skipped: ${why ?? `missing ${missing.join(', ')}`}`);
    console.log(`RESULT datapath ${JSON.stringify({ skipped: why ?? `missing ${missing.join(', ')}` })}`);
    return;
  }
  console.log(`# datapath  ${machine()}`);
  const topo = new Topology();
  const pinRoot = `/sys/fs/bpf/weft-bench-${topo.id}`;
  const dp = Datapath.open({ pinRoot });
  const cgroupRoot = cgroup2Root();
  const cgroup = cgroupRoot ? ensureCgroup(cgroupRoot, `weft-bench-${topo.id}`) : undefined;
  if (!cgroup) console.log('no cgroup v2 mounted: socket-level load balancing not measured');
  try {
    const [client, server, b2] = [topo.addPod('c', 2), topo.addPod('s', 3), topo.addPod('t', 4)];
    if (CLIENT_NO_TIMESTAMPS) inNs(client.ns, 'sysctl', '-qw', 'net.ipv4.tcp_timestamps=0');
    const endpoints = new EndpointMap(dp.maps.endpoints);
    const policy = new PolicyMap(dp.maps.policy);
    const ids = { c: 3001, s: 3002, t: 3003 };
    for (const p of [client, server, b2]) {
      endpoints.upsert({ ips: [p.ip4, p.ip6], identity: ids[p.name as 'c' | 's' | 't'], ifindex: nativeBpf().ifIndex(topo.nodeNsPath, p.hostIf), ingressEnforced: true, egressEnforced: true });
    }
    policy.apply(ids.c, [{ direction: 'egress', peerIdentity: 0, port: 0, protocol: 'any', verdict: 'allow' }]);
    for (const id of [ids.s, ids.t]) policy.apply(id, [{ direction: 'ingress', peerIdentity: ids.c, port: 0, protocol: 'tcp', verdict: 'allow' }]);

    // 1. Throughput, interleaved rounds.
    const attach = (on: boolean) => { for (const p of topo.pods.values()) { if (on) dp.attach(topo.nodeNsPath, p.hostIf); else dp.detach(topo.nodeNsPath, p.hostIf); } };
    const without: number[] = [], withPrograms: number[] = [];
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      attach(false);
      without.push(await iperf(topo, server, client));
      attach(true);
      withPrograms.push(await iperf(topo, server, client));
      console.log(`iperf3 round ${round + 1}: without ${without.at(-1)!.toFixed(2)} Gbit/s, with programs ${withPrograms.at(-1)!.toFixed(2)} Gbit/s`);
    }
    const med = (xs: number[]) => stats(xs).p50;
    // Also the median of each round's own ratio: the two runs of a round are seconds apart, so it follows the
    // shared machine's drifting load better than the ratio of the two medians.
    const pairedRatio = med(withPrograms.map((w, i) => w / without[i]));
    const throughput = { withoutGbps: med(without), withGbps: med(withPrograms), ratio: med(withPrograms) / med(without), pairedRatio, rounds: IPERF_ROUNDS, seconds: IPERF_SECONDS };
    console.log(`iperf3 median: ${throughput.withGbps.toFixed(2)} / ${throughput.withoutGbps.toFixed(2)} Gbit/s = ×${throughput.ratio.toFixed(3)}; median of the rounds' ratios ×${pairedRatio.toFixed(3)}`);

    // 2. ClusterIP connections: eBPF vs kube-proxy-style iptables, per service count.
    for (const p of [server, b2]) await topo.serve(p.ns, p.name, 'tcp', [8080]);
    const services = new ServiceMap(dp.maps.services, dp.maps.backends);
    const backends = [server, b2].map((p) => ({ ip: p.ip4, port: 8080 }));
    const rates: RateResult[] = [];
    let created = 0;
    for (const count of SERVICE_COUNTS) {
      // eBPF: programs attached, `count` services in the map.
      attach(true);
      const t0 = performance.now();
      for (; created < count; created++) services.upsert({ vip: vip(created), port: 80, protocol: 'tcp', backends });
      const ebpfSetup = performance.now() - t0;
      if (cgroup) {
        dp.attachSockets(cgroup);
        const k = await rate(client, count, cgroup);
        dp.detachSockets(cgroup);
        rates.push({ services: count, mode: 'ebpf-socket', connectionsPerSecond: k.cps, latency: k.latency, errors: k.errors, setupMs: ebpfSetup });
        console.log(`${count} services, ebpf socket-level: ${k.cps.toFixed(0)} conn/s, latency p50 ${ms(k.latency.p50)} p99 ${ms(k.latency.p99)} max ${ms(k.latency.max)} ms, ${k.errors} errors`);
      }
      const e = await rate(client, count);
      rates.push({ services: count, mode: 'ebpf-tc', connectionsPerSecond: e.cps, latency: e.latency, errors: e.errors, setupMs: ebpfSetup });
      console.log(`${count} services, ebpf tc: ${e.cps.toFixed(0)} conn/s, latency p50 ${ms(e.latency.p50)} p99 ${ms(e.latency.p99)} max ${ms(e.latency.max)} ms, ${e.errors} errors, programmed in ${ms(ebpfSetup)} ms`);
      if (!IPTABLES) continue;
      // iptables: no programs; the same services as kube-proxy rules in the node namespace.
      attach(false);
      const rules = kubeProxyRules(count, [server, b2]);
      const t1 = performance.now();
      execFileSync('ip', ['netns', 'exec', topo.node, 'iptables-restore', '--noflush'], { input: rules });
      const iptSetup = performance.now() - t1;
      const i = await rate(client, count);
      rates.push({ services: count, mode: 'iptables', connectionsPerSecond: i.cps, latency: i.latency, errors: i.errors, setupMs: iptSetup });
      execFileSync('ip', ['netns', 'exec', topo.node, 'iptables', '-t', 'nat', '-F']);
      execFileSync('ip', ['netns', 'exec', topo.node, 'iptables', '-t', 'nat', '-X']);
      console.log(`${count} services, iptables: ${i.cps.toFixed(0)} conn/s, latency p50 ${ms(i.latency.p50)} p99 ${ms(i.latency.p99)} max ${ms(i.latency.max)} ms, ${i.errors} errors, programmed in ${ms(iptSetup)} ms`);
    }

    // 3. Map updates: an endpoint and its policy written; the next packet reads them, so written = enforced.
    attach(true);
    const upserts: number[] = [], applies: number[] = [];
    for (let i = 0; i < (full ? 10_000 : 2000); i++) {
      const t0 = process.hrtime.bigint();
      endpoints.upsert({ ips: [`10.98.${i >> 8}.${i & 255}`], identity: 10_000 + i, ifindex: 1, ingressEnforced: true, egressEnforced: false });
      const t1 = process.hrtime.bigint();
      policy.apply(10_000 + i, [{ direction: 'ingress', peerIdentity: ids.c, port: 8080, protocol: 'tcp', verdict: 'allow' }]);
      const t2 = process.hrtime.bigint();
      upserts.push(Number(t1 - t0) / 1e3);
      applies.push(Number(t2 - t1) / 1e3);
    }
    const updates = { endpointUpsertUs: stats(upserts), policyApplyUs: stats(applies) };
    console.log(`map updates: endpoint upsert p50 ${updates.endpointUpsertUs.p50.toFixed(1)} p99 ${updates.endpointUpsertUs.p99.toFixed(1)} µs; one-rule policy apply p50 ${updates.policyApplyUs.p50.toFixed(1)} p99 ${updates.policyApplyUs.p99.toFixed(1)} µs`);
    // Enforced right away: a connection right after the write obeys it.
    policy.apply(ids.s, []);
    const denied = JSON.parse(execFileSync('ip', ['netns', 'exec', client.ns, process.execPath, probe, 'connect', 'tcp', server.ip4, '8080', '500'], { encoding: 'utf8' })) as { ok: boolean };
    policy.apply(ids.s, [{ direction: 'ingress', peerIdentity: ids.c, port: 8080, protocol: 'tcp', verdict: 'allow' }]);
    const allowed = JSON.parse(execFileSync('ip', ['netns', 'exec', client.ns, process.execPath, probe, 'connect', 'tcp', server.ip4, '8080', '1000'], { encoding: 'utf8' })) as { ok: boolean };
    console.log(`enforcement right after the write: removed rule → connection ${denied.ok ? 'PASSED (wrong)' : 'dropped'}; restored → ${allowed.ok ? 'connected' : 'FAILED (wrong)'}`);
    console.log(`RESULT datapath ${JSON.stringify({ throughput, rates, updates, enforcedImmediately: !denied.ok && allowed.ok })}`);
  } finally {
    for (const p of topo.pods.values()) dp.detach(topo.nodeNsPath, p.hostIf);
    if (cgroup) dp.detachSockets(cgroup);
    dp.destroy();
    topo.destroy();
    if (cgroup) removeCgroup(cgroup);
  }
}

await main();
