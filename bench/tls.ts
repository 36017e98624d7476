// TLS termination cost through one Envoy (one worker, --concurrency 1): HTTPS requests/s over keep-alive
// connections and new TLS handshakes/s (a new connection per request), each as a ratio to plain HTTP on
// the same Envoy in the same run, for an ECDSA P-256 and an RSA-2048 certificate. Envoy answers itself
// (a direct response), so the figures are Envoy's, not a backend's. Rounds alternate the listeners so
// that the machine's other load spreads over all of them.
//
//   node dist/bench/tls.js [--size=quick|full]
//
// Load: wrk (1 thread). wrk resumes TLS sessions (tickets) on its new connections, so its new-connection
// figure is mostly resumed handshakes (as clients with tickets get); full handshakes are measured with
// `openssl s_time -new` (no resumption; 4 processes in parallel, since each runs one connection at a time).
// Handshakes are counted from Envoy's own listener stats (ssl.handshake, ssl.session_reused).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import type { HttpListenerIR, ProxyIR } from '../src/ir/model.js';
import { translateIrToXds } from '../src/xds/translator/translate-ir.js';
import { Mesh } from '../test/helpers/mesh.js';
import { CertFactory } from '../test/helpers/tls.js';
import { freePort, machine, parseArgs } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const SECONDS = full ? 10 : 4;
const ROUNDS = full ? 3 : 2;
const KEEPALIVE_CONNECTIONS = 16;
const NEW_CONN_CONNECTIONS = 8;

type Mode = 'http' | 'https-ecdsa' | 'https-rsa';

export interface TlsRow {
  mode: Mode;
  round: number;
  keepAliveRps: number;
  keepAliveP99Ms: number;
  /** New connections (each one request) per second; for HTTPS, each a full handshake. */
  newConnPerSecond: number;
  handshakes: number;
  resumed: number;
  errors: number;
  /** Full (not resumed) handshakes per second with openssl s_time -new; 0 for plain HTTP. */
  fullHandshakesPerSecond: number;
  fullHandshakesResumed: number;
}

const S_TIME_PROCESSES = 4;

/** `openssl s_time -new` × S_TIME_PROCESSES in parallel for SECONDS: completed connections in all. */
async function sTime(port: number): Promise<number> {
  const runs = Array.from({ length: S_TIME_PROCESSES }, () =>
    new Promise<number>((resolve) => {
      execFile('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(SECONDS)], { timeout: (SECONDS + 30) * 1000 }, (_err, stdout) => {
        resolve(Number(/(\d+) connections in [\d.]+s/.exec(stdout)?.[1] ?? 0));
      });
    }),
  );
  return (await Promise.all(runs)).reduce((a, b) => a + b, 0);
}

function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function wrk(url: string, connections: number, extra: string[]): { rps: number; p99Ms: number; errors: number } {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency', '--timeout', '5s', ...extra, url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // With Connection: close, wrk counts the server's close after each response as a read "error"; only
  // connect errors, timeouts and bad statuses count here.
  const errors = (errs ? Number(errs[1]) + Number(errs[4]) : 0) + non2xx;
  return { rps, p99Ms: wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''), errors };
}

