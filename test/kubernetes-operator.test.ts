// `weft operator` against the real API server: statuses of Gateway API objects are written through the status
// subresource with the right observedGeneration, only when they change, without touching other controllers'
// entries; one replica writes at a time (Lease); translation problems become the spec's conditions.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import { createLogger, silentLogger } from '../src/log/logger.js';
import { Operator } from '../src/kubernetes/operator.js';
import { devClusterUnavailable, startTestCluster, type TestCluster } from './helpers/devcluster.js';
import { eventually } from './helpers/net.js';

const unavailable = devClusterUnavailable();
if (unavailable) console.log(`operator tests skipped: ${unavailable}`);
const clusterTest = unavailable ? test.skip : test.serial;

let cluster: TestCluster | undefined;
const operators: Operator[] = [];
const NS = 'op-test';
const createdVersions = new Map<string, string | undefined>();

type Obj = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
interface Cond { type: string; status: string; reason: string; observedGeneration: number; lastTransitionTime: string }
interface Parent { parentRef: { name: string }; controllerName: string; conditions: Cond[] }

let objects: k8s.KubernetesObjectApi;
let custom: k8s.CustomObjectsApi;

async function read(kind: string, name: string, namespace: string | undefined = NS): Promise<Obj> {
  const apiVersion = kind === 'Service' ? 'v1' : 'gateway.networking.k8s.io/v1';
  return objects.read<Obj>({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });
}

/** Read-modify-write with the object's resourceVersion, retried on conflict, as any controller must. */
async function update(kind: string, name: string, change: (o: Obj) => void, namespace: string | undefined = NS, status = false): Promise<Obj> {
  for (let attempt = 0; ; attempt++) {
    const o = await read(kind, name, namespace);
    change(o);
    try {
      if (!status) return await objects.replace<Obj>(o);
      return (await custom.replaceNamespacedCustomObjectStatus({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: namespace, plural: 'httproutes', name, body: o })) as Obj;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt > 10) throw err;
    }
  }
}

/** The cluster's management /24 without its last octet. */
function poolPrefix(): string {
  return cluster!.opts.subnet.split('.').slice(0, 3).join('.');
}

function cond(conditions: Cond[] | undefined, type: string): Cond | undefined {
  return conditions?.find((c) => c.type === type);
}

function ourParent(route: Obj): Parent | undefined {
  return ((route.status?.parents ?? []) as Parent[]).find((p) => p.controllerName === CONTROLLER_NAME);
}

function startOperator(identity: string): Operator {
  // A stopping leader releases the lease (the other takes over at once): the lease's duration only has to outlast
  // renewals delayed on a loaded machine, where 3 s could let the second replica take over a live leader.
  const op = new Operator({ kubeConfig: cluster!.kc, logger: process.env.WEFT_TEST_LOG ? createLogger(identity) : silentLogger, identity, leaseMs: 15_000, renewMs: 500,
    gatewayAddressPool: `${poolPrefix()}.200-${poolPrefix()}.201` });
  operators.push(op);
  op.start();
  return op;
}

test.before(async () => {
  if (unavailable) return;
  cluster = await startTestCluster();
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  custom = cluster.kc.makeApiClient(k8s.CustomObjectsApi);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const manifests: Obj[] = [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: CONTROLLER_NAME } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'other' }, spec: { controllerName: 'example.com/other' } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
      spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'foreign', namespace: NS },
      spec: { gatewayClassName: 'other', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: NS }, spec: { ports: [{ name: 'http', port: 80, targetPort: 3000 }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'echo-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'echo' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 3000 }], endpoints: [{ addresses: ['10.244.1.5'] }] } as Obj,
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: NS },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'echo', port: 80 }] }] } },
  ];
  for (const m of manifests) {
    const created = await objects.create(m);
    createdVersions.set(`${m.kind}/${m.metadata!.name}`, created.metadata?.resourceVersion);
  }
});

