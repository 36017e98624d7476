// The pure parts of flows: the ring's bounds, filters (each field, AND across fields, OR within one),
// filter parameters and their errors, enrichment, datapath events → records, and the service map graph.
import test from 'ava';
import type { FlowEvent } from '../src/datapath/layout.js';
import { flowFromDatapath } from '../src/observe/datapath-flows.js';
import { flowFromAccessLog, flowFromL7AccessLogLine } from '../src/observe/access-log-flows.js';
import { agentsFromNodes, agentsFromPods } from '../src/observe/agent-discovery.js';
import type { KubeObject } from '../src/kubernetes/informers.js';
import { WorkloadDirectory } from '../src/observe/directory.js';
import { compileFilter } from '../src/observe/filter.js';
import { filterFromParams, type FilterParam } from '../src/observe/filter-params.js';
import type { Flow, FlowEndpoint } from '../src/observe/flow.js';
import { FlowRing } from '../src/observe/flow-ring.js';
import { formatFlow } from '../src/observe/output.js';
import { serviceMap } from '../src/observe/service-map.js';
import * as protoLoader from '@grpc/proto-loader';
import { OBSERVE_PROTO, observerService } from '../src/observe/proto.js';

const directory = new WorkloadDirectory(
  'n1',
  [
    { namespace: 'shop', pod: 'web-0', labels: { app: 'web', tier: 'front' }, identity: 300, ips: ['10.0.0.1'] },
    { namespace: 'shop', pod: 'api-0', labels: { app: 'api' }, identity: 301, ips: ['10.0.0.2', 'fd00::2'] },
    { namespace: 'ops', pod: 'probe', labels: {}, identity: 302, ips: ['10.0.0.3'] },
  ],
  [
    { namespace: 'shop', name: 'api', ips: ['10.96.0.2'], selector: { app: 'api' } },
    { namespace: 'shop', name: 'headless', ips: [], selector: {} },
  ],
);

const ep = (ip: string, port: number, identity = 0): FlowEndpoint => directory.endpoint(ip, port, identity);
let clock = 1_000_000;
function flow(o: Partial<Flow> & { from: string; to: string; port?: number }): Flow {
  const { from, to, port, ...rest } = o;
  return { time_ms: clock++, node: 'n1', type: 'L3_L4', verdict: 'FORWARDED', drop_reason: '', drop_reason_code: 0, traffic_direction: 'INGRESS', ip_version: 4, protocol: 'TCP', source: ep(from, 40000), destination: ep(to, port ?? 8080), http: null, summary: 'new', ...rest };
}
const httpFlow = (from: string, method: string, path: string, status: number, verdict: Flow['verdict'] = 'FORWARDED'): Flow =>
  flow({ from, to: '10.0.0.2', type: 'L7', protocol: 'HTTP', verdict, drop_reason: verdict === 'DROPPED' ? 'POLICY_DENIED' : '', http: { method, path, host: 'api', status, latency_ms: 1, protocol: 'HTTP/1.1' } });

