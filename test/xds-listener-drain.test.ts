// A listener change drains the connections of the filter chains it replaced: for Envoy's drain time they are
// still served, by the old chain's connection manager and the old route configuration, so the clusters those
// reach must outlive the listener change by that drain time (the mesh's inbound listener switching a port's
// route configuration to the L7 policy's, Kubernetes mode, showed it as a single 503). The probe is one request
// on a keep-alive connection opened before the change, sent the moment Envoy ACKs the old cluster's removal.
import test from 'ava';
import http from 'node:http';
import { httpListener } from '../src/xds/builders.js';
import { listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { AckEvent } from '../src/xds/ads-stream.js';
import type { Resource } from '../src/xds/resource.js';
import { TypeUrl } from '../src/xds/type-urls.js';
import { meshFixture, type Protocol } from './helpers/mesh.js';
import { eventually, withDeadline } from './helpers/net.js';
import { httpRoutes, routeTable, upstream } from './helpers/resources.js';
import { get, Load } from './helpers/traffic.js';

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: a listener switching its route configuration to a new cluster, the old cluster removed: a connection of the old filter chain gets no 503`, async (t) => {
    const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol }, ['a', 'b']);
    // Listener `http` names route configuration `http-routes`; the change names `routes-b` instead (a filter chain change).
    const before = [...upstream('a', a.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }])];
    await mesh.start(before);
    await mesh.converged();
    await eventually(async () => (await get(port, '/')).backend === 'a', 15_000, 'Envoy to serve');

    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => probeAgent.destroy());
    t.is((await get(port, '/', probeAgent)).backend, 'a', 'the probe connection opened on the old filter chain');
    const load = new Load({ port, concurrency: 2, pauseMs: 1, path: () => '/' });
    t.teardown(() => load.stop());
    await load.atLeast(20);

    // The moment Envoy ACKs clusters without `a`, a request on the old connection.
    const probe = new Promise<{ status: number; backend: string } | { error: string }>((resolve) => {
      const onAck = (e: AckEvent): void => {
        if (e.typeUrl !== TypeUrl.Cluster || e.versions.has('a')) return;
        mesh.server.off('ack', onAck);
        get(port, '/', probeAgent).then(resolve, (err: Error) => resolve({ error: err.message }));
      };
      mesh.server.on('ack', onAck);
    });
    const after = [...upstream('b', b.port), ...listenerNaming(port, 'routes-b', 'b')];
    mesh.set(after);
    const reply = await withDeadline(probe, 15_000, () => `Envoy to ACK clusters without a (${mesh.server.describeStreams(mesh.nodeId).join('; ')}; ${mesh.divergence() ?? 'converged'})`);
    await mesh.converged();
    await load.atLeast(20);
    await load.stop();

    t.like(reply, { status: 200 }, 'the request on the old connection, right after the old cluster left Envoy');
    // Requests in flight on the old chain's connections when the drain time ends are cut (Envoy closes them without
    // a GOAWAY or `Connection: close` first): transport errors the control plane cannot order away, only avoid by
    // not changing listeners for route changes (as the mesh's inbound listener does). No reply may be an error status.
    const transport = load.failures.filter((f) => f.status === undefined);
    if (transport.length > 0) t.log(`${transport.length} requests cut when the replaced chain's drain time ended: ${transport.map((f) => f.error).join(', ')}`);
    t.deepEqual(load.failures.filter((f) => f.status !== undefined), [], 'no request of the load got an error status');
    t.is((await get(port, '/')).backend, 'b');
    t.true(((await mesh.envoy.stat('listener_manager.listener_in_place_updated')) ?? 0) >= 1, 'the listener change was a filter chain update');
    t.deepEqual(await mesh.healthy(), { nacks: [], warming: [] });
  });
}

/** Listener `http` naming route configuration `routeName`, whose one route goes to `cluster`. */
function listenerNaming(port: number, routeName: string, cluster: string): Resource[] {
  return [
    listenerResource(httpListener({ name: 'http', address: '127.0.0.1', port, routeConfigName: routeName })),
    routeConfigurationResource({ name: routeName, virtual_hosts: [{ name: 'all', domains: ['*'], routes: routeTable([{ prefix: '/', cluster }]) }] }),
  ];
}