function listener(name: string, port: number, tls?: { cert: string; key: string }): HttpListenerIR {
  return {
    name,
    address: '127.0.0.1',
    port,
    virtualHosts: [{ name: `${name}/*`, hostname: '*', routes: [{ name: 'ok', match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, action: { kind: 'direct', status: 200, body: 'ok\n' } }] }],
    ...(tls ? { tls: { chains: [{ name: 'default', serverNames: [], terminate: { certificates: [{ name: `cert/${name}`, certificateChain: tls.cert, privateKey: tls.key }], alpn: ['http/1.1'] } }] } } : {}),
  };
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) {
    console.log('RESULT tls ' + JSON.stringify({ rows: [], skipped: 'wrk is not installed (scripts/setup.sh installs it)' }));
    return;
  }
  console.log(`# tls bench  ${machine()}  ${SECONDS}s per run, ${ROUNDS} rounds, wrk -t1 -c${KEEPALIVE_CONNECTIONS} keep-alive, -c${NEW_CONN_CONNECTIONS} with Connection: close`);
  const certs = new CertFactory();
  const ecdsa = certs.leaf('bench.example.com', ['bench.example.com'], { type: 'ec' });
  const rsa = certs.leaf('bench.example.com', ['bench.example.com'], { type: 'rsa' });
  const ports: Record<Mode, number> = { http: await freePort(), 'https-ecdsa': await freePort(), 'https-rsa': await freePort() };
  const names: Record<Mode, string> = { http: `127.0.0.1:${ports.http}`, 'https-ecdsa': `127.0.0.1:${ports['https-ecdsa']}`, 'https-rsa': `127.0.0.1:${ports['https-rsa']}` };
  const ir: ProxyIR = { httpListeners: [listener(names.http, ports.http), listener(names['https-ecdsa'], ports['https-ecdsa'], ecdsa), listener(names['https-rsa'], ports['https-rsa'], rsa)] };
  const mesh = new Mesh({ protocol: 'delta' });
  const rows: TlsRow[] = [];
  try {
    await mesh.start(translateIrToXds(ir));
    await mesh.converged();
    // Envoy names listener stats by address, with the colon as an underscore.
    const stat = async (mode: Mode, s: string): Promise<number> => (await mesh.envoy.stat(`listener.127.0.0.1_${ports[mode]}.${s}`)) ?? 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Mode[] = round % 2 ? ['http', 'https-ecdsa', 'https-rsa'] : ['https-rsa', 'https-ecdsa', 'http'];
      for (const mode of order) {
        const url = `${mode === 'http' ? 'http' : 'https'}://127.0.0.1:${ports[mode]}/`;
        const keep = wrk(url, KEEPALIVE_CONNECTIONS, []);
        const [h0, r0, c0] = [await stat(mode, 'ssl.handshake'), await stat(mode, 'ssl.session_reused'), await stat(mode, 'downstream_cx_total')];
        const fresh = wrk(url, NEW_CONN_CONNECTIONS, ['-H', 'Connection: close']);
        const [h1, r1, c1] = [await stat(mode, 'ssl.handshake'), await stat(mode, 'ssl.session_reused'), await stat(mode, 'downstream_cx_total')];
        let full = 0;
        let fullResumed = 0;
        if (mode !== 'http') {
          const r2 = await stat(mode, 'ssl.session_reused');
          full = (await sTime(ports[mode])) / SECONDS;
          fullResumed = (await stat(mode, 'ssl.session_reused')) - r2;
        }
        const row: TlsRow = { mode, round, keepAliveRps: keep.rps, keepAliveP99Ms: keep.p99Ms, newConnPerSecond: (c1 - c0) / SECONDS, handshakes: h1 - h0, resumed: r1 - r0, errors: keep.errors + fresh.errors, fullHandshakesPerSecond: full, fullHandshakesResumed: fullResumed };
        rows.push(row);
        console.log(`round ${round} ${mode}: keep-alive ${row.keepAliveRps.toFixed(0)} req/s (p99 ${row.keepAliveP99Ms.toFixed(2)} ms); wrk new connection per request ${row.newConnPerSecond.toFixed(0)}/s, ${row.handshakes} handshakes (${row.resumed} resumed)${mode === 'http' ? '' : `; full handshakes (s_time -new ×${S_TIME_PROCESSES}) ${full.toFixed(0)}/s (${fullResumed} resumed)`}; errors ${row.errors}`);
      }
    }
    const health = await mesh.healthy();
    if (health.nacks.length) throw new Error(`Envoy rejected the configuration: ${JSON.stringify(health.nacks)}`);
  } finally {
    await mesh.stop();
    certs.close();
  }
  console.log('RESULT tls ' + JSON.stringify({ rows, skipped: null }));
}

await main();
