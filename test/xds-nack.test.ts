// A configuration Envoy rejects: Envoy keeps serving the previous one, the NACK is visible (node status,
// 'nack' event, metric), the rejected state is sent exactly once, and fixing the desired state heals it.
import test, { type ExecutionContext } from 'ava';
import type { Listener } from '../src/generated/envoy/config/listener/v3/Listener.js';
import { httpListener } from '../src/xds/builders.js';
import { listenerResource, routeConfigurationResource } from '../src/xds/envoy-resources.js';
import type { Resource } from '../src/xds/resource.js';
import { TypeUrl, shortTypeName, type TypeUrl as TypeUrlT } from '../src/xds/type-urls.js';
import { meshFixture, type Mesh, type Protocol } from './helpers/mesh.js';
import { eventually } from './helpers/net.js';
import { httpRoutes, upstream } from './helpers/resources.js';
import { get, sleep } from './helpers/traffic.js';

/** How long to watch for a resend of a rejected state. Not a pass/fail threshold: nothing may come at all. */
const RESEND_WATCH_MS = 2000;

async function nackMetric(mesh: Mesh, typeUrl: TypeUrlT, protocol: Protocol): Promise<number> {
  const metric = mesh.server.metrics.registry.getSingleMetric('weft_xds_nacks_total');
  if (!metric) throw new Error('weft_xds_nacks_total is not registered');
  const { values } = await metric.get();
  return values.find((v) => v.labels.type === shortTypeName(typeUrl) && v.labels.protocol === protocol)?.value ?? 0;
}

/** Steady 200s from `backend` on `path`, several times over. */
async function servedBy(t: ExecutionContext, port: number, path: string, backend: string, times = 5): Promise<void> {
  for (let i = 0; i < times; i++) {
    const r = await get(port, path);
    t.is(r.status, 200, `GET ${path}: ${r.body}`);
    t.is(r.backend, backend, `GET ${path}`);
  }
}

/**
 * Pushes `bad`, waits for its NACK on `typeUrl`, and checks everything a NACK must leave behind; returns
 * the NACK's error message.
 */
async function pushRejected(t: ExecutionContext, mesh: Mesh, protocol: Protocol, typeUrl: TypeUrlT, bad: Resource[]): Promise<string> {
  const nacksBefore = mesh.nacks.length;
  const statusBefore = mesh.server.nodeStatus(mesh.nodeId)!.types.get(typeUrl);
  const nackCountBefore = statusBefore?.nacks ?? 0;
  const metricBefore = await nackMetric(mesh, typeUrl, protocol);
  const responsesBefore = mesh.responses.length;

  mesh.set(bad);
  const nack = await eventually(() => mesh.nacks.slice(nacksBefore).find((n) => n.typeUrl === typeUrl), 15_000, `a NACK of ${shortTypeName(typeUrl)}`);
  t.is(nack.nodeId, mesh.nodeId);
  t.is(nack.protocol, protocol);
  t.true(nack.errorMessage.length > 0, 'the NACK carries Envoy\'s error detail');

  // Node status exposes it.
  const status = mesh.server.nodeStatus(mesh.nodeId)!.types.get(typeUrl)!;
  t.is(status.nacks, nackCountBefore + 1);
  t.truthy(status.lastNack);
  t.is(status.lastNack!.errorMessage, nack.errorMessage);
  t.is(status.lastNack!.nonce, nack.nonce);
  t.is(status.lastNack!.versionInfo, nack.versionInfo);

  // The metric counts it.
  t.is(await nackMetric(mesh, typeUrl, protocol), metricBefore + 1);

  // The rejected state went out exactly once, and is not resent while the desired state stays the same.
  const sentOfType = (): number => mesh.responses.slice(responsesBefore).filter((r) => r.typeUrl === typeUrl).length;
  const rejectedSends = (): number => mesh.responses.slice(responsesBefore).filter((r) => r.typeUrl === typeUrl && r.versionInfo === nack.versionInfo).length;
  t.is(rejectedSends(), 1);
  await sleep(RESEND_WATCH_MS);
  t.is(rejectedSends(), 1, 'the rejected version was sent again');
  t.is(sentOfType(), 1, `${shortTypeName(typeUrl)} responses after the bad push`);
  t.is(mesh.nacks.length, nacksBefore + 1, 'exactly one NACK');
  t.log(`${shortTypeName(typeUrl)} NACK: ${nack.errorMessage}`);
  return nack.errorMessage;
}

