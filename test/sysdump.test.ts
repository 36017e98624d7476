// `weft sysdump` of a running `weft run` (real Envoy) serving an HTTPS Gateway whose TLS Secret sits in the
// directory: the archive (read back by the system's tar) holds the expected files, and none of the key
// material, Secret values, passwords or tokens appears anywhere in it, while the redaction markers do.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { Datapath } from '../src/datapath/datapath.js';
import { endpointInfo, endpointKey, ipcacheKey, parseAddress, parseCidr, u32 } from '../src/datapath/layout.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import { isSensitiveField, Redactor } from '../src/sysdump/redact.js';
import { tarGz } from '../src/sysdump/tar.js';
import { redactedKey } from '../src/xds/translator/readable.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { CertFactory, httpsRequest } from './helpers/tls.js';
import { loopbackServiceYaml, secretsYaml, tlsGatewayYaml } from './helpers/tls-manifests.js';
import { runWeft, startWeftRun } from './helpers/weft-process.js';

function scratch(t: import('ava').ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every regular file under `dir`, relative path → bytes. */
function readTree(dir: string, base = dir, out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) readTree(p, base, out);
    else out.set(path.relative(base, p), readFileSync(p));
  }
  return out;
}

test('weft sysdump of a running weft run with an HTTPS Gateway: expected files, no key material or secret anywhere, redaction markers present', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const site = certs.leaf('site.example.com', ['site.example.com'], { type: 'rsa' });
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const httpsPort = await freePort();
  const password = 'correct-horse-battery-staple-42';
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLWJ5dGVz';
  const run = await startWeftRun(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'https', port: httpsPort, protocol: 'HTTPS', hostname: 'site.example.com', certs: ['site'] }]) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`,
    'secret.yaml': secretsYaml({ site }) + `---
