// Plain TCP across the mesh's HTTP/2 CONNECT tunnel inside mutual TLS, against plain TCP across the same link:
// two node namespaces (test/helpers/mtls-nodes.ts), a raw TCP echo on node B; from node A, one connection doing
// sequential round trips of a 64-byte line, through A's transparent listener (tcp_proxy tunneling_config → mTLS →
// B's inbound listener, CONNECT terminated → the echo) and straight to the echo over the veth (the baseline),
// in alternating slices of the same run. Needs root.
//
//   node dist/bench/mesh-tunnel.js [--size=quick|full]
import { CertificateAuthority } from '../src/mtls/ca.js';
import { meshIdentities, meshResources, meshSecrets, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import { firstJsonLine, MeshNode, createNodePair, netnsMissing, nodeInNetns } from '../test/helpers/mtls-nodes.js';
import { startTcpEchoPod } from '../test/helpers/mesh-tunnel.js';
import { machine, ms, parseArgs, stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const ROUND_TRIPS = full ? 5000 : 1000;
const SLICES = full ? 6 : 2;
const TD = 'cluster.local';
const CLIENT = `spiffe://${TD}/ns/default/sa/client`;
const SERVER = `spiffe://${TD}/ns/default/sa/server`;
const [TRANSPARENT_PORT, IN_PORT, ECHO_PORT] = [15003, 15008, 7000];

/** One connection, N sequential round trips of a line; prints the latencies (ms). */
const ROUND_TRIP_POD = `
import net from 'node:net';
const e = process.env;
const line = 'x'.repeat(63) + '\\n';
const s = net.connect({ host: e.HOST, port: Number(e.PORT), ...(e.LOCAL ? { localAddress: e.LOCAL } : {}) });
s.setNoDelay(true);
const latencies = [];
let t0 = 0, buf = '';
const next = () => { if (latencies.length === Number(e.N)) { console.log(JSON.stringify({ latencies })); process.exit(0); } t0 = performance.now(); s.write(line); };
s.on('connect', next);
s.on('data', (d) => { buf += d.toString(); if (buf.endsWith('\\n')) { buf = ''; latencies.push(performance.now() - t0); next(); } });
s.on('error', (err) => { console.log(JSON.stringify({ error: err.message })); process.exit(0); });
`;

/** `local`: the source address (the tunnel's chain is chosen by it); the veth's own otherwise. */
async function roundTrips(ns: string, host: string, port: number, local?: string): Promise<number[]> {
  const r = await firstJsonLine<{ latencies?: number[]; error?: string }>(nodeInNetns(ns, ROUND_TRIP_POD, { HOST: host, PORT: String(port), N: String(ROUND_TRIPS), ...(local ? { LOCAL: local } : {}) }), 300_000);
  if (!r.latencies) throw new Error(`round trips to ${host}:${port}: ${r.error}`);
  return r.latencies;
}

async function main(): Promise<void> {
  const missing = netnsMissing();
  if (missing) {
    console.log(`mesh-tunnel benchmark skipped: ${missing}`);
    return;
  }
  console.log(`command: node dist/bench/mesh-tunnel.js --size=${full ? 'full' : 'quick'}`);
  console.log(machine());
  const pair = createNodePair();
  const a = new MeshNode(pair.a, `bench-tunnel-a-${process.pid}`);
  const b = new MeshNode(pair.b, `bench-tunnel-b-${process.pid}`);
  const echo = await startTcpEchoPod(pair.b, 'echo', '0.0.0.0', ECHO_PORT);
  try {
    const ca = CertificateAuthority.generate({ trustDomain: TD });
    const svids = new Map([CLIENT, SERVER].map((id) => [id, ca.issue(id)]));
    const host = `${ECHO_PORT}.echo.default`;
    const viewA: MeshNodeView = {
      trustDomain: TD,
      outbound: { address: '127.0.0.1', port: 15001, transparentPort: TRANSPARENT_PORT, sources: [{ id: CLIENT, sources: ['127.0.0.1'] }],
        services: [{ host, node: { address: pair.addrB, port: IN_PORT }, id: SERVER, destination: { address: '127.0.0.1', port: TRANSPARENT_PORT } }] },
    };
    const viewB: MeshNodeView = { trustDomain: TD, inbound: { address: pair.addrB, port: IN_PORT, services: [{ host, id: SERVER, backend: { address: '127.0.0.1', port: ECHO_PORT } }] } };
    const resources = (view: MeshNodeView) => [...meshResources(view), ...meshSecrets(TD, new Map(meshIdentities(view).map((id) => [id, svids.get(id)!])), ca.root.pem)];
    await Promise.all([a.start(resources(viewA)), b.start(resources(viewB))]);
    await Promise.all([a.converged(), b.converged()]);
    const tunnel: number[] = [];
    const direct: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < SLICES; i++) {
      const t = await roundTrips(pair.a, '127.0.0.1', TRANSPARENT_PORT, '127.0.0.1');
      const d = await roundTrips(pair.a, pair.addrB, ECHO_PORT);
      tunnel.push(...t);
      direct.push(...d);
      ratios.push(stats(t).p50 / stats(d).p50);
    }
    const upgrades = (await b.stats('^http\\.mesh-inbound\\.downstream_cx_upgrades_total$'))['http.mesh-inbound.downstream_cx_upgrades_total'];
    const [st, sd] = [stats(tunnel), stats(direct)];
    console.log(`${SLICES} alternating slices of ${ROUND_TRIPS} sequential 64-byte round trips on one connection each (CONNECTs terminated on B: ${upgrades})`);
    console.log(`tunnel (mTLS + HTTP/2 CONNECT): p50 ${ms(st.p50)} p99 ${ms(st.p99)} mean ${ms(st.mean)}`);
    console.log(`direct (plain TCP over the veth): p50 ${ms(sd.p50)} p99 ${ms(sd.p99)} mean ${ms(sd.mean)}`);
    console.log(`ratio tunnel/direct: p50 ${(st.p50 / sd.p50).toFixed(2)} (per-slice p50 ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}), p99 ${(st.p99 / sd.p99).toFixed(2)}`);
  } finally {
    echo.kill();
    await Promise.all([a.stop(), b.stop()]);
    pair.cleanup();
  }
}

await main();