test.after.always(async () => {
  for (const op of operators) await op.stop().catch(() => undefined);
  await cluster?.down();
});

clusterTest('statuses become Accepted and Programmed with the generation they describe, only on Weft\'s objects', async (t) => {
  const op = startOperator('replica-a');
  await eventually(() => op.isLeader, 15_000, 'leadership');
  const gc = await eventually(async () => {
    const o = await read('GatewayClass', 'weft', undefined);
    return cond(o.status?.conditions as Cond[], 'Accepted')?.status === 'True' ? o : undefined;
  }, 20_000, 'GatewayClass Accepted');
  t.is(cond(gc.status?.conditions as Cond[], 'Accepted')?.observedGeneration, 1);
  t.true(Array.isArray(gc.status?.supportedFeatures) && (gc.status.supportedFeatures as unknown[]).length > 0);

  const gw = await eventually(async () => {
    const o = await read('Gateway', 'gw');
    return cond(o.status?.conditions as Cond[], 'Programmed')?.status === 'True' ? o : undefined;
  }, 20_000, 'Gateway Programmed');
  t.is(cond(gw.status?.conditions as Cond[], 'Accepted')?.status, 'True');
  const listener = (gw.status?.listeners as Array<{ name: string; attachedRoutes: number; conditions: Cond[] }>)[0];
  t.is(listener.name, 'http');
  t.is(listener.attachedRoutes, 1);
  t.deepEqual(gw.status?.addresses, [{ type: 'IPAddress', value: `${poolPrefix()}.200` }]);

  const route = await eventually(async () => {
    const o = await read('HTTPRoute', 'web');
    return ourParent(o) ? o : undefined;
  }, 20_000, 'HTTPRoute status');
  const parent = ourParent(route)!;
  t.is(cond(parent.conditions, 'Accepted')?.status, 'True');
  t.is(cond(parent.conditions, 'ResolvedRefs')?.status, 'True');
  t.is(cond(parent.conditions, 'Accepted')?.observedGeneration, 1);
  for (const c of parent.conditions) t.regex(c.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // Another controller's class and Gateway are none of Weft's business.
  t.is((await read('GatewayClass', 'other', undefined)).metadata?.resourceVersion, createdVersions.get('GatewayClass/other'));
  t.is((await read('Gateway', 'foreign')).metadata?.resourceVersion, createdVersions.get('Gateway/foreign'));
});

clusterTest('a spec change is reflected with the new observedGeneration; a missing backend gives ResolvedRefs BackendNotFound', async (t) => {
  const updated = await update('HTTPRoute', 'web', (o) => {
    o.spec!.rules = [{ backendRefs: [{ name: 'missing', port: 80 }] }];
  });
  t.is(updated.metadata?.generation, 2);
  const parent = await eventually(async () => {
    const p = ourParent(await read('HTTPRoute', 'web'));
    return cond(p?.conditions, 'ResolvedRefs')?.observedGeneration === 2 ? p : undefined;
  }, 20_000, 'observedGeneration 2');
  t.is(cond(parent.conditions, 'ResolvedRefs')?.status, 'False');
  t.is(cond(parent.conditions, 'ResolvedRefs')?.reason, 'BackendNotFound');
  t.is(cond(parent.conditions, 'Accepted')?.status, 'True');
});

clusterTest('another controller\'s parent entry survives Weft\'s writes, and Weft\'s entry goes when the route leaves Weft\'s Gateway', async (t) => {
  const foreignEntry = {
    parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'foreign' }, controllerName: 'example.com/other',
    conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:00:00Z' }],
  };
  await update('HTTPRoute', 'web', (o) => {
    o.status = { parents: [...((o.status?.parents ?? []) as unknown[]), foreignEntry] };
  }, NS, true);

  // Weft rewrites its own entry after the next change, keeping the foreign one as it was.
  await update('HTTPRoute', 'web', (o) => {
    o.spec!.parentRefs = [{ name: 'gw' }, { name: 'foreign' }];
    o.spec!.rules = [{ backendRefs: [{ name: 'echo', port: 80 }] }];
  });
  const both = await eventually(async () => {
    const o = await read('HTTPRoute', 'web');
    return cond(ourParent(o)?.conditions, 'ResolvedRefs')?.observedGeneration === 3 ? o : undefined;
  }, 20_000, 'Weft entry at generation 3');
  const theirs = ((both.status?.parents ?? []) as Parent[]).filter((p) => p.controllerName === 'example.com/other');
  t.deepEqual(theirs, [foreignEntry]);

  // The route now only names the other controller's Gateway: Weft removes its own entry, not theirs.
  await update('HTTPRoute', 'web', (o) => {
    o.spec!.parentRefs = [{ name: 'foreign' }];
  });
  const after = await eventually(async () => {
    const o = await read('HTTPRoute', 'web');
    return ourParent(o) ? undefined : o;
  }, 20_000, 'Weft entry removed');
  t.deepEqual(after.status?.parents, [foreignEntry]);
});

