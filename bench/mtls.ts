// Mutual authentication: SVID issuance (key generation + signing) by Weft's CA (Node's crypto, i.e.
// OpenSSL, for keys and signatures; node-forge's asn1 for the DER) against node-forge's own pki, on
// one core; then, between two node Envoys in network namespaces (needs root), mTLS handshakes per
// second and requests/s and p99 through the mTLS hop, each as a ratio to plaintext in the same run.
//
//   node dist/bench/mtls.js [--size=quick|full] [--no-mesh]
//
// Issuance runs in this process's single JS thread (OpenSSL does not spread one call over cores).
// Load: wrk (1 thread) inside node A's namespace against A's outbound listener; without wrk, the
// Node load pod.
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import forge from 'node-forge';
import { CertificateAuthority } from '../src/mtls/ca.js';
import { generateKeyPair } from '../src/mtls/keys.js';
import { meshResources, meshSecrets, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import type { X509Svid } from '../src/mtls/svid.js';
import type { Resource } from '../src/xds/resource.js';
import { MeshNode, createNodePair, netnsMissing, runLoad, startEchoPod } from '../test/helpers/mtls-nodes.js';
import { machine, parseArgs } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const ISSUE_MS = full ? 5000 : 2000;
const SLICE_SECONDS = full ? 3 : 2;
const SLICES = full ? 8 : 3;
const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/default/sa/web`;

export interface IssuanceRow {
  method: string;
  n: number;
  /** Per second of this thread's CPU time (user + system): the one-core rate, whatever else runs on the machine. */
  perCpuSecond: number;
  /** Per second of wall-clock time (lower when other processes compete for the cores). */
  perWallSecond: number;
  cpuMsEach: number;
}

/** Runs `fn` for about `budgetMs` (at least `min` times); returns the rates. */
function rate(method: string, fn: () => void, budgetMs = ISSUE_MS, min = 3): IssuanceRow {
  fn(); // warm-up
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (n < min || performance.now() - start < budgetMs) {
    fn();
    n++;
  }
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { method, n, perCpuSecond: (n / cpuMs) * 1000, perWallSecond: (n / wall) * 1000, cpuMsEach: cpuMs / n };
}

function forgeIssuer(caKeys: forge.pki.rsa.KeyPair): (keys: forge.pki.rsa.KeyPair) => void {
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = caKeys.publicKey;
  caCert.setSubject([{ name: 'commonName', value: 'forge CA' }]);
  caCert.setIssuer([{ name: 'commonName', value: 'forge CA' }]);
  let serial = 1;
  return (keys) => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = (serial++).toString(16).padStart(2, '0');
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 3_600_000);
    cert.setSubject([{ name: 'organizationName', value: 'Weft' }]);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: ID }] },
    ]);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
    forge.pki.certificateToPem(cert);
  };
}

export function issuanceRows(): IssuanceRow[] {
  const ca = CertificateAuthority.generate({ trustDomain: TD });
  const ecKeys = generateKeyPair('ec-p256');
  const rows = [
    rate('weft native: P-256 key + sign (default)', () => void ca.issue(ID)),
    rate('weft native: sign only (P-256, key reused)', () => void ca.issue(ID, { keyPair: ecKeys })),
    rate('weft native: RSA-2048 key + sign (P-256 CA)', () => void ca.issue(ID, { keyAlgorithm: 'rsa-2048' })),
  ];
  // node-forge has no ECDSA: RSA only. By default it hands RSA key generation to Node's crypto when
  // present; with usePureJavaScript it generates in JavaScript, as it does in browsers.
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const issueForge = forgeIssuer(caKeys);
  const reused = forge.pki.rsa.generateKeyPair(2048);
  rows.push(rate('node-forge: RSA-2048 key (native keygen) + forge sign', () => issueForge(forge.pki.rsa.generateKeyPair(2048))));
  rows.push(rate('node-forge: forge sign only (RSA-2048, key reused)', () => issueForge(reused)));
  // Not in @types/node-forge, but documented: forge.options.usePureJavaScript.
  const options = (forge as unknown as { options: { usePureJavaScript: boolean } }).options;
  options.usePureJavaScript = true;
  rows.push(rate('node-forge: RSA-2048 key (pure JS) + forge sign', () => issueForge(forge.pki.rsa.generateKeyPair(2048)), ISSUE_MS, 3));
  options.usePureJavaScript = false;
  return rows;
}

type Mode = 'mtls' | 'plaintext';

export interface LoadRow {
  mode: Mode;
  slice: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}
export interface HandshakeRow {
  mode: Mode;
  slice: number;
  /** New connections accepted by B's inbound listener per second (for mTLS, each a full handshake). */
  connectionsPerSecond: number;
  handshakes: number;
  resumed: number;
  errors: number;
}

const haveWrk = (): boolean => spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

/** wrk's latency figure ("1.23ms", "850.00us", "1.02s") in ms. */
function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

async function load(ns: string, port: number, connections: number, seconds: number): Promise<{ rps: number; p50Ms: number; p99Ms: number; requests: number; errors: number }> {
  const url = `http://127.0.0.1:${port}/`;
  if (haveWrk()) {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s', '-H', 'Host: server.default', url], {
      timeout: (seconds + 30) * 1000,
    }).toString();
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
      p50Ms: wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
      p99Ms: wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
      requests,
      errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    };
  }
  const r = await runLoad(ns, { url, host: 'server.default', concurrency: connections, durationMs: seconds * 1000, keepLatencies: true });
  const sorted = r.latenciesMs.sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { rps: (r.ok + r.failed) / r.seconds, p50Ms: at(0.5), p99Ms: at(0.99), requests: r.ok + r.failed, errors: r.failed };
}

