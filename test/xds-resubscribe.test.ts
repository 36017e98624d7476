// Subscriptions Envoy opens again for a resource it already holds: a cluster updated in place (a new
// EDS subscription for the same ClusterLoadAssignment, which Envoy's ADS mux does not announce on the
// wire), a cluster removed and added back. Envoy finishes warming such a cluster only when the control
// plane sends the ClusterLoadAssignment again; if it does not, Envoy waits out initial_fetch_timeout
// (15 s) and counts cluster.<name>.init_fetch_timeout. The tests assert on that counter, not on time.
import test from 'ava';
import { edsCluster } from '../src/xds/builders.js';
import { clusterResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { meshFixture, type Mesh, type Protocol } from './helpers/mesh.js';
import { eventually } from './helpers/net.js';
import { httpRoutes, upstream } from './helpers/resources.js';
import { get } from './helpers/traffic.js';

/** Waits until Envoy has no cluster warming (by the new CLA, or by the timeout), then reads the counter. */
async function initFetchTimeouts(mesh: Mesh, cluster: string): Promise<number> {
  await mesh.converged();
  await eventually(async () => (await mesh.envoy.stat('cluster_manager.warming_clusters')) === 0, 30_000, 'no cluster warming');
  return (await mesh.envoy.stat(`cluster.${cluster}.init_fetch_timeout`)) ?? 0;
}

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: a cluster updated in place with unchanged endpoints warms without an EDS initial-fetch timeout`, async (t) => {
    const { mesh, backends: [a], port } = await meshFixture(t, { protocol }, ['a']);
    const routes = httpRoutes(port, [{ prefix: '/', cluster: 'a' }]);
    const [, endpoints] = upstream('a', a.port);
    await mesh.start([...upstream('a', a.port), ...routes]);
    t.is(await initFetchTimeouts(mesh, 'a'), 0);
    t.is((await get(port, '/')).backend, 'a');

    // The same cluster with another setting (as a BackendTLSPolicy changing its transport socket does),
    // and the same endpoints: Envoy builds a new cluster that waits for the CLA again.
    const updated: Resource = clusterResource({ ...edsCluster('a'), connect_timeout: { seconds: '3' } });
    mesh.set([updated, endpoints, ...routes]);
    t.is(await initFetchTimeouts(mesh, 'a'), 0, 'the updated cluster got its ClusterLoadAssignment');
    t.deepEqual(await mesh.healthy(), { nacks: [], warming: [] });
    t.is((await get(port, '/')).backend, 'a');
  });

  test.serial(`${protocol}: a cluster removed and added back warms without an EDS initial-fetch timeout`, async (t) => {
    const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol }, ['a', 'b']);
    await mesh.start([...upstream('a', a.port), ...upstream('b', b.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }])]);
    t.is(await initFetchTimeouts(mesh, 'b'), 0);
    mesh.set([...upstream('a', a.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    mesh.set([...upstream('a', a.port), ...upstream('b', b.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'b' }])]);
    t.is(await initFetchTimeouts(mesh, 'b'), 0, 'the re-added cluster got its ClusterLoadAssignment');
    t.deepEqual(await mesh.healthy(), { nacks: [], warming: [] });
    t.is((await get(port, '/')).backend, 'b');
  });
}
