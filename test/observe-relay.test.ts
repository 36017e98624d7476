// The relay's stream handling with real agents (access log entries go through the agent's ingestion as Envoy's
// would): several agents merged with their node names; an agent that goes away and
// comes back on its address is followed again, asked only for flows newer than the last one seen.
import test from 'ava';
import type { HttpAccessLogEntry } from '../src/observe/access-log-flows.js';
import { FlowAgent } from '../src/observe/agent.js';
import { WorkloadDirectory } from '../src/observe/directory.js';
import { Relay } from '../src/observe/relay.js';
import { eventually, freePort } from './helpers/net.js';
import { client, getFlows, TrustDomain } from './helpers/observe.js';

const td = new TrustDomain();
let port = 40000;
const BASE_SECONDS = Math.floor(Date.now() / 1000) - 3600;
/** An access log entry (absolute start time, so an agent restarted with the same entries names the same times). */
const entry = (second: number, dport = 8080): HttpAccessLogEntry => ({
  common_properties: {
    downstream_remote_address: { socket_address: { address: '10.0.0.1', port_value: port++ } },
    downstream_local_address: { socket_address: { address: '10.0.0.2', port_value: dport } },
    start_time: { seconds: BASE_SECONDS + second, nanos: 0 },
  },
  request: { request_method: 'GET', path: `/${dport}` },
  response: { response_code: { value: 200 }, response_code_details: 'via_upstream' },
});
const directory = (node: string): WorkloadDirectory => new WorkloadDirectory(node, [{ namespace: 'shop', pod: 'web-0', labels: { app: 'web' }, identity: 300, ips: ['10.0.0.1'] }, { namespace: 'shop', pod: 'api-0', labels: { app: 'api' }, identity: 301, ips: ['10.0.0.2'] }]);
const start = (node: string, listen: string): Promise<FlowAgent> => FlowAgent.start({ node, listen, mtls: td.material(`/weft/agent/${node}`), directory: directory(node) });

test('the relay merges agents and follows one that restarts, without counting a flow twice', async (t) => {
  const [p1, p2] = [await freePort(), await freePort()];
  let a1 = await start('node-1', `127.0.0.1:${p1}`);
  const a2 = await start('node-2', `127.0.0.1:${p2}`);
  t.teardown(() => {
    a1.stop();
    a2.stop();
  });
  a1.ingestAccessLog([entry(1), entry(2)]);
  a2.ingestAccessLog([entry(3, 9090)]);
  const relay = await Relay.start({ agents: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`], listen: '127.0.0.1:0', mtls: td.material('/weft/relay'), retryMs: 100 });
  t.teardown(() => relay.stop());
  await eventually(() => relay.ring.size === 3, 5000, 'three flows at the relay');
  const c = client(`127.0.0.1:${relay.port}`, td.material('/weft/observe'));
  t.teardown(() => c.close());
  t.deepEqual((await getFlows(c, { node: ['node-2'] })).map((f) => f.destination.port), [9090]);
  t.deepEqual((await getFlows(c, { node: ['node-1'] })).length, 2);
  await eventually(() => relay.nodes().every((n) => n.connected && n.name), 5000, 'both nodes named and connected');
  t.deepEqual(relay.nodes().map((n) => [n.name, n.flows_seen]), [['node-1', 2], ['node-2', 1]]);

  a1.stop();
  await eventually(() => !relay.nodes()[0].connected, 5000, 'the relay to notice node-1 is gone');
  a2.ingestAccessLog([entry(4, 9091)]);
  await eventually(() => relay.ring.size === 4, 5000, 'node-2 still followed');
  // node-1 comes back holding its two old flows again and a new one: only the new one is taken.
  a1 = await start('node-1', `127.0.0.1:${p1}`);
  a1.ingestAccessLog([entry(1), entry(2), entry(5, 7070)]);
  await eventually(() => relay.nodes()[0].connected && relay.ring.size >= 5, 10_000, 'node-1 followed again');
  await new Promise((r) => setTimeout(r, 300));
  const all = await getFlows(c);
  t.deepEqual(all.map((f) => `${f.node}:${f.destination.port}`).sort(), ['node-1:7070', 'node-1:8080', 'node-1:8080', 'node-2:9090', 'node-2:9091']);
  t.deepEqual(all.map((f) => f.time_ms), all.map((f) => f.time_ms).sort((x, y) => x - y), 'past flows in time order across nodes');
  a1.ingestAccessLog([entry(6, 6060)]);
  await eventually(() => relay.ring.size === 6, 5000, 'new flows after the return');

  // Following until a time: the stream ends by itself then; until in the past: no following at all.
  const ends = (until: number): Promise<number> => new Promise((resolve, reject) => {
    let n = 0;
    const stream = c.GetFlows({ follow: true, number: 0, filter: { until_ms: until } });
    stream.on('data', (r: { flows: unknown[] }) => (n += r.flows.length));
    stream.on('error', reject);
    stream.on('end', () => resolve(n));
  });
  const t0 = Date.now();
  t.is(await ends(Date.now() + 400), 6);
  t.true(Date.now() - t0 >= 350, 'followed until the time given');
  t.is(await ends(Date.now() - 1), 6);
});