/** Outbound (A) and inbound (B) ports of the four configurations, which run side by side on the same two Envoys. */
const SETUPS = {
  keepAlive: { mtls: { prefix: 'mtls', out: 15001, in: 15008 }, plaintext: { prefix: 'plain', out: 15002, in: 15009 } },
  perConnection: { mtls: { prefix: 'mtlsconn', out: 15003, in: 15010 }, plaintext: { prefix: 'plainconn', out: 15004, in: 15011 } },
} as const;

/**
 * The machine is shared, so load varies over seconds: mTLS and plaintext are measured in short slices that
 * alternate (which goes first alternates too), on configurations served side by side, and compared slice by slice.
 */
async function meshRows(): Promise<{ load: LoadRow[]; handshakes: HandshakeRow[]; tool: string; sliceSeconds: number }> {
  const pair = createNodePair();
  const a = new MeshNode(pair.a, 'bench-mtls-a');
  const b = new MeshNode(pair.b, 'bench-mtls-b');
  const pods: Array<{ kill(): boolean }> = [];
  try {
    const ca = CertificateAuthority.generate({ trustDomain: TD });
    const client = `spiffe://${TD}/ns/default/sa/client`;
    const server = `spiffe://${TD}/ns/default/sa/server`;
    const svids = new Map<string, X509Svid>([[client, ca.issue(client)], [server, ca.issue(server)]]);
    const aResources: Resource[] = [];
    const bResources: Resource[] = [];
    for (const kind of ['keepAlive', 'perConnection'] as const) {
      for (const mode of ['mtls', 'plaintext'] as const) {
        const p = SETUPS[kind][mode];
        const common = { trustDomain: TD, namePrefix: p.prefix, plaintext: mode === 'plaintext', ...(kind === 'perConnection' ? { maxRequestsPerConnection: 1, sessionResumption: false } : {}) };
        const va: MeshNodeView = { ...common, outbound: { address: '127.0.0.1', port: p.out, sources: [{ id: client, sources: ['127.0.0.1'] }], services: [{ host: 'server.default', node: { address: pair.addrB, port: p.in }, id: server }] } };
        const vb: MeshNodeView = { ...common, inbound: { address: pair.addrB, port: p.in, services: [{ host: 'server.default', id: server, backend: { address: '127.0.0.1', port: 8080 } }] } };
        aResources.push(...meshResources(va));
        bResources.push(...meshResources(vb));
      }
    }
    // The Secrets once per node (every mTLS configuration names the same ones).
    aResources.push(...meshSecrets(TD, new Map([[client, svids.get(client)!]]), ca.root.pem));
    bResources.push(...meshSecrets(TD, new Map([[server, svids.get(server)!]]), ca.root.pem));
    pods.push(await startEchoPod(pair.b, 'server', '127.0.0.1', 8080));
    await Promise.all([a.start(aResources), b.start(bResources)]);
    await Promise.all([a.converged(), b.converged()]);

    const loadRows: LoadRow[] = [];
    const handshakeRows: HandshakeRow[] = [];
    const inboundStats = async (port: number): Promise<Record<string, number>> => {
      const prefix = `listener.${pair.addrB}_${port}`;
      const raw = await b.stats(`^${prefix.replaceAll('.', '\\.')}\\.(ssl\\.handshake|ssl\\.session_reused|downstream_cx_total)$`);
      return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.slice(prefix.length + 1), v]));
    };
    for (let slice = 1; slice <= SLICES; slice++) {
      const order: Mode[] = slice % 2 ? ['mtls', 'plaintext'] : ['plaintext', 'mtls'];
      for (const mode of order) {
        // Keep-alive: the load's connections to A, and A's HTTP/2 connection to B, are reused.
        const l = await load(pair.a, SETUPS.keepAlive[mode].out, 16, SLICE_SECONDS);
        loadRows.push({ mode, slice, ...l });
        console.log(`slice ${slice} ${mode} keep-alive: ${l.rps.toFixed(0)} req/s, p50 ${l.p50Ms.toFixed(2)} ms, p99 ${l.p99Ms.toFixed(2)} ms, ${l.errors} errors`);
      }
      for (const mode of order) {
        // One request per A→B connection, no session resumption: every request a new connection (mTLS: a full handshake).
        const port = SETUPS.perConnection[mode].in;
        const before = await inboundStats(port);
        const h = await load(pair.a, SETUPS.perConnection[mode].out, 8, SLICE_SECONDS);
        const after = await inboundStats(port);
        const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
        const row: HandshakeRow = { mode, slice, connectionsPerSecond: delta('downstream_cx_total') / SLICE_SECONDS, handshakes: delta('ssl.handshake'), resumed: delta('ssl.session_reused'), errors: h.errors };
        handshakeRows.push(row);
        console.log(`slice ${slice} ${mode} new connection per request: ${row.connectionsPerSecond.toFixed(0)} connections/s into B, ${row.handshakes} handshakes (${row.resumed} resumed), ${row.errors} errors`);
      }
    }
    return { load: loadRows, handshakes: handshakeRows, tool: haveWrk() ? 'wrk -t1 (in node A)' : 'node load pod', sliceSeconds: SLICE_SECONDS };
  } finally {
    for (const p of pods) p.kill();
    await Promise.all([a.stop(), b.stop()]);
    pair.cleanup();
  }
}

async function main(): Promise<void> {
  console.log(`# mtls  ${machine()}`);
  const issuance = issuanceRows();
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (other processes share the cores: CPU-time rates are the one-core figures)`);
  for (const r of issuance) console.log(`${r.method}: ${f(r.perCpuSecond)} SVIDs per CPU-second (${r.cpuMsEach.toFixed(3)} ms CPU each), ${f(r.perWallSecond)} per wall-second, n=${r.n}`);
  let mesh: Awaited<ReturnType<typeof meshRows>> | undefined;
  const missing = args.has('no-mesh') ? '--no-mesh' : netnsMissing();
  if (missing) console.log(`mesh measurements skipped: ${missing}`);
  else mesh = await meshRows();
  console.log(`RESULT mtls ${JSON.stringify({ issuance, mesh: mesh ?? null, skipped: missing ?? null })}`);
}

await main();
