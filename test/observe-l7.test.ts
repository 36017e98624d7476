// L7 flows through a real Envoy: the flow agent follows the node proxy's L7 policy access log file (each line
// with the local address and the duration, translated for flows) and names both ends (pods, identities, service); allowed and
// L7-denied requests (with method, path, status) appear through the agent and through the relay.
import test from 'ava';
import type { Flow } from '../src/observe/flow.js';
import { ACCESS_LOG_CLUSTER } from '../src/xds/translator/access-log-service.js';
import { pod, request } from './helpers/l7policy.js';
import { eventually } from './helpers/net.js';
import { client, getFlows, l7FlowFixture } from './helpers/observe.js';

test('L7 requests, allowed and denied by L7 policy, become flows with the request and the right identities, through the agent and the relay', async (t) => {
  const f = await l7FlowFixture(t, ({ net, port, backendAnnotation }) => `apiVersion: v1
kind: Pod
metadata: { name: server-0, namespace: shop, labels: { app: server }, ${backendAnnotation} }
status: { podIP: ${net}.2 }
---
${pod('client-0', `${net}.10`, { app: 'client' }, 'shop')}---
apiVersion: v1
kind: Service
metadata: { name: server, namespace: shop }
spec: { clusterIP: 10.96.7.7, selector: { app: server }, ports: [{ port: 80, targetPort: ${port} }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: l7, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/public.*" }] }
`);
  const { agent, relay, td, port } = f;
  t.false(f.translation.resources.some((r) => r.name === ACCESS_LOG_CLUSTER), 'L7 policy listeners stream nothing: the agent follows their file');
  const table = f.translation.l7!.table;
  const net = f.server.slice(0, f.server.lastIndexOf('.'));
  const from = `${net}.10`;
  t.is((await request(`${net}.2`, port, { from, path: '/public/a' })).status, 200);
  t.is((await request(`${net}.2`, port, { from, path: '/private' })).status, 403);
  t.is((await request(`${net}.2`, port, { from, method: 'POST', path: '/public/b' })).status, 403);
  t.is((await request(`${net}.2`, port, { from: `${net}.99`, path: '/public/c' })).status, 403, 'an address of no pod: the world (identity 2, as the proxy names it)');

  const c = client(`127.0.0.1:${relay.port}`, td.material('/weft/observe'));
  t.teardown(() => c.close());
  const flows = await eventually(async () => {
    const got = await getFlows(c, { type: ['L7'] });
    return got.length >= 4 && got;
  }, 15_000, 'four L7 flows at the relay');
  const byPath = (p: string): Flow | undefined => flows.find((f) => f.http?.path === p);
  const clientId = table.byIp.get(from)!;
  const serverId = table.byIp.get(`${net}.2`)!;
  const source = { ip: from, identity: clientId, namespace: 'shop', pod: 'client-0', labels: ['app=client'], workload: 'client' };
  const destination = { ip: `${net}.2`, port, identity: serverId, namespace: 'shop', pod: 'server-0', services: ['shop/server'], workload: 'server' };
  t.like(byPath('/public/a'), { node: 'node-1', type: 'L7', verdict: 'FORWARDED', drop_reason: '', protocol: 'HTTP', traffic_direction: 'INGRESS', http: { method: 'GET', status: 200, protocol: 'HTTP/1.1' }, source, destination, summary: 'via_upstream' });
  t.like(byPath('/private'), { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', drop_reason_code: 133, http: { method: 'GET', path: '/private', status: 403 }, source, destination, summary: 'denied:l7' });
  t.like(byPath('/public/b'), { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', http: { method: 'POST', status: 403 }, source: { identity: clientId } });
  t.like(byPath('/public/c'), { verdict: 'DROPPED', source: { ip: `${net}.99`, pod: '', identity: 2, labels: ['reserved:world'], workload: 'world' }, destination: { identity: serverId } });
  t.true(byPath('/public/a')!.http!.latency_ms > 0, 'latency from Envoy\'s timings');
  t.true(Math.abs(byPath('/public/a')!.time_ms - Date.now()) < 60_000);

  // HTTP filters select exactly what they say.
  t.deepEqual((await getFlows(c, { http_status: [403] })).map((f) => f.http?.path).sort(), ['/private', '/public/b', '/public/c']);
  t.deepEqual((await getFlows(c, { http_method: ['post'] })).map((f) => f.http?.path), ['/public/b']);
  t.deepEqual((await getFlows(c, { http_path: ['/public'], verdict: ['FORWARDED'] })).map((f) => f.http?.path), ['/public/a']);
  t.deepEqual((await getFlows(c, { source_pod: ['shop/client-0'], http_status: [403] })).map((f) => f.http?.path).sort(), ['/private', '/public/b']);
  // The same flows at the agent itself.
  const direct = client(`127.0.0.1:${agent.observerPort}`, td.material('/weft/observe'));
  t.teardown(() => direct.close());
  t.deepEqual(await getFlows(direct, { type: ['L7'] }), flows);
});