clusterTest('unchanged statuses are not rewritten', async (t) => {
  const op = operators[0];
  const before = (await read('Gateway', 'gw')).metadata?.resourceVersion;
  // A change that re-translates everything without changing the Gateway's status: a label on the Service.
  const written = new Promise<number>((resolve) => op.once('statusesWritten', (r) => resolve(r.unchanged)));
  await update('Service', 'echo', (o) => {
    o.metadata!.labels = { touched: 'yes' };
  });
  t.true((await written) > 0);
  t.is((await read('Gateway', 'gw')).metadata?.resourceVersion, before);
});

clusterTest('a status changed by someone else is answered by a write pass, without a translation', async (t) => {
  const op = operators[0];
  let translations = 0;
  const count = () => void translations++;
  op.on('translated', count);
  const pass = new Promise<void>((resolve) => op.once('statusesWritten', () => resolve()));
  // Someone rewrites the Gateway's status with a bogus condition: only the status changes.
  for (let attempt = 0; ; attempt++) {
    const gw = await read('Gateway', 'gw');
    const conditions = (gw.status?.conditions ?? []) as Cond[];
    gw.status = { ...gw.status, conditions: conditions.map((c) => (c.type === 'Accepted' ? { ...c, reason: 'Tampered' } : c)) };
    try {
      await custom.replaceNamespacedCustomObjectStatus({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: NS, plural: 'gateways', name: 'gw', body: gw });
      break;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt > 10) throw err;
    }
  }
  await pass;
  const restored = await eventually(async () => {
    const gw = await read('Gateway', 'gw');
    return cond(gw.status?.conditions as Cond[] | undefined, 'Accepted')?.reason === 'Accepted' ? gw : undefined;
  }, 10_000, 'Weft\'s Accepted condition back');
  op.off('translated', count);
  t.truthy(restored);
  t.is(translations, 0, 'nothing the pipeline reads changed: no translation');
});