const flows: Flow[] = [
  flow({ from: '10.0.0.1', to: '10.0.0.2' }),
  flow({ from: '10.0.0.3', to: '10.0.0.2', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', drop_reason_code: 133 }),
  flow({ from: '10.0.0.1', to: '192.0.2.9', port: 53, protocol: 'UDP', traffic_direction: 'EGRESS', node: 'n2' }),
  httpFlow('10.0.0.1', 'GET', '/public/a', 200),
  httpFlow('10.0.0.1', 'POST', '/public/a', 403, 'DROPPED'),
  httpFlow('10.0.0.1', 'GET', '/private', 503),
  httpFlow('10.0.0.3', 'GET', '/public/b', 403, 'DROPPED'),
];
const paths = (fs: Flow[]): string[] => fs.map((f) => (f.http ? `${f.http.method} ${f.http.path}` : `${f.source.pod || f.source.ip}>${f.destination.pod || f.destination.ip}:${f.verdict}`));
const select = (filter: Parameters<typeof compileFilter>[0]): string[] => paths(flows.filter(compileFilter(filter)));

test('enrichment: pods, labels, services, workloads; unknown and reserved addresses', (t) => {
  t.like(ep('10.0.0.2', 8080), { identity: 301, namespace: 'shop', pod: 'api-0', labels: ['app=api'], services: ['shop/api'], workload: 'api' });
  t.like(ep('fd00::2', 8080, 999), { identity: 999, pod: 'api-0' }, 'the identity the datapath saw wins');
  t.like(ep('10.0.0.1', 1), { labels: ['app=web', 'tier=front'], services: [] });
  t.like(ep('10.0.0.3', 1), { workload: 'probe', services: [] }, 'no app label: the pod name');
  t.like(ep('10.96.0.2', 80), { namespace: 'shop', pod: '', services: ['shop/api'], workload: 'svc:api' });
  t.like(ep('192.0.2.9', 53, 2), { pod: '', workload: 'world', labels: ['reserved:world'] });
  t.like(ep('192.0.2.9', 53, 0), { workload: '192.0.2.9' });
});

test('datapath events become records with Cilium drop reasons and wall-clock time', (t) => {
  const event: FlowEvent = { timeNs: 5_000_000n, kind: 'drop', family: 4, protocol: 6, source: { ip: '10.0.0.3', port: 1234, identity: 302 }, destination: { ip: '10.0.0.2', port: 8080, identity: 301 }, ifindex: 3, direction: 'ingress', verdict: 'deny', reason: 'policy-deny-rule', proxyPort: 0 };
  t.like(flowFromDatapath(event, directory, 1000), { time_ms: 1005, verdict: 'DROPPED', drop_reason: 'POLICY_DENY', drop_reason_code: 181, traffic_direction: 'INGRESS', protocol: 'TCP', source: { pod: 'probe' }, destination: { pod: 'api-0' } });
  t.like(flowFromDatapath({ ...event, kind: 'new', verdict: 'redirect', reason: 'none', protocol: 17, direction: 'egress' }, directory, 0), { verdict: 'REDIRECTED', drop_reason: '', drop_reason_code: 0, protocol: 'UDP', traffic_direction: 'EGRESS' });
  t.like(flowFromDatapath({ ...event, reason: 'no-service-backend' }, directory, 0), { drop_reason: 'SERVICE_BACKEND_NOT_FOUND', drop_reason_code: 158 });
});

test('Gateway and Ingress access log entries (no L7 policy route): the destination is the backend the request went to, else the listener', (t) => {
  const addr = (address: string, port_value: number) => ({ socket_address: { address, port_value } });
  const entry = { common_properties: { downstream_remote_address: addr('10.0.0.1', 40000), downstream_local_address: addr('192.0.2.10', 8080), upstream_remote_address: addr('10.0.0.2', 8080), custom_tags: {} }, request: { request_method: 'GET', path: '/a' }, response: { response_code: { value: 200 }, response_code_details: 'via_upstream' } };
  t.like(flowFromAccessLog(entry, directory), { verdict: 'FORWARDED', source: { pod: 'web-0' }, destination: { ip: '10.0.0.2', port: 8080, pod: 'api-0', identity: 301 } });
  const unrouted = { ...entry, common_properties: { ...entry.common_properties, upstream_remote_address: null }, response: { response_code: { value: 404 }, response_code_details: 'route_not_found' } };
  t.like(flowFromAccessLog(unrouted, directory), { verdict: 'ERROR', destination: { ip: '192.0.2.10', port: 8080, pod: '' } });
  // L7 policy listeners name their destination by the route's name: the upstream (the application's local address) is not it.
  t.like(flowFromAccessLog({ ...entry, common_properties: { ...entry.common_properties, upstream_remote_address: addr('127.0.0.1', 9000), route_name: 'l7 301 80 default/api-0', custom_tags: { direction: 'ingress' } } }, directory), { destination: { ip: '192.0.2.10', port: 80, identity: 301 } });
  // An egress chain names a world destination as Cilium does: the world (2), or a policy CIDR's identity by its label.
  const egress = (identity: string) => flowFromAccessLog({ ...entry, common_properties: { ...entry.common_properties, route_name: 'l7 300 80 default/web-0', custom_tags: { direction: 'egress', destination_identity: identity } } }, directory);
  t.like(egress('2'), { traffic_direction: 'EGRESS', source: { pod: 'web-0', identity: 300 }, destination: { ip: '192.0.2.10', identity: 2, labels: ['reserved:world'], workload: 'world' } });
  // Where the route table enforces, the route's name goes on with the peer and the decision: a refusal is its direct response.
  const routed = (decision: string, details: string, code: number) => flowFromAccessLog({ ...entry, common_properties: { ...entry.common_properties, downstream_local_address: addr('10.0.0.2', 8080), route_name: `l7 301 8080 shop/api-0|${decision}`, custom_tags: { direction: 'ingress' } }, response: { response_code: { value: code }, response_code_details: details } }, directory);
  t.like(routed('300|denied:l7', 'direct_response', 403), { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', traffic_direction: 'INGRESS', source: { identity: 300 }, destination: { pod: 'api-0', port: 8080, identity: 301 } });
  t.like(routed('300|allowed:shop/api', 'via_upstream', 200), { verdict: 'FORWARDED', source: { identity: 300 }, destination: { identity: 301 } });
  t.like(egress('cidr:192.0.2.0/24'), { destination: { ip: '192.0.2.10', identity: 0, labels: ['cidr:192.0.2.0/24', 'reserved:world'], workload: 'world' } });
});

test('L7 access log file lines (translated for flows) become flows: each end by the route, the decision or the address', (t) => {
  const line = (o: Record<string, string>): string =>
    JSON.stringify({ time: '2026-12-04T19:00:00.250Z', direction: 'ingress', source_address: '10.0.0.1:40000', protocol: 'HTTP/1.1', method: 'GET', path: '/a', host: 'api', response_code: '200', response_code_details: 'via_upstream', destination_address: '10.0.0.2', duration_us: '1500', ...o });
  // The route table enforces: the route's name names the destination, the peer and the decision.
  t.deepEqual(flowFromL7AccessLogLine(line({ destination: 'l7 301 8080 shop/api-0|300|allowed:shop/api', policy: '- -' }), directory), {
    time_ms: Date.parse('2026-12-04T19:00:00.250Z'), node: 'n1', type: 'L7', verdict: 'FORWARDED', drop_reason: '', drop_reason_code: 0, traffic_direction: 'INGRESS', ip_version: 4, protocol: 'HTTP',
    source: ep('10.0.0.1', 40000, 300), destination: ep('10.0.0.2', 8080, 301),
    http: { method: 'GET', path: '/a', host: 'api', status: 200, latency_ms: 1.5, protocol: 'HTTP/1.1' }, summary: 'via_upstream',
  });
  t.like(flowFromL7AccessLogLine(line({ destination: 'l7 301 8080 shop/api-0|300|denied:l7', policy: '- -', response_code: '403', response_code_details: 'direct_response' }), directory), { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', drop_reason_code: 133, summary: 'denied:l7', http: { status: 403 } });
  // The RBAC filter enforces: its decision (in `policy`, with the header mismatches) names the peer.
  t.like(flowFromL7AccessLogLine(line({ destination: 'l7 301 8080 shop/api-0', policy: '302|dropped:deny-rule LOG:x-a', response_code: '403', response_code_details: 'rbac_access_denied_matched_policy[302|dropped:deny-rule]' }), directory), { verdict: 'DROPPED', drop_reason: 'POLICY_DENY', drop_reason_code: 181, source: { identity: 302 }, destination: { pod: 'api-0' } });
  // A peer the rules do not name, at no address the directory knows: the world.
  t.like(flowFromL7AccessLogLine(line({ source_address: '192.0.2.7:5000', destination: 'l7 301 8080 shop/api-0|unlisted|denied:l7', policy: '- -', response_code: '403', response_code_details: 'direct_response' }), directory), { source: { ip: '192.0.2.7', port: 5000, identity: 2, workload: 'world' } });
  // A client's egress chain: the route names the client, the decision the destination (a policy CIDR's, as Cilium labels it).
  t.like(flowFromL7AccessLogLine(line({ direction: 'egress', source: 'l7 300 80 shop/web-0', destination_address: '192.0.2.10', policy: 'cidr:192.0.2.0/24|allowed:shop/web -' }), directory), { traffic_direction: 'EGRESS', source: { pod: 'web-0', identity: 300 }, destination: { ip: '192.0.2.10', port: 80, labels: ['cidr:192.0.2.0/24', 'reserved:world'], workload: 'world' } });
  // Over the mesh the lines name no destination address (the connection's is the mesh listener's): the route's pod's.
  // The outbound side: the client is known by its address. The inbound side: the peer by its verified SPIFFE ID's
  // identity (the peer's node's address is no pod's).
  const meshLine = JSON.parse(line({})) as Record<string, string>;
  delete meshLine.destination_address;
  const mesh = (o: Record<string, string>): string => JSON.stringify({ ...meshLine, ...o });
  t.like(flowFromL7AccessLogLine(mesh({ direction: 'egress', destination: 'l7 301 8080 shop/api-0', policy: '- -' }), directory), { traffic_direction: 'EGRESS', source: { pod: 'web-0', identity: 300 }, destination: { ip: '10.0.0.2', pod: 'api-0', identity: 301, port: 8080 } });
  t.like(flowFromL7AccessLogLine(mesh({ source_address: '192.168.1.5:40000', destination: 'l7 301 8080 shop/api-0', policy: '300 -' }), directory), { traffic_direction: 'INGRESS', source: { ip: '192.168.1.5', pod: '', identity: 300, labels: ['app=web', 'tier=front'] }, destination: { ip: '10.0.0.2', pod: 'api-0' } });
  t.like(flowFromL7AccessLogLine(line({ source_address: '[fd00::2]:6000', destination: 'l7 301 8080 shop/api-0|301|allowed:shop/api', policy: '- -' }), directory), { ip_version: 6, source: { ip: 'fd00::2', port: 6000, pod: 'api-0' } });
  for (const bad of ['', '{"time":', '[]', 'null', '{"method":"GET"}']) t.is(flowFromL7AccessLogLine(bad, directory), undefined, `not a line of the log: ${bad}`);
});

test('relay discovery: agent pods (hostNetwork, running, not being deleted) or Nodes\' InternalIPs, with the flow port', (t) => {
  const pods = [
    { metadata: { name: 'a' }, spec: { nodeName: 'n1' }, status: { podIP: '10.1.0.11', phase: 'Running' } },
    { metadata: { name: 'b' }, spec: { nodeName: 'n2' }, status: { phase: 'Pending' } },
    { metadata: { name: 'c', deletionTimestamp: '2026-01-01T00:00:00Z' }, spec: { nodeName: 'n3' }, status: { podIP: '10.1.0.13', phase: 'Running' } },
    { metadata: { name: 'd' }, spec: { nodeName: 'n4' }, status: { podIP: 'fd00::14', phase: 'Running' } },
    { metadata: { name: 'e' }, spec: { nodeName: 'n5' }, status: { podIP: '10.1.0.15', phase: 'Failed' } },
  ] as unknown as KubeObject[];
  t.deepEqual(agentsFromPods(pods, 4244), [{ address: '10.1.0.11:4244', name: 'n1' }, { address: '[fd00::14]:4244', name: 'n4' }]);
  const nodes = [
    { metadata: { name: 'n1' }, status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '10.1.0.11' }, { type: 'InternalIP', address: 'fd00::11' }] } },
    { metadata: { name: 'n2' }, status: { addresses: [{ type: 'ExternalIP', address: '203.0.113.2' }] } },
  ] as unknown as KubeObject[];
  t.deepEqual(agentsFromNodes(nodes, 5000), [{ address: '10.1.0.11:5000', name: 'n1' }]);
});

test('filters: each field selects exactly what it names', (t) => {
  t.is(select({}).length, flows.length);
  t.deepEqual(select({ verdict: ['dropped'] }), ['probe>api-0:DROPPED', 'POST /public/a', 'GET /public/b']);
  t.deepEqual(select({ drop_reason: ['POLICY_DENIED'] }), ['probe>api-0:DROPPED', 'POST /public/a', 'GET /public/b']);
  t.deepEqual(select({ pod: ['probe'] }), ['probe>api-0:DROPPED', 'GET /public/b']);
  t.deepEqual(select({ pod: ['other/probe'] }), [], 'namespace/name must match both');
  t.deepEqual(select({ source_pod: ['shop/api-0'] }), []);
  t.deepEqual(select({ destination_pod: ['api-0'] }).length, 6);
  t.deepEqual(select({ namespace: ['ops'] }), ['probe>api-0:DROPPED', 'GET /public/b']);
  t.deepEqual(select({ label: ['tier'] }).length, 5, 'label key alone');
  t.deepEqual(select({ label: ['tier=back'] }), []);
  t.deepEqual(select({ identity: [302] }), ['probe>api-0:DROPPED', 'GET /public/b']);
  t.deepEqual(select({ protocol: ['udp'] }), ['web-0>192.0.2.9:FORWARDED']);
  t.deepEqual(select({ node: ['n2'] }), ['web-0>192.0.2.9:FORWARDED']);
  t.deepEqual(select({ type: ['l7'] }).length, 4);
  t.deepEqual(select({ http_method: ['post'] }), ['POST /public/a']);
  t.deepEqual(select({ http_path: ['/public'] }), ['GET /public/a', 'POST /public/a', 'GET /public/b']);
  t.deepEqual(select({ http_status: [503, 200] }), ['GET /public/a', 'GET /private']);
  t.deepEqual(select({ since_ms: flows[5].time_ms }), ['GET /private', 'GET /public/b']);
  t.deepEqual(select({ until_ms: flows[0].time_ms }), ['web-0>api-0:FORWARDED']);
  t.deepEqual(select({ verdict: ['DROPPED'], pod: ['web-0'], http_method: ['POST', 'GET'] }), ['POST /public/a'], 'AND across fields, OR within one');
});

test('filter parameters: names, repeats and commas, times, and errors naming the parameter', (t) => {
  const params = (o: Partial<Record<FilterParam, string[]>>) => (name: FilterParam) => o[name] ?? [];
  const now = Date.parse('2026-01-01T00:10:00Z');
  t.deepEqual(filterFromParams(params({ pod: ['a,b', 'c'], 'from-pod': ['x'], 'http-status': ['403'], since: ['5m'], until: ['2026-01-01T00:09:00Z'], label: ['app=a,b'] }), now), {
    pod: ['a', 'b', 'c'], source_pod: ['x'], http_status: [403], since_ms: now - 300_000, until_ms: now - 60_000, label: ['app=a,b'],
  });
  t.throws(() => filterFromParams(params({ identity: ['x1'] })), { message: 'identity: "x1" is not a non-negative integer' });
  t.throws(() => filterFromParams(params({ since: ['yesterday'] })), { message: /^since: "yesterday" is neither a time/ });
});

test('the ring keeps the newest flows, bounded; recent() limits to the newest; subscribers see every batch', (t) => {
  const ring = new FlowRing(4);
  const seen: number[] = [];
  const stop = ring.subscribe((b) => seen.push(b.length));
  ring.push(flows.slice(0, 3));
  ring.push(flows.slice(3));
  t.is(ring.size, 4);
  t.is(ring.written, 7);
  t.deepEqual(ring.recent(() => true), flows.slice(3));
  t.deepEqual(ring.recent(() => true, 2), flows.slice(5));
  t.deepEqual(ring.recent((f) => f.verdict === 'DROPPED'), [flows[4], flows[6]]);
  t.deepEqual(seen, [3, 4]);
  stop();
  ring.push(flows.slice(0, 1));
  t.deepEqual(seen, [3, 4]);
  t.throws(() => new FlowRing(0), { message: /capacity must be a positive integer/ });
});

test('service map: workloads as nodes, edges with requests, errors, denials and rate', (t) => {
  const map = serviceMap(flows, 10);
  t.deepEqual(map.nodes.map((n) => n.id), ['192.0.2.9', 'ops/probe', 'shop/api', 'shop/web']);
  const edge = (s: string, d: string) => map.edges.find((e) => e.source === s && e.destination === d);
  t.like(edge('shop/web', 'shop/api'), { flows: 4, requests: 3, errors: 1, denied: 1, requestRate: 0.3, protocols: ['HTTP', 'TCP'], ports: [8080] });
  t.like(edge('ops/probe', 'shop/api'), { flows: 2, requests: 1, denied: 2, errors: 0 });
  t.like(edge('shop/web', '192.0.2.9'), { protocols: ['UDP'], ports: [53] });
  t.is(map.edges.length, 3);
  const redirected = serviceMap([flow({ from: '10.0.0.1', to: '10.0.0.2', verdict: 'REDIRECTED' })]);
  t.deepEqual(redirected.edges, [], 'a redirect is counted by the L7 record it becomes');
});

test('output: compact and wide lines, JSON the record', (t) => {
  t.regex(formatFlow(flows[1], 'compact'), /^\S+ ops\/probe:40000 \(ID:302\) -> shop\/api-0:8080 \(ID:301\) L3_L4 DROPPED \(POLICY_DENIED\) TCP$/);
  t.regex(formatFlow(flows[4], 'compact'), /L7 DROPPED \(POLICY_DENIED\) HTTP HTTP\/1\.1 POST api\/public\/a 403 1\.0ms$/);
  t.regex(formatFlow(flows[0], 'wide'), /node=n1 10\.0\.0\.1:40000 shop\/web-0:40000 \(ID:300\) \[app=web,tier=front\] -> 10\.0\.0\.2:8080 shop\/api-0:8080 \(ID:301\) \[app=api\] svc=shop\/api L3_L4 INGRESS FORWARDED TCP IPv4 new$/);
  t.deepEqual(JSON.parse(formatFlow(flows[2], 'json')), flows[2]);
});

test('the flow stream\'s encoder and decoder agree with proto-loader\'s on every field', (t) => {
  const method = observerService().service.GetFlows;
  const loader = protoLoader.loadSync(OBSERVE_PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  const reference = (loader['weft.observe.v1.Observer'] as unknown as { GetFlows: { responseSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown } }).GetFlows;
  const long = new WorkloadDirectory('n1', [{ namespace: 'ns-ü', pod: 'p'.repeat(200), labels: { ['k'.repeat(150)]: 'v'.repeat(300), app: 'ä' }, identity: 70000, ips: ['10.9.9.9'] }], [{ namespace: 'ns-ü', name: 's'.repeat(140), ips: [], selector: { app: 'ä' } }]);
  const odd = flow({ from: '10.9.9.9', to: '192.0.2.1', time_ms: 0, ip_version: 6, drop_reason_code: 300 });
  odd.source = long.endpoint('10.9.9.9', 65535, 0);
  for (const f of [...flows, odd, odd]) {
    const back = method.responseDeserialize(method.responseSerialize({ flows: [f], lost: 7 })) as { flows: Flow[]; lost: number };
    t.deepEqual(back, { flows: [f], lost: 7 });
    t.deepEqual(JSON.parse(JSON.stringify(reference.responseDeserialize(method.responseSerialize({ flows: [f], lost: 7 })))), back, 'proto-loader reads what we write');
    t.deepEqual(method.responseDeserialize(reference.responseSerialize({ flows: [f], lost: 7 })), back, 'we read what proto-loader writes');
  }
});