for (const protocol of ['delta', 'sotw'] as Protocol[]) {
  test.serial(`${protocol}: a rejected configuration is reported, held back, and healed by fixing the desired state`, async (t) => {
    const { mesh, backends: [a, b], port } = await meshFixture(t, { protocol }, ['a', 'b']);
    const clusters = [...upstream('a', a.port), ...upstream('b', b.port)];
    await mesh.start([...clusters, ...httpRoutes(port, [{ prefix: '/', cluster: 'a' }])]);
    await mesh.converged();
    await eventually(async () => (await get(port, '/')).backend === 'a', 15_000, 'Envoy to serve the first route');
    await servedBy(t, port, '/x', 'a');

    // 1. RDS: moves / to b, but with an invalid regex on another route. Encodes fine; Envoy rejects it.
    const badRoutes = httpRoutes(port, [
      { match: { safe_regex: { regex: '/broken(' } }, route: { cluster: 'b' } },
      { match: { prefix: '/' }, route: { cluster: 'b' } },
    ]);
    const rdsError = await pushRejected(t, mesh, protocol, TypeUrl.RouteConfiguration, [...clusters, ...badRoutes]);
    t.regex(rdsError, /regex|broken|missing \)/i, 'the NACK names the problem');
    // Envoy keeps the previous routes: still a, not b.
    await servedBy(t, port, '/x', 'a');

    // Fixing the desired state: the fix is sent and ACKed, and served.
    mesh.set([...clusters, ...httpRoutes(port, [{ match: { safe_regex: { regex: '/fixed(/.*)?' } }, route: { cluster: 'a' } }, { match: { prefix: '/' }, route: { cluster: 'b' } }])]);
    await mesh.converged();
    await eventually(async () => (await get(port, '/x')).backend === 'b', 15_000, 'the fixed routes to be served');
    await servedBy(t, port, '/x', 'b');
    await servedBy(t, port, '/fixed/1', 'a');
    const rdsStatus = mesh.server.nodeStatus(mesh.nodeId)!.types.get(TypeUrl.RouteConfiguration)!;
    t.is(rdsStatus.ackedVersion, mesh.responses.filter((r) => r.typeUrl === TypeUrl.RouteConfiguration).at(-1)!.versionInfo);

    // 2. LDS: two filter chains with the same (empty) match. Envoy rejects the listener and keeps the old one.
    const good = httpRoutes(port, [{ prefix: '/', cluster: 'b' }]);
    mesh.set([...clusters, ...good]);
    await mesh.converged();
    const listener: Listener & { name: string } = httpListener({ name: 'http', address: '127.0.0.1', port, routeConfigName: 'http-routes' });
    const dupChains = { ...listener, filter_chains: [listener.filter_chains![0], listener.filter_chains![0]] };
    const badListener = [listenerResource(dupChains), good[1]];
    const ldsError = await pushRejected(t, mesh, protocol, TypeUrl.Listener, [...clusters, ...badListener]);
    t.regex(ldsError, /filter chain|same match/i, 'the NACK names the problem');
    await servedBy(t, port, '/x', 'b');

    // Back to a valid listener (one with a new stat prefix, so that it differs from the last ACKed one).
    const fixed = listenerResource({ ...listener, stat_prefix: 'http-fixed' });
    mesh.set([...clusters, fixed, routeConfigurationResource({ name: 'http-routes', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] }] })]);
    await mesh.converged();
    await eventually(async () => (await get(port, '/x')).backend === 'a', 15_000, 'the fixed listener and routes to be served');
    await servedBy(t, port, '/x', 'a');

    const health = await mesh.healthy();
    t.deepEqual(health.nacks.map((n) => shortTypeName(n.typeUrl)), ['RouteConfiguration', 'Listener'], 'only the two intended NACKs');
    t.deepEqual(health.warming, []);
  });
}