clusterTest('a write pass after one route changes compares and writes only that route', async (t) => {
  const op = operators[0];
  const attached = async () => ((await read('Gateway', 'gw')).status?.listeners as Array<{ attachedRoutes: number }> | undefined)?.[0]?.attachedRoutes ?? 0;
  const attachedBefore = await attached();
  await objects.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'solo', namespace: NS },
    spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'echo', port: 80 }] }] } });
  await eventually(async () => ourParent(await read('HTTPRoute', 'solo')), 20_000, 'HTTPRoute solo status');
  // The Gateway's attachedRoutes also changes with the new route: let that write settle before counting passes.
  await eventually(async () => (await attached()) === attachedBefore + 1 || undefined, 20_000, 'the Gateway counts solo');
  // The pass that wrote them may not have ended yet (the API shows a write before the writer has its reply): its
  // result must not be counted as the next change's.
  await op.writesSettled();
  const passes: Array<{ written: number; compared: number; unchanged: number }> = [];
  const record = (r: { written: number; compared: number; unchanged: number }) => void passes.push(r);
  op.on('statusesWritten', record);
  // A spec change of one route: only its status (observedGeneration) changes, every other object's stays.
  await update('HTTPRoute', 'solo', (o) => {
    o.spec!.rules = [{ matches: [{ path: { type: 'PathPrefix', value: '/solo' } }], backendRefs: [{ name: 'echo', port: 80 }] }];
  });
  await eventually(() => passes.some((p) => p.written > 0), 20_000, 'a pass writing the changed route');
  await eventually(async () => cond(ourParent(await read('HTTPRoute', 'solo'))?.conditions, 'Accepted')?.observedGeneration === 2, 20_000, 'observedGeneration 2');
  op.off('statusesWritten', record);
  const writing = passes.find((p) => p.written > 0)!;
  t.is(writing.written, 1);
  t.is(writing.compared, 1, 'the other objects were skipped, not compared again');
  t.true(writing.unchanged > 0, 'the other objects are counted as unchanged');
  t.is(passes.reduce((n, p) => n + p.compared, 0), 1, 'no pass compared anything else (our own write landing included)');
  await objects.delete({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'solo', namespace: NS } });
});

clusterTest('one replica writes at a time; when the leader stops, the other takes over', async (t) => {
  const first = operators[0];
  const second = startOperator('replica-b');
  await new Promise((r) => setTimeout(r, 1500));
  t.true(first.isLeader);
  t.false(second.isLeader);
  await first.stop();
  await eventually(() => second.isLeader, 15_000, 'second replica leading');
  // The new leader keeps statuses current.
  await update('Gateway', 'gw', (o) => {
    o.spec!.listeners = [{ name: 'http', protocol: 'HTTP', port: 8080 }, { name: 'admin', protocol: 'HTTP', port: 8081 }];
  });
  const updated = await eventually(async () => {
    const o = await read('Gateway', 'gw');
    return (o.status?.listeners as unknown[] | undefined)?.length === 2 ? o : undefined;
  }, 20_000, 'two listeners in status');
  t.is(cond(updated.status?.conditions as Cond[], 'Programmed')?.observedGeneration, 2);
});

clusterTest('Gateway addresses come from the pool, oldest Gateway first; an exhausted pool gives Programmed False AddressNotAssigned', async (t) => {
  const gateway = (name: string): Obj => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: NS },
    spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } });
  const address = async (name: string) => ((await read('Gateway', name)).status?.addresses as Array<{ value: string }> | undefined)?.[0]?.value;
  await objects.create(gateway('second'));
  t.is(await eventually(() => address('second'), 20_000, 'second address'), `${poolPrefix()}.201`);
  // Creation timestamps have one-second resolution: make the third Gateway unambiguously the newest.
  await new Promise((r) => setTimeout(r, 1100));
  await objects.create(gateway('third'));
  const programmed = await eventually(async () => cond((await read('Gateway', 'third')).status?.conditions as Cond[], 'Programmed'), 20_000, 'third status');
  t.is(programmed.status, 'False');
  t.is(programmed.reason, 'AddressNotAssigned');
  t.is(await address('gw'), `${poolPrefix()}.200`, 'the first Gateway keeps its address');

  await objects.delete(gateway('second'));
  t.is(await eventually(() => address('third'), 20_000, 'third address after second is deleted'), `${poolPrefix()}.201`);
  t.is(await address('gw'), `${poolPrefix()}.200`);
});

