// `weft status` against a real `weft run`: healthy (exit 0, every check listed, the 2-day certificate a
// warning), a listener Envoy cannot bind (the port is taken: Envoy NACKs the listeners, exit 1 naming the
// NACK), no admin endpoint at all (exit 1), and with a real datapath its map sizes listed.
import net from 'node:net';
import test from 'ava';
import { unpinAll } from '../src/datapath/datapath.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import type { Check } from '../src/status/report.js';
import { parseSamples } from '../src/status/kubernetes.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { eventually, freePort } from './helpers/net.js';
import { CertFactory } from './helpers/tls.js';
import { loopbackServiceYaml, secretsYaml, tlsGatewayYaml } from './helpers/tls-manifests.js';
import { runWeft, START_DEADLINE_MS, startWeftRun } from './helpers/weft-process.js';

const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`;

test('weft status: a healthy weft run exits 0 and lists configuration, Envoy, xDS and the certificate (expiring within a week: a warning)', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const port = await freePort();
  const run = await startWeftRun(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'https', port, protocol: 'HTTPS', hostname: 'site.example.com', certs: ['site'] }]),
    'secret.yaml': secretsYaml({ site: certs.leaf('site.example.com', ['site.example.com']) }),
    'route.yaml': route,
    'app.yaml': loopbackServiceYaml('app', 80, backend.port),
  });
  const text = await runWeft(['status', '--admin', `127.0.0.1:${run.adminPort}`]);
  t.log(text.stdout);
  t.is(text.code, 0, text.stdout + text.stderr);
  t.regex(text.stdout, new RegExp(`^weft run at 127\\.0\\.0\\.1:${run.adminPort}: healthy\\n`));
  t.regex(text.stdout, /\n {2}ok {4}configuration +generation 1, version [0-9a-f]{12}: served and ACKed\n/);
  t.regex(text.stdout, /\n {2}ok {4}envoy +pid \d+, LIVE, 0 restart\(s\)\n/);
  t.regex(text.stdout, /\n {2}ok {4}xds weft-node +1 stream\(s\); ACKs\/NACKs .*Listener \d+\/0/);
  t.regex(text.stdout, /\n {2}warn {2}certificate gateway secret\/default\/site +expires in (47h|48h|1d|2d) /);
  const json = await runWeft(['status', '--admin', `127.0.0.1:${run.adminPort}`, '-o', 'json']);
  t.is(json.code, 0);
  const [report] = JSON.parse(json.stdout) as Array<{ healthy: boolean; checks: Check[] }>;
  t.true(report.healthy);
  t.deepEqual(report.checks.map((c) => c.subject), ['configuration', 'envoy', 'xds weft-node', 'certificate gateway secret/default/site']);
  t.is(await run.stop(), 0);
});

test('weft status: a listener Envoy rejects (its port is taken) makes weft run unhealthy: exit 1, the NACK named', async (t) => {
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const port = await freePort();
  // Something else holds the Gateway's port on every address: Envoy cannot bind the listener and rejects it.
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '0.0.0.0', resolve));
  t.teardown(() => squatter.close());
  const run = await startWeftRun(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'http', port, protocol: 'HTTP' }]),
    'route.yaml': route,
    'app.yaml': loopbackServiceYaml('app', 80, backend.port),
  }, [], { waitReady: false });
  const r = await eventually(async () => {
    const got = await runWeft(['status', '--admin', `127.0.0.1:${run.adminPort}`]);
    return /last NACK/.test(got.stdout) && got;
  }, START_DEADLINE_MS, 'weft status to report the NACK'); // each weft status is a new process, slow to start under load
  t.log(r.stdout);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stdout, /: UNHEALTHY\n/);
  t.regex(r.stdout, /\n {2}FAIL {2}configuration +generation 1, version [0-9a-f]{12}: Envoy does not hold the current configuration/);
  t.regex(r.stdout, /\n {2}FAIL {2}xds weft-node +1 stream\(s\); .*last NACK Listener: .*(bind|in use)/i);
  t.is(await run.stop(), 0);
});

test('weft status: no weft run at the address is unhealthy (exit 1)', async (t) => {
  const port = await freePort();
  const r = await runWeft(['status', '--admin', `127.0.0.1:${port}`]);
  t.is(r.code, 1);
  t.regex(r.stdout, /UNHEALTHY\n {2}FAIL {2}weft run +admin endpoint http:\/\/127\.0\.0\.1:\d+ unreachable/);
});

test('the metrics reader of weft status --kubernetes reads samples and labels of the text format', (t) => {
  t.deepEqual(parseSamples('# HELP x y\n# TYPE x gauge\nweft_certificate_expiry_seconds{kind="gateway",name="secret/a/b"} 3600\nweft_xds_nacks_total 2\n'), [
    { name: 'weft_certificate_expiry_seconds', labels: { kind: 'gateway', name: 'secret/a/b' }, value: 3600 },
    { name: 'weft_xds_nacks_total', labels: {}, value: 2 },
  ]);
});

test('weft status with a datapath (weft run --flows-bpf-pin-root; root, kernel eBPF): the maps\' sizes are listed', async (t) => {
  const unavailable = datapathUnavailable();
  if (unavailable) {
    t.log(`skipped: ${unavailable}`);
    t.pass();
    return;
  }
  const pinRoot = `/sys/fs/bpf/weft-status-test-${process.pid}`;
  t.teardown(() => unpinAll(pinRoot));
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const [port, flowsPort] = [await freePort(), await freePort()];
  const run = await startWeftRun(t, {
    'gateway.yaml': tlsGatewayYaml([{ name: 'http', port, protocol: 'HTTP' }]),
    'route.yaml': route,
    'app.yaml': loopbackServiceYaml('app', 80, backend.port),
  }, ['--flows-listen', `127.0.0.1:${flowsPort}`, '--flows-bpf-pin-root', pinRoot]);
  const r = await runWeft(['status', '--admin', `127.0.0.1:${run.adminPort}`]);
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /\n {2}ok {4}datapath +map entries endpoints 0, ipcache 0, policy 0, mesh 0, services 0, backends 0, conntrack \d+\n/);
  t.is(await run.stop(), 0);
});