apiVersion: v1
kind: Secret
metadata: { name: db, namespace: default }
type: Opaque
stringData: { username: app, password: ${password} }
`,
    'app.yaml': loopbackServiceYaml('app', 80, backend.port),
  });
  await eventually(async () => (await httpsRequest(httpsPort, { servername: 'site.example.com' })).status === 200, 15_000, 'HTTPS to be served');
  const work = scratch(t, 'weft-sysdump-test-');
  // A log with what logs should never carry, and do sometimes.
  const log = path.join(work, 'weft.log');
  writeFileSync(log, [
    JSON.stringify({ level: 30, msg: 'loaded', password, key: site.key }),
    `GET /api with Authorization: Bearer ${token}`,
    `dumped secret: ${Buffer.from(site.key).toString('base64')}`,
    'an ordinary line',
  ].join('\n'));

  const archive = path.join(work, 'dump.tar.gz');
  const r = await runWeft(['sysdump', '--admin', `127.0.0.1:${run.adminPort}`, '-c', run.dir, '--log', log, '-o', archive]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'every source collected');
  t.regex(r.stdout, /dump\.tar\.gz: \d+ files; redacted [1-9]\d* private keys/);

  // Read back by an independent reader: the system's tar.
  const out = path.join(work, 'x');
  execFileSync('mkdir', ['-p', out]);
  execFileSync('tar', ['xzf', archive, '-C', out]);
  const [root] = readdirSync(out);
  t.regex(root, /^weft-sysdump-\d{8}-\d{6}Z$/);
  const files = readTree(path.join(out, root));
  for (const f of ['sysdump.json', 'run/status.json', 'run/xds.json', 'run/translation.json', 'run/metrics.txt', 'envoy/config_dump.json', 'envoy/clusters.txt', 'envoy/listeners.txt',
    'envoy/stats.txt', 'envoy/server_info.json', 'envoy/certs.json', 'config/gateway.yaml', 'config/secret.yaml', 'config/app.yaml', 'config/translation.yaml', 'logs/0-weft.log']) {
    t.true(files.has(f), `${f} in the archive`);
  }
  const text = (f: string): string => files.get(f)!.toString('utf8');
  t.like(JSON.parse(text('run/status.json')), { ready: true, nacks: 0, envoy: { running: true } });
  t.deepEqual((JSON.parse(text('sysdump.json')) as { errors: string[] }).errors, []);
  t.regex(text('envoy/clusters.txt'), /default\/app/);
  t.regex(text('run/metrics.txt'), /weft_xds_acks_total/);

  // No key material anywhere: the PEM, each of its base64 lines, its base64 encoding (the Secret's data), the password, the token.
  const everything = Buffer.concat([...files.values()]).toString('latin1');
  const keyLines = site.key.split('\n').filter((l) => l && !l.startsWith('-----'));
  t.true(keyLines.length > 10);
  for (const line of keyLines) t.false(everything.includes(line), `a line of the private key: ${line.slice(0, 12)}…`);
  const keyBase64 = Buffer.from(site.key).toString('base64');
  for (let i = 0; i + 40 <= keyBase64.length; i += 200) t.false(everything.includes(keyBase64.slice(i, i + 40)), 'the base64 of the key (the Secret\'s data)');
  t.false(/PRIVATE KEY-----/.test(everything), 'no PEM private key header');
  t.false(everything.includes(password), 'the password');
  t.false(everything.includes(Buffer.from(password).toString('base64')), 'the password in base64');
  t.false(everything.includes(token.split('.')[1]), 'the token');

  // The markers: the key as `weft translate` prints it (same digest), the certificate summarised, the password by length.
  const marker = redactedKey(site.key);
  const secrets = text('config/secret.yaml');
  t.true(secrets.includes(marker), secrets);
  const docs = secrets.split(/^---$/m).map((d) => parse(d) as { metadata: { name: string }; data?: Record<string, string>; stringData?: Record<string, string> });
  t.regex(docs.find((d) => d.metadata.name === 'site')!.data!['tls.crt'], /^\[redacted \d+ bytes: certificate CN=site\.example\.com, not after /);
  t.is(docs.find((d) => d.metadata.name === 'db')!.stringData!.password, `[redacted ${password.length} bytes]`);
  t.true(text('config/translation.yaml').includes(marker), 'the SDS Secret in the translation');
  t.true(text('logs/0-weft.log').includes(marker), 'the key in the log, in PEM and in base64');
  t.regex(text('logs/0-weft.log'), /Bearer \[redacted token\]/);
  t.regex(text('logs/0-weft.log'), /an ordinary line/);
  t.is(await run.stop(), 0);
});

test('redaction: field names, Secret objects (data, stringData, last-applied annotation), tokens; structure kept', (t) => {
  for (const name of ['password', 'db_password', 'tls.key', 'private_key', 'privateKey', 'client-key-data', 'token', 'bearerToken', 'clientSecret', 'api_key', 'key', 'Authorization'])
    t.true(isSensitiveField(name), name);
  for (const name of ['nodeKey', 'publicKey', 'secretName', 'dynamic_active_secrets', 'keySize', 'name', 'monkey', 'keys', 'tokenizer_name'])
    t.false(isSensitiveField(name), name);
  const r = new Redactor();
  const secret = {
    apiVersion: 'v1', kind: 'Secret',
    metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"token":"c2VjcmV0LXZhbHVl"}}', note: 'ok' } },
    data: { token: Buffer.from('secret-value').toString('base64') },
  };
  const out = r.value({ items: [secret], config: { user: 'u', password: 'pw', nested: { token: ['a', 'b'] } } }) as { items: Array<typeof secret>; config: Record<string, unknown> };
  t.is(out.items[0].data.token, '[redacted 12 bytes]');
  t.is(out.items[0].metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], `[redacted ${'{"data":{"token":"c2VjcmV0LXZhbHVl"}}'.length} bytes]`);
  t.is(out.items[0].metadata.annotations.note, 'ok');
  t.deepEqual(out.config, { user: 'u', password: '[redacted 2 bytes]', nested: { token: ['[redacted 1 bytes]', '[redacted 1 bytes]'] } });
  t.is(r.text('x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc y'), 'x [redacted token] y');
  t.is(r.lines('password: hunter2\nuser: me'), 'password: [redacted 7 bytes]\nuser: me');
});

test('tar writer: long names (ustar prefix), binary content and empty files read back by the system tar', (t) => {
  const work = scratch(t, 'weft-tar-test-');
  const long = `${'d'.repeat(90)}/${'e'.repeat(60)}/${'f'.repeat(95)}.txt`;
  const binary = Buffer.from(Array.from({ length: 1500 }, (_, i) => i % 256));
  writeFileSync(path.join(work, 'a.tar.gz'), tarGz([{ name: long, data: 'long\n' }, { name: 'bin/data', data: binary }, { name: 'empty', data: '' }]));
  execFileSync('tar', ['xzf', path.join(work, 'a.tar.gz'), '-C', work]);
  t.is(readFileSync(path.join(work, long), 'utf8'), 'long\n');
  t.deepEqual(readFileSync(path.join(work, 'bin/data')), binary);
  t.is(readFileSync(path.join(work, 'empty'), 'utf8'), '');
  t.throws(() => tarGz([{ name: '../escape', data: '' }]), { message: /not a relative path/ });
});

test('weft sysdump --bpf-pin-root: every entry of a real datapath\'s maps, decoded where the layout says how (root, kernel eBPF)', async (t) => {
  const unavailable = datapathUnavailable();
  if (unavailable) {
    t.log(`skipped: ${unavailable}`);
    t.pass();
    return;
  }
  const pinRoot = `/sys/fs/bpf/weft-sysdump-test-${process.pid}`;
  const dp = Datapath.open({ pinRoot });
  t.teardown(() => dp.destroy());
  dp.maps.endpoints.update(endpointKey(parseAddress('10.1.2.3')), endpointInfo({ identity: 300, ifindex: 7, flags: 1 }));
  dp.maps.ipcache.update(ipcacheKey(parseCidr('10.9.0.0/16')), u32(400));
  const work = scratch(t, 'weft-sysdump-dp-');
  const archive = path.join(work, 'dp.tar.gz');
  const r = await runWeft(['sysdump', '--bpf-pin-root', pinRoot, '-o', archive]);
  t.is(r.code, 0, r.stderr);
  execFileSync('tar', ['xzf', archive, '-C', work]);
  const root = readdirSync(work).find((n) => n.startsWith('weft-sysdump-'))!;
  const read = (f: string): string => readFileSync(path.join(work, root, 'datapath', f), 'utf8');
  t.regex(read('endpoints.txt'), /^# weft_endpoints: 1 entries/);
  t.regex(read('endpoints.txt'), /\n[0-9a-f]+ [0-9a-f]+ {2}10\.1\.2\.3 \{"identity":300,"ifindex":7,"flags":1\}\n/);
  t.regex(read('ipcache.txt'), / {2}10\.9\.0\.0\/16 identity 400\n/);
  t.regex(read('policy.txt'), /^# weft_policy: 0 entries/);
  t.true(existsSync(path.join(work, root, 'datapath', 'conntrack.txt')));
});