clusterTest('per-Gateway infrastructure: a headless Service and EndpointSlice owned by the Gateway carry spec.infrastructure labels and annotations, follow changes, and go with the Gateway', async (t) => {
  if (!operators.some((o) => o.isLeader)) startOperator('replica-infra');
  const readOrUndefined = (apiVersion: string, kind: string, name: string): Promise<Obj | undefined> =>
    objects.read<Obj>({ apiVersion, kind, metadata: { name, namespace: NS } }).catch((err: { code?: number }) => {
      if (err.code === 404) return undefined;
      throw err;
    });
  const service = (name: string) => readOrUndefined('v1', 'Service', name);
  const slice = (name: string) => readOrUndefined('discovery.k8s.io/v1', 'EndpointSlice', name) as Promise<(Obj & { endpoints?: Array<{ addresses: string[] }>; ports?: Array<{ port: number }> }) | undefined>;
  const gw = await read('Gateway', 'gw');

  const svc = await eventually(() => service('weft-gateway-gw'), 20_000, 'the Service of Gateway gw');
  t.like(svc.metadata?.labels, { 'gateway.networking.k8s.io/gateway-name': 'gw', 'app.kubernetes.io/managed-by': 'weft-operator' });
  t.like(svc.metadata?.ownerReferences?.[0], { kind: 'Gateway', name: 'gw', uid: gw.metadata?.uid, controller: true });
  t.is(svc.spec?.clusterIP, 'None', 'headless: a DNS name, no virtual address for the datapath');
  const listenerPorts = [...new Set((gw.spec?.listeners as Array<{ port: number }>).map((l) => l.port))].sort((a, b) => a - b);
  t.deepEqual((svc.spec?.ports as Array<{ port: number }>).map((p) => p.port), listenerPorts, 'one port per listener port');
  const ipv4 = await eventually(() => slice('weft-gateway-gw-ipv4'), 20_000, 'the EndpointSlice of Gateway gw');
  t.deepEqual(ipv4.endpoints?.map((e) => e.addresses), [[`${poolPrefix()}.200`]], 'the Gateway\'s address');
  t.is(ipv4.metadata?.labels?.['kubernetes.io/service-name'], 'weft-gateway-gw');
  t.is(await service('weft-gateway-foreign'), undefined, 'another controller\'s Gateway gets nothing');

  // As the conformance test GatewayInfrastructure sets them.
  await update('Gateway', 'gw', (o) => {
    o.spec!.infrastructure = { labels: { key2: 'value2' }, annotations: { key1: 'value1' } };
  });
  const labelled = await eventually(async () => {
    const s = await service('weft-gateway-gw');
    return s?.metadata?.labels?.key2 === 'value2' && s.metadata.annotations?.key1 === 'value1' ? s : undefined;
  }, 20_000, 'infrastructure labels and annotations on the Service');
  t.is(labelled.metadata?.labels?.['gateway.networking.k8s.io/gateway-name'], 'gw');
  await eventually(async () => (await slice('weft-gateway-gw-ipv4'))?.metadata?.labels?.key2 === 'value2', 20_000, 'infrastructure labels on the EndpointSlice');

  await update('Gateway', 'gw', (o) => {
    o.spec!.infrastructure = { annotations: { key1: 'changed' } };
  });
  const relabelled = await eventually(async () => {
    const s = await service('weft-gateway-gw');
    return s?.metadata?.annotations?.key1 === 'changed' ? s : undefined;
  }, 20_000, 'the changed annotation');
  t.is(relabelled.metadata?.labels?.key2, undefined, 'a label removed from spec.infrastructure is removed');

  // A Service deleted by someone else comes back; a Gateway's objects go with it.
  await objects.delete({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'weft-gateway-gw', namespace: NS } });
  await eventually(() => service('weft-gateway-gw'), 20_000, 'the Service recreated');
  const doomed: Obj = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'doomed', namespace: NS },
    spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', protocol: 'HTTP', port: 9090 }] } };
  await objects.create(doomed);
  await eventually(() => service('weft-gateway-doomed'), 20_000, 'the Service of Gateway doomed');
  await objects.delete(doomed);
  await eventually(async () => !(await service('weft-gateway-doomed')), 20_000, 'the deleted Gateway\'s Service to go');
  t.truthy(await service('weft-gateway-gw'), 'the other Gateway keeps its Service');
});
