// The per-Gateway objects the operator generates (src/kubernetes/gateway-infrastructure.ts), as pure functions:
// names valid for a Service whatever the Gateway's name, one EndpointSlice per address family, and the comparison
// with live objects that decides whether to apply. The operator's use of them runs against the real API server in
// test/kubernetes-operator.test.ts.
import * as k8s from '@kubernetes/client-node';
import test from 'ava';
import { GatewayInfrastructureWriter } from '../src/kubernetes/gateway-infrastructure-writer.js';
import { silentLogger } from '../src/log/logger.js';
import { desiredGatewayInfrastructure, gatewayServiceName, infrastructureUpToDate, staleInfrastructure } from '../src/kubernetes/gateway-infrastructure.js';
import type { KubeObject } from '../src/kubernetes/informers.js';

/** The fields of the generated objects these tests read. */
interface Generated {
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string>; ownerReferences: Array<Record<string, unknown>>; resourceVersion?: string };
  spec?: { clusterIP?: string; ports?: Array<Record<string, unknown>> } & Record<string, unknown>;
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }>;
}
const generated = (objects: KubeObject[]): Generated[] => objects as unknown as Generated[];
const asKube = (o: Generated | undefined): KubeObject | undefined => o as unknown as KubeObject | undefined;

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

test('Service names: weft-gateway-<name> when valid; dotted or long Gateway names get a hashed name, distinct and valid', (t) => {
  t.is(gatewayServiceName('gw'), 'weft-gateway-gw');
  const names = ['a.b', 'a-b', 'x'.repeat(100), `${'x'.repeat(99)}y`, 'end-'];
  const services = names.map(gatewayServiceName);
  for (const s of services) t.regex(s, DNS_1035_LABEL, s);
  t.is(new Set(services).size, names.length, 'no two Gateways share a Service');
  t.is(services[1], 'weft-gateway-a-b');
});

test('desired objects: a headless Service with a port per listener port, an EndpointSlice per address family, infrastructure metadata on all', (t) => {
  const gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name: 'gw', namespace: 'ns', uid: 'u-1' },
    spec: { infrastructure: { labels: { key2: 'value2' }, annotations: { key1: 'value1' } }, listeners: [{ port: 443 }, { port: 80 }, { port: 80 }] },
  } as KubeObject;
  const objects = generated(desiredGatewayInfrastructure([{ gateway, addresses: ['10.0.0.1', 'fd00::1', '10.0.0.2'] }]));
  t.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ['Service/weft-gateway-gw', 'EndpointSlice/weft-gateway-gw-ipv4', 'EndpointSlice/weft-gateway-gw-ipv6']);
  t.deepEqual(objects[0].spec, { clusterIP: 'None', ports: [{ name: 'port-80', port: 80, protocol: 'TCP' }, { name: 'port-443', port: 443, protocol: 'TCP' }] });
  t.deepEqual(objects[1].endpoints?.map((e) => e.addresses), [['10.0.0.1'], ['10.0.0.2']]);
  t.deepEqual(objects[2].endpoints?.map((e) => e.addresses), [['fd00::1']]);
  for (const o of objects) {
    t.like(o.metadata.labels, { key2: 'value2', 'gateway.networking.k8s.io/gateway-name': 'gw', 'app.kubernetes.io/managed-by': 'weft-operator' });
    t.deepEqual(o.metadata.annotations, { key1: 'value1' });
    t.like(o.metadata.ownerReferences[0], { kind: 'Gateway', name: 'gw', uid: 'u-1', controller: true });
  }
});

test('up to date: label order and server defaults do not matter; a changed label, port or address does; only Weft\'s generated leftovers are stale', (t) => {
  const gateway = { metadata: { name: 'gw', namespace: 'ns', uid: 'u' }, spec: { listeners: [{ port: 80 }] } } as KubeObject;
  const [service, slice] = generated(desiredGatewayInfrastructure([{ gateway, addresses: ['10.0.0.1'] }]));
  const live = structuredClone(service);
  live.metadata.labels = Object.fromEntries(Object.entries(live.metadata.labels).reverse());
  live.metadata.resourceVersion = '7';
  live.spec = { ...live.spec, clusterIPs: ['None'], type: 'ClusterIP', ports: [{ name: 'port-80', port: 80, protocol: 'TCP', targetPort: 80 }] };
  const upToDate = (desired: Generated, l: Generated | undefined): boolean => infrastructureUpToDate(asKube(desired)!, asKube(l));
  t.true(upToDate(service, live));
  t.false(upToDate(service, { ...live, metadata: { ...live.metadata, labels: { ...live.metadata.labels, extra: 'x' } } }));
  t.false(upToDate(service, { ...live, spec: { ...live.spec, ports: [] } }));
  t.false(upToDate(slice, { ...slice, endpoints: [{ addresses: ['10.0.0.9'], conditions: { ready: true } }] }));
  t.false(upToDate(service, undefined));

  const leftover = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'weft-gateway-old', namespace: 'ns', labels: { 'gateway.networking.k8s.io/gateway-name': 'old', 'app.kubernetes.io/managed-by': 'weft-operator' } } } as KubeObject;
  const someoneElses = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'cilium-gateway-old', namespace: 'ns', labels: { 'gateway.networking.k8s.io/gateway-name': 'old' } } } as KubeObject;
  t.deepEqual(staleInfrastructure([asKube(service)!, asKube(slice)!], [asKube(service)!, leftover, someoneElses]).map((o) => o.metadata?.name), ['weft-gateway-old']);
});

// The operator runs the writer after every status write landing (a thousand while a thousand routes' statuses are
// written): a pass with the inputs of the last one that found everything up to date does nothing at all.
test('writer: a pass with the same desired objects and live versions as the last settled one is skipped; a new live version or a failure is looked at again', async (t) => {
  // No API server (a refused loopback port): a pass that tried to apply would count a failure.
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }], users: [{ name: 'none' }], contexts: [{ name: 'none', cluster: 'none', user: 'none' }], currentContext: 'none' });
  const writer = new GatewayInfrastructureWriter(kc, silentLogger);
  const gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'ns', uid: 'u-1' }, spec: { listeners: [{ port: 80 }] } } as KubeObject;
  const desired = desiredGatewayInfrastructure([{ gateway, addresses: ['10.0.0.1'] }]);
  const live = new Map(desired.map((o) => [`${o.kind}/${o.metadata?.name}`, { ...structuredClone(o), metadata: { ...structuredClone(o.metadata), resourceVersion: '1' } }]));
  const pass = () => writer.write(desiredGatewayInfrastructure([{ gateway, addresses: ['10.0.0.1'] }]), [...live.values()], (kind, _ns, name) => live.get(`${kind}/${name}`));

  t.like(await pass(), { applied: 0, failed: 0, skipped: false }, 'the first pass compares');
  t.like(await pass(), { applied: 0, failed: 0, skipped: true }, 'nothing changed: skipped');
  const slice = live.get('EndpointSlice/weft-gateway-gw-ipv4')!;
  live.set('EndpointSlice/weft-gateway-gw-ipv4', { ...slice, metadata: { ...slice.metadata, resourceVersion: '2' } });
  t.like(await pass(), { applied: 0, failed: 0, skipped: false }, 'a new live version is compared');
  t.like(await pass(), { skipped: true });
  live.delete('Service/weft-gateway-gw');
  t.like(await pass(), { failed: 1, skipped: false }, 'the missing Service is applied (and fails: no API server)');
  t.like(await pass(), { failed: 1, skipped: false }, 'a failed pass is not settled: the next one tries again');
  writer.forget();
});
