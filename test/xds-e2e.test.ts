// The xDS server driving a real Envoy: routing, route changes, endpoint churn through EDS only.
import test from 'ava';
import { TypeUrl } from '../src/xds/type-urls.js';
import { startEchoBackend, type EchoBackend, type EchoReply } from './helpers/echo-backend.js';
import { meshFixture, type Protocol } from './helpers/mesh.js';
import { eventually } from './helpers/net.js';
import { httpRoutes, upstream } from './helpers/resources.js';
import { get } from './helpers/traffic.js';

const backendResources = (backends: EchoBackend[]) => backends.flatMap((b) => upstream(b.name, b.port));

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: routes traffic, serves route changes, sends endpoint churn through EDS only`, async (t) => {
    const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol }, ['a', 'b']);
    await mesh.start([...backendResources([a, b]), ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    const first = await eventually(async () => {
      const r = await get(port, '/hello');
      return r.status === 200 ? r : undefined;
    }, 15_000, 'Envoy to serve the first route');
    t.is(first.backend, 'a');
    t.is((JSON.parse(first.body) as EchoReply).path, '/hello');

    // A route change: /b goes to backend b.
    const twoRoutes = httpRoutes(port, [{ prefix: '/b', cluster: 'b' }, { prefix: '/', cluster: 'a' }]);
    mesh.set([...backendResources([a, b]), ...twoRoutes]);
    await mesh.converged();
    const changed = await eventually(async () => {
      const r = await get(port, '/b/x');
      return r.backend === 'b' ? r : undefined;
    }, 15_000, 'the route change to be served');
    t.is(changed.status, 200);
    t.is((await get(port, '/other')).backend, 'a');

    // Endpoint churn: cluster a's endpoint moves to another backend. Only EDS responses may go out.
    const a2 = await startEchoBackend('a2');
    t.teardown(() => a2.close());
    const before = mesh.responses.length;
    mesh.set([...upstream('a', a2.port), ...backendResources([b]), ...twoRoutes]);
    await mesh.converged();
    await eventually(async () => (await get(port, '/')).backend === 'a2', 15_000, 'traffic to reach the new endpoint');
    const churn = mesh.responses.slice(before);
    t.true(churn.length >= 1);
    t.deepEqual([...new Set(churn.map((r) => r.typeUrl))], [TypeUrl.ClusterLoadAssignment], 'endpoint-only change sends EDS only');

    const health = await mesh.healthy();
    t.deepEqual(health.nacks, []);
    t.deepEqual(health.warming, []);
  });
}
