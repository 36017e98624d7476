// `weft run` with the mesh: a CiliumNetworkPolicy requiring authentication makes the runner start mesh mutual
// TLS on its own Envoy (CA, SVIDs of every pod's service account, outbound and inbound listeners); pods reach a
// policed port through the outbound listener (Host `<port>.<pod>.<namespace>`), the inbound listener applies the
// server pod's L7 policy to the verified SPIFFE ID; plaintext to the pod's policy listener is refused. Dropping
// the requirement stops the mesh. Real Envoy, loopback addresses only.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parseL7AccessLogLine, type L7AccessLogEntry } from '../src/l7policy/access-log.js';
import { ACCESS_DENIED_BODY } from '../src/l7policy/envoy.js';
import { silentLogger } from '../src/log/logger.js';
import { meshServiceHost } from '../src/mtls/standalone-mesh.js';
import { StandaloneRunner } from '../src/standalone/runner.js';
import { startEchoBackend, type EchoReply } from './helpers/echo-backend.js';
import { addressBlock, request } from './helpers/l7policy.js';
import { eventually, freePort } from './helpers/net.js';
import { readyAfter, replaceFile, startedAndReady } from './helpers/standalone.js';

const TD = 'cluster.local';

const readL7Log = (file: string): L7AccessLogEntry[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => parseL7AccessLogLine(l)!) : []);

test('weft run: a policy requiring authentication starts the mesh; the server pod\'s L7 policy applies to the verified SPIFFE ID; plaintext is refused; without the requirement the mesh stops', async (t) => {
  const backend = await startEchoBackend('server');
  const [port, outboundPort, inboundPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const net = addressBlock();
  const [serverIp, clientIp, otherIp] = [`${net}.2`, `${net}.10`, `${net}.11`];
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-run-mesh-'));
  const runner = new StandaloneRunner({ dir, logger: silentLogger, print: () => {}, nodeId: `weft-run-mesh-${process.pid}`, mesh: { trustDomain: TD, outboundPort, inboundPort } });
  t.teardown(async () => {
    await runner.stop();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const pod = (name: string, ip: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: ${name} }${extra} }
spec: { serviceAccountName: ${name}, containers: [{ name: app, ports: [{ containerPort: ${port} }] }] }
status: { podIP: ${ip} }
`;
  writeFileSync(path.join(dir, 'pods.yaml'), [pod('server', serverIp, `, annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" }`), pod('client', clientIp), pod('other', otherIp)].join('---\n'));
  const policy = (paths: string[], authentication: boolean) => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
${authentication ? '    authentication: { mode: required }\n' : ''}    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [${paths.map((p) => `{ method: GET, path: "${p}" }`).join(', ')}] }
`;
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy(['/allowed'], true));
  await runner.start();
  await startedAndReady(runner);
  t.truthy(runner.mesh, 'the mesh is on');
  t.deepEqual(runner.last!.problems, []);

  const host = meshServiceHost('default/server', port);
  t.is(host, `${port}.server.default`);
  const viaMesh = (from: string, p: string) => request('127.0.0.1', outboundPort, { from, path: p, headers: { host } });
  const allowed = await viaMesh(clientIp, '/allowed');
  t.is(allowed.status, 200, allowed.body);
  const echoed = JSON.parse(allowed.body) as EchoReply;
  t.regex(String(echoed.headers['x-forwarded-client-cert']), new RegExp(`URI=spiffe://${TD}/ns/default/sa/client$`), 'the server sees the client\'s verified identity');
  t.deepEqual(await viaMesh(clientIp, '/other').then((r) => [r.status, r.body]), [403, ACCESS_DENIED_BODY]);
  t.deepEqual(await viaMesh(otherIp, '/allowed').then((r) => [r.status, r.body]), [403, ACCESS_DENIED_BODY], 'another service account');
  // The mesh's requests are in the L7 access log, the peer named by its verified SPIFFE ID's identity.
  const client = runner.last!.l7!.table.byIp.get(clientIp);
  const line = await eventually(() => readL7Log(runner.l7AccessLogPath).find((l) => l.path === '/allowed' && l.verdict === 'FORWARDED'), 10_000, 'the mesh request in the access log');
  t.like(line, { sourceIdentity: client, destinationEndpoint: 'default/server', destinationPort: port });

  // The inbound listener checks the path the application will see (the outbound listener forwards it as sent).
  t.is((await viaMesh(clientIp, '/allowed/../other')).status, 403, 'dot segments are resolved before the rules');
  t.is((await viaMesh(clientIp, '/x/..%2F..%2Fother')).status, 403, 'encoded slashes are decoded before the rules');
  const merged = await viaMesh(clientIp, '//allowed');
  t.deepEqual([merged.status, (JSON.parse(merged.body) as EchoReply).path], [200, '/allowed'], 'merged slashes: allowed, and forwarded as checked');
  const plaintext = await request(serverIp, port, { from: clientIp, path: '/allowed' });
  t.deepEqual([plaintext.status, plaintext.body], [403, ACCESS_DENIED_BODY], 'plaintext from the allowed pod\'s address');

  // A policy change reaches the next request over the mesh.
  let generation = runner.generation;
  replaceFile(policyFile, policy(['/allowed', '/other'], true));
  await readyAfter(runner, generation);
  t.is((await viaMesh(clientIp, '/other')).status, 200);

  // Without the requirement the mesh stops, and plaintext is the way in again.
  generation = runner.generation;
  replaceFile(policyFile, policy(['/allowed'], false));
  await readyAfter(runner, generation);
  t.is(runner.mesh, undefined);
  t.is((await request(serverIp, port, { from: clientIp, path: '/allowed' })).status, 200);
  t.deepEqual(runner.nacks, []);
});
