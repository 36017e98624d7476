// Restarts under traffic. Control plane: Envoy keeps serving while it is gone, reconnects to the new one,
// resyncs without anything flapping. Envoy: a new Envoy against the same server gets everything.
import test from 'ava';
import { TypeUrl, shortTypeName } from '../src/xds/type-urls.js';
import { meshFixture, type Mesh, type Protocol } from './helpers/mesh.js';
import { eventually } from './helpers/net.js';
import { httpRoutes, upstream } from './helpers/resources.js';
import { get, Load, sleep } from './helpers/traffic.js';

/** How long the control plane stays down while traffic flows. */
const OUTAGE_MS = 2000;

const STABLE_STATS = [
  'listener_manager.listener_added',
  'listener_manager.listener_modified',
  'listener_manager.listener_removed',
  'listener_manager.listener_create_failure',
  'cluster_manager.cluster_added',
  'cluster_manager.cluster_modified',
  'cluster_manager.cluster_removed',
];

async function stats(mesh: Mesh, names: string[]): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const name of names) out[name] = await mesh.envoy.stat(name);
  return out;
}

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  for (const transport of ['tcp', 'unix'] as const) {
    test.serial(`${protocol}/${transport}: control plane restart under traffic: no failed request, no flap, resync`, async (t) => {
      const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol, transport }, ['a', 'b']);
      const resources = [...upstream('a', a.port), ...upstream('b', b.port), ...httpRoutes(port, [{ prefix: '/b', cluster: 'b' }, { prefix: '/', cluster: 'a' }])];
      await mesh.start(resources);
      await mesh.converged();
      await eventually(async () => (await get(port, '/')).status === 200, 15_000, 'Envoy to serve');
      const firstXdsPort = mesh.xdsPort;
      const before = await stats(mesh, STABLE_STATS);
      t.is(before['listener_manager.listener_added'], 1);
      t.is(await mesh.envoy.stat('control_plane.connected_state'), 1);

      const load = new Load({ port, concurrency: 2, pauseMs: 1, path: (loop) => (loop === 0 ? '/' : '/b/x') });
      t.teardown(() => load.stop());
      await load.atLeast(50);

      // The control plane goes away. Envoy notices, and keeps serving what it has.
      const oldServer = mesh.server;
      await oldServer.shutdown(500);
      t.is(oldServer.connectedStreams(), 0);
      await eventually(async () => (await mesh.envoy.stat('control_plane.connected_state')) === 0, 15_000, 'Envoy to notice the control plane is gone');
      const duringOutage = load.completed;
      await sleep(OUTAGE_MS);
      t.true(load.completed - duringOutage > 0, 'requests were served while the control plane was down');
      t.deepEqual(load.failures, [], 'no request failed while the control plane was down');

      // A new control plane with the same desired state; Envoy reconnects (same port for TCP, same path for UNIX).
      const responsesBefore = mesh.responses.length;
      await mesh.startControlPlane();
      t.not(mesh.server, oldServer);
      if (transport === 'tcp') t.is(mesh.xdsPort, firstXdsPort);
      await eventually(() => (mesh.server.nodeStatus(mesh.nodeId)?.connectedStreams ?? 0) > 0, 60_000, 'Envoy to reconnect');
      await eventually(async () => (await mesh.envoy.stat('control_plane.connected_state')) === 1, 15_000, 'Envoy to report the control plane connected');
      await mesh.converged(30_000);
      await load.atLeast(50);
      await load.stop();

      t.deepEqual(load.failures, [], 'no request failed across the restart');
      t.true(load.count('/', 'a') > 0 && load.count('/b/x', 'b') > 0, 'both routes were served');
      t.deepEqual(await stats(mesh, STABLE_STATS), before, 'listeners and clusters did not flap');
      // Envoy already held exactly the desired state: nothing needs to be sent again.
      const resent = mesh.responses.slice(responsesBefore).map((r) => shortTypeName(r.typeUrl));
      t.deepEqual(resent.filter((type) => type === shortTypeName(TypeUrl.Listener) || type === shortTypeName(TypeUrl.Cluster)), [], 'no LDS or CDS response after the restart');
      t.deepEqual(resent, [], 'no response at all was needed to resync');

      // The new control plane drives Envoy as before.
      mesh.set([...upstream('a', a.port), ...upstream('b', b.port), ...httpRoutes(port, [{ prefix: '/', cluster: 'b' }])]);
      await mesh.converged();
      await eventually(async () => (await get(port, '/')).backend === 'b', 15_000, 'a change through the new control plane');

      const health = await mesh.healthy();
      t.deepEqual(health.nacks, []);
      t.deepEqual(health.warming, []);
    });
  }

  test.serial(`${protocol}: Envoy restart against the same control plane: full resync, traffic works`, async (t) => {
    const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol }, ['a', 'b']);
    await mesh.start([...upstream('a', a.port), ...upstream('b', b.port), ...httpRoutes(port, [{ prefix: '/b', cluster: 'b' }, { prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    await eventually(async () => (await get(port, '/')).status === 200, 15_000, 'Envoy to serve');
    const server = mesh.server;
    const firstPid = mesh.envoy.pid;

    await mesh.envoy.stop();
    await eventually(() => server.nodeStatus(mesh.nodeId)?.connectedStreams === 0, 15_000, 'the stream of the stopped Envoy to close');
    t.is(server.connectedStreams(), 0);
    t.is(mesh.divergence(), 'not connected');
    const ackedBefore = new Map([...server.nodeStatus(mesh.nodeId)!.types].map(([type, s]) => [type, s.acks]));

    const responsesBefore = mesh.responses.length;
    await mesh.startEnvoy();
    t.not(mesh.envoy.pid, firstPid);
    t.is(mesh.server, server, 'same control plane');
    // Every type is sent again in full to the new Envoy and ACKed by it.
    for (const type of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
      await eventually(() => (server.nodeStatus(mesh.nodeId)!.types.get(type)!.acks > ackedBefore.get(type)!), 15_000, `the new Envoy to ACK ${shortTypeName(type)}`);
    }
    await mesh.converged();
    const resent = mesh.responses.slice(responsesBefore);
    const names = (type: string): string[] => [...new Set(resent.filter((r) => r.typeUrl === type).flatMap((r) => r.resourceNames))].sort();
    t.deepEqual(names(TypeUrl.Cluster), ['a', 'b']);
    t.deepEqual(names(TypeUrl.ClusterLoadAssignment), ['a', 'b']);
    t.deepEqual(names(TypeUrl.Listener), ['http']);
    t.deepEqual(names(TypeUrl.RouteConfiguration), ['http-routes']);
    await eventually(async () => (await get(port, '/')).backend === 'a', 15_000, 'the new Envoy to serve');
    t.is((await get(port, '/b/1')).backend, 'b');
    t.is(await mesh.envoy.stat('listener_manager.listener_added'), 1);

    const health = await mesh.healthy();
    t.deepEqual(health.nacks, []);
    t.deepEqual(health.warming, []);
  });
}
