// `weft ca init`, `weft ca issue` and `weft workload-api`, run as the user runs them (bin/weft).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../envoy/binary.js';
import { eventually } from './helpers/net.js';
import { buildGoClient, goMissing, runGoClient } from './helpers/mtls-go-client.js';

const weft = path.join(projectRoot(), 'bin', 'weft');
const ID = 'spiffe://cluster.local/ns/default/sa/web';

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(weft, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

test('ca init creates the root once (0700 dir, 0600 key); ca issue writes an SVID that openssl verifies against the bundle', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-ca-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = path.join(dir, 'ca');
  const first = await run(['ca', 'init', '-d', ca, '-t', 'cluster.local']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^created the root CA of spiffe:\/\/cluster\.local: .*root\.crt\n {2}SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}, valid until /);
  const again = await run(['ca', 'init', '-d', ca, '-t', 'cluster.local']);
  t.regex(again.stdout, /^using the root CA/);
  t.is(first.stdout.split('\n')[1], again.stdout.split('\n')[1], 'the same root');
  t.is(statSync(ca).mode & 0o777, 0o700);
  t.is(statSync(path.join(ca, 'root.key')).mode & 0o777, 0o600);

  const out = path.join(dir, 'web');
  const issued = await run(['ca', 'issue', '-d', ca, '-t', 'cluster.local', '--id', ID, '-o', out, '--ttl', '30m']);
  t.is(issued.code, 0, issued.stderr);
  t.is(statSync(path.join(out, 'svid.key')).mode & 0o777, 0o600);
  const chain = readFileSync(path.join(out, 'svid.pem'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
  t.is(chain.length, 2, 'leaf and intermediate');
  writeFileSync(path.join(dir, 'leaf.pem'), chain[0]);
  writeFileSync(path.join(dir, 'intermediate.pem'), chain[1]);
  const verify = execFileSync('openssl', ['verify', '-CAfile', path.join(out, 'bundle.pem'), '-untrusted', path.join(dir, 'intermediate.pem'), path.join(dir, 'leaf.pem')]).toString();
  t.is(verify, `${path.join(dir, 'leaf.pem')}: OK\n`);
  const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: chain[0] }).toString();
  t.regex(text, new RegExp(`URI:${ID}`));
  t.false(issued.stdout.includes('PRIVATE KEY'));

  const bad = await run(['ca', 'issue', '-d', ca, '-t', 'cluster.local', '--id', 'spiffe://cluster.local/ns/default/sa/web?x', '-o', out]);
  t.is(bad.code, 1);
  t.is(bad.stderr, 'weft: invalid SPIFFE ID "spiffe://cluster.local/ns/default/sa/web?x": a SPIFFE ID has no query\n');
  const badTtl = await run(['ca', 'issue', '-d', ca, '-t', 'cluster.local', '--id', ID, '-o', out, '--ttl', 'forever']);
  t.is(badTtl.stderr, 'weft: --ttl must be a duration such as 1h, 30m or 90s, not "forever"\n');
  const badTd = await run(['ca', 'init', '-d', path.join(dir, 'x'), '-t', 'Cluster.Local']);
  t.regex(badTd.stderr, /^weft: trust domain "Cluster.Local": the trust domain has the character "C"/);
});

const missing = goMissing();
if (missing) console.log(`mtls-cli: the workload-api test is skipped: ${missing}`);
(missing ? test.skip : test)('workload-api serves each --socket its own identity (go-spiffe client) and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-wlapi-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = 'spiffe://cluster.local/ns/shop/sa/api';
  const child = spawn(weft, ['workload-api', '-d', path.join(dir, 'ca'), '-t', 'cluster.local', '--socket', `${ID}=${path.join(dir, 'web')}`, '--socket', `${api}=${path.join(dir, 'api')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  await eventually(() => stdout.split('\n').filter((l) => l.startsWith('serving')).length === 2, 30_000, 'both sockets');
  const client = buildGoClient();
  const [web] = await runGoClient(client, ['fetch'], path.join(dir, 'web', 'agent.sock'));
  t.like(web.svids?.[0], { id: ID, verified: ID });
  const [other] = await runGoClient(client, ['fetch'], path.join(dir, 'api', 'agent.sock'));
  t.like(other.svids?.[0], { id: api, verified: api });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
