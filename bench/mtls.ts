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
import { meshIdentities, meshResources, meshSecrets, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import type { X509Svid } from '../src/mtls/svid.js';
import { MeshNode, createNodePair, netnsMissing, runLoad, startEchoPod } from '../test/helpers/mtls-nodes.js';
import { machine, parseArgs } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const ISSUE_MS = full ? 5000 : 2000;
const LOAD_SECONDS = full ? 10 : 4;
const ROUNDS = full ? 3 : 2;
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

export interface LoadRow {
  mode: 'mtls' | 'plaintext';
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}
export interface HandshakeRow {
  mode: 'mtls' | 'plaintext';
  round: number;
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

async function load(ns: string, connections: number, seconds: number): Promise<{ rps: number; p50Ms: number; p99Ms: number; requests: number; errors: number }> {
  if (haveWrk()) {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s', '-H', 'Host: server.default', 'http://127.0.0.1:15001/'], {
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
  const r = await runLoad(ns, { url: 'http://127.0.0.1:15001/', host: 'server.default', concurrency: connections, durationMs: seconds * 1000, keepLatencies: true });
  const sorted = r.latenciesMs.sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { rps: (r.ok + r.failed) / r.seconds, p50Ms: at(0.5), p99Ms: at(0.99), requests: r.ok + r.failed, errors: r.failed };
}

async function meshRows(): Promise<{ load: LoadRow[]; handshakes: HandshakeRow[]; tool: string }> {
  const pair = createNodePair();
  const a = new MeshNode(pair.a, 'bench-mtls-a');
  const b = new MeshNode(pair.b, 'bench-mtls-b');
  const pods: Array<{ kill(): boolean }> = [];
  try {
    const ca = CertificateAuthority.generate({ trustDomain: TD });
    const client = `spiffe://${TD}/ns/default/sa/client`;
    const server = `spiffe://${TD}/ns/default/sa/server`;
    const svids = new Map<string, X509Svid>([[client, ca.issue(client)], [server, ca.issue(server)]]);
    const views = (mode: 'mtls' | 'plaintext', perConnection?: number): [MeshNodeView, MeshNodeView] => {
      const common = { trustDomain: TD, plaintext: mode === 'plaintext', ...(perConnection ? { maxRequestsPerConnection: perConnection, sessionResumption: false } : {}) };
      return [
        { ...common, outbound: { address: '127.0.0.1', port: 15001, sources: [{ id: client, sources: ['127.0.0.1'] }], services: [{ host: 'server.default', node: { address: pair.addrB, port: 15008 }, id: server }] } },
        { ...common, inbound: { address: pair.addrB, port: 15008, services: [{ host: 'server.default', id: server, backend: { address: '127.0.0.1', port: 8080 } }] } },
      ];
    };
    // Plaintext references no Secret, and Envoy never asks for one it does not use.
    const resources = (v: MeshNodeView) => [...meshResources(v), ...(v.plaintext ? [] : meshSecrets(TD, new Map(meshIdentities(v).map((id) => [id, svids.get(id)!])), ca.root.pem))];
    const apply = async (mode: 'mtls' | 'plaintext', perConnection?: number): Promise<void> => {
      const [va, vb] = views(mode, perConnection);
      a.set(resources(va));
      b.set(resources(vb));
      await Promise.all([a.converged(), b.converged()]);
      // Let listener draining from the previous mode finish.
      await new Promise((r) => setTimeout(r, 500));
    };
    pods.push(await startEchoPod(pair.b, 'server', '127.0.0.1', 8080));
    const [va, vb] = views('mtls');
    await Promise.all([a.start(resources(va)), b.start(resources(vb))]);
    await Promise.all([a.converged(), b.converged()]);

    const loadRows: LoadRow[] = [];
    const handshakeRows: HandshakeRow[] = [];
    const inbound = `listener.${pair.addrB}_15008`;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of ['mtls', 'plaintext'] as const) {
        // Keep-alive: pods' connections to A, and A's HTTP/2 connection to B, are reused.
        await apply(mode);
        const l = await load(pair.a, 16, LOAD_SECONDS);
        loadRows.push({ mode, round, ...l });
        console.log(`${mode} keep-alive round ${round}: ${l.rps.toFixed(0)} req/s, p50 ${l.p50Ms.toFixed(2)} ms, p99 ${l.p99Ms.toFixed(2)} ms, ${l.errors} errors`);
        // One request per A→B connection, no session resumption: every request a new (full) handshake.
        await apply(mode, 1);
        const before = await b.stats(`^${inbound.replaceAll('.', '\\.')}\\.(ssl\\.handshake|ssl\\.session_reused|downstream_cx_total)$`);
        const h = await load(pair.a, 8, LOAD_SECONDS);
        const after = await b.stats(`^${inbound.replaceAll('.', '\\.')}\\.(ssl\\.handshake|ssl\\.session_reused|downstream_cx_total)$`);
        const delta = (k: string): number => (after[`${inbound}.${k}`] ?? 0) - (before[`${inbound}.${k}`] ?? 0);
        const row: HandshakeRow = { mode, round, connectionsPerSecond: delta('downstream_cx_total') / LOAD_SECONDS, handshakes: delta('ssl.handshake'), resumed: delta('ssl.session_reused'), errors: h.errors };
        handshakeRows.push(row);
        console.log(`${mode} new connection per request round ${round}: ${row.connectionsPerSecond.toFixed(0)} connections/s into B, ${row.handshakes} handshakes (${row.resumed} resumed), ${row.errors} errors`);
      }
    }
    return { load: loadRows, handshakes: handshakeRows, tool: haveWrk() ? 'wrk -t1 (in node A)' : 'node load pod' };
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
