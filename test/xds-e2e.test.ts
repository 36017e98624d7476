// The xDS server driving a real Envoy: routing, route changes, endpoint churn through EDS only.
import test from 'ava';
import { edsCluster, httpListener, loadAssignment } from '../src/xds/builders.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { startEchoBackend, type EchoBackend, type EchoReply } from './helpers/echo-backend.js';
import { Mesh, type Protocol } from './helpers/mesh.js';
import { eventually, freePort } from './helpers/net.js';

function routes(port: number, table: Array<{ prefix: string; cluster: string }>): Resource[] {
  return [
    listenerResource(httpListener({ name: 'http', address: '127.0.0.1', port, routeConfigName: 'http-routes' })),
    routeConfigurationResource({
      name: 'http-routes',
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: table.map((r) => ({ match: { prefix: r.prefix }, route: { cluster: r.cluster } })) }],
    }),
  ];
}

function backendResources(backends: EchoBackend[]): Resource[] {
  return backends.flatMap((b) => [
    clusterResource(edsCluster(b.name)),
    endpointsResource(loadAssignment(b.name, [{ address: '127.0.0.1', port: b.port }])),
  ]);
}

async function get(port: number, path: string): Promise<{ status: number; body: EchoReply | string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as EchoReply };
  } catch {
    return { status: res.status, body: text };
  }
}

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: routes traffic, serves route changes, sends endpoint churn through EDS only`, async (t) => {
    const [a, b] = await Promise.all([startEchoBackend('a'), startEchoBackend('b')]);
    const port = await freePort();
    const mesh = new Mesh({ protocol });
    t.teardown(async () => {
      await mesh.stop();
      await a.close();
      await b.close();
    });
    await mesh.start([...backendResources([a, b]), ...routes(port, [{ prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    const first = await eventually(async () => {
      const r = await get(port, '/hello');
      return r.status === 200 ? r : undefined;
    }, 15_000, 'Envoy to serve the first route');
    t.is((first.body as EchoReply).backend, 'a');
    t.is((first.body as EchoReply).path, '/hello');

    // A route change: /b goes to backend b.
    mesh.set([...backendResources([a, b]), ...routes(port, [{ prefix: '/b', cluster: 'b' }, { prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    const changed = await eventually(async () => {
      const r = await get(port, '/b/x');
      return (r.body as EchoReply).backend === 'b' ? r : undefined;
    }, 15_000, 'the route change to be served');
    t.is(changed.status, 200);
    t.is(((await get(port, '/other')).body as EchoReply).backend, 'a');

    // Endpoint churn: backend a moves to a new port. Only EDS responses may go out for it.
    const a2 = await startEchoBackend('a2');
    t.teardown(() => a2.close());
    const before = mesh.responses.length;
    mesh.set([
      clusterResource(edsCluster('a')),
      endpointsResource(loadAssignment('a', [{ address: '127.0.0.1', port: a2.port }])),
      ...backendResources([b]),
      ...routes(port, [{ prefix: '/b', cluster: 'b' }, { prefix: '/', cluster: 'a' }]),
    ]);
    await mesh.converged();
    await eventually(async () => ((await get(port, '/')).body as EchoReply).backend === 'a2', 15_000, 'traffic to reach the new endpoint');
    const churn = mesh.responses.slice(before);
    t.true(churn.length >= 1);
    t.deepEqual([...new Set(churn.map((r) => r.typeUrl))], [TypeUrl.ClusterLoadAssignment], 'endpoint-only change sends EDS only');

    const health = await mesh.healthy();
    t.deepEqual(health.nacks, []);
    t.deepEqual(health.warming, []);
  });
}
