// The metric catalogue is honest: the README's Metrics table lists exactly the catalogue's families (name,
// type, labels), the modules that register metrics register exactly those (besides prom-client's process
// metrics), a real flow agent and relay count flows into their registries, and a real datapath's map sizes
// read as they are.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { Registry } from 'prom-client';
import { Datapath } from '../src/datapath/datapath.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import { METRICS, DEFAULT_METRIC_PREFIXES } from '../src/metrics/catalogue.js';
import { CertificateMetrics } from '../src/metrics/certificates.js';
import { registerEnvoyMetrics, registerOperatorMetrics, registerRelayMetrics } from '../src/metrics/components.js';
import { registerDatapathMetrics, registerEndpointProgramMetrics } from '../src/metrics/datapath.js';
import { FlowMetrics } from '../src/metrics/flows.js';
import { processRegistry } from '../src/metrics/registry.js';
import { TranslationMetrics } from '../src/metrics/translation.js';
import { FlowAgent } from '../src/observe/agent.js';
import { Relay } from '../src/observe/relay.js';
import { XdsMetrics } from '../src/xds/metrics.js';
import { eventually } from './helpers/net.js';
import { parseScrape, total } from './helpers/prometheus.js';

interface Row { name: string; type: string; labels: string[] }

/** The rows of the README's Metrics table: | `name` | type | `label`, ... | meaning | exposed by |. */
function readmeRows(): Row[] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('\n### Metrics'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| `weft_')));
  return table.split('\n').filter((l) => l.startsWith('| `weft_')).map((l) => {
    const cells = l.split('|').map((c) => c.trim());
    return { name: cells[1].replace(/`/g, ''), type: cells[2], labels: cells[3] === '' || cells[3] === '–' ? [] : cells[3].split(',').map((x) => x.trim().replace(/`/g, '')) };
  });
}

test('the README documents exactly the catalogue\'s families, with their types and labels', (t) => {
  const rows = readmeRows();
  t.true(rows.length > 10, 'the table was found');
  t.deepEqual(rows.map((r) => r.name).sort(), Object.values(METRICS).map((f) => f.name).sort());
  for (const f of Object.values(METRICS)) t.deepEqual(rows.find((r) => r.name === f.name), { name: f.name, type: f.type, labels: [...f.labels] }, f.name);
  for (const f of Object.values(METRICS)) {
    t.regex(f.name, /^weft_[a-z0-9_]+$/);
    if (f.type === 'counter') t.regex(f.name, /_total$/, `${f.name}: counters end in _total`);
    else t.notRegex(f.name, /_total$/, `${f.name}: only counters end in _total`);
    if (f.type === 'histogram') t.regex(f.name, /_seconds$/, `${f.name}: durations in seconds`);
  }
});

test('the modules that register metrics register exactly the catalogue (and prom-client\'s process metrics)', async (t) => {
  const registry = processRegistry();
  new XdsMetrics(registry);
  new TranslationMetrics(registry);
  FlowMetrics.of(registry);
  CertificateMetrics.of(registry);
  registerOperatorMetrics(registry, () => true);
  registerEnvoyMetrics(registry, () => 0);
  registerRelayMetrics(registry, () => []);
  // Map sizes are read at scrape time: a datapath with no maps reads as none.
  registerDatapathMetrics(registry, { maps: {} } as unknown as Datapath);
  registerEndpointProgramMetrics(registry, () => Promise.resolve({ attached: 0, missing: [] }));
  const registered = (await registry.getMetricsAsJSON()).map((m) => m.name);
  const weft = registered.filter((n) => !DEFAULT_METRIC_PREFIXES.some((p) => n.startsWith(p)));
  t.deepEqual(weft.sort(), Object.values(METRICS).map((f) => f.name).sort());
  t.true(registered.includes('process_cpu_seconds_total') && registered.includes('nodejs_heap_size_used_bytes'));
  t.is(registered.length, new Set(registered).size, 'no family twice');
});

test('a flow agent and the relay following it count flows by type, verdict and reason into their registries; the relay counts its agents', async (t) => {
  const agentRegistry = new Registry();
  const relayRegistry = new Registry();
  const agent = await FlowAgent.start({ node: 'node-1', listen: '127.0.0.1:0', registry: agentRegistry });
  t.teardown(() => agent.stop());
  const relay = await Relay.start({ agents: [`127.0.0.1:${agent.observerPort}`], listen: '127.0.0.1:0', registry: relayRegistry, retryMs: 100 });
  t.teardown(() => relay.stop());
  const entry = (path: string, details: string, status: number) => ({
    common_properties: { downstream_remote_address: { socket_address: { address: '10.0.0.1', port_value: 40000 } }, downstream_local_address: { socket_address: { address: '10.0.0.2', port_value: 80 } } },
    request: { request_method: 'GET', path }, response: { response_code: { value: status }, response_code_details: details },
  });
  agent.ingestAccessLog([entry('/a', 'via_upstream', 200), entry('/b', 'rbac_access_denied_matched_policy[denied:l7]', 403), entry('/c', 'rbac_access_denied_matched_policy[dropped:deny-rule]', 403)]);
  for (const [name, registry] of [['agent', agentRegistry], ['relay', relayRegistry]] as const) {
    const s = await eventually(async () => {
      const got = parseScrape(await registry.metrics());
      return total(got, 'weft_flows_total') === 3 && got;
    }, 10_000, `three flows counted by the ${name}`);
    t.is(total(s, 'weft_flows_total', { type: 'L7', verdict: 'FORWARDED', drop_reason: '' }), 1, name);
    t.is(total(s, 'weft_flows_total', { type: 'L7', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED' }), 1, name);
    t.is(total(s, 'weft_flows_total', { type: 'L7', verdict: 'DROPPED', drop_reason: 'POLICY_DENY' }), 1, name);
    t.is(total(s, 'weft_l7_policy_verdicts_total', { verdict: 'denied', status_class: '4xx' }), 2, name);
    t.is(total(s, 'weft_l7_policy_verdicts_total', { verdict: 'allowed', status_class: '2xx' }), 1, name);
    t.is(total(s, 'weft_flow_ring_flows'), 3, name);
  }
  t.is(total(parseScrape(await relayRegistry.metrics()), 'weft_relay_agents', { state: 'connected' }), 1);
  agent.stop();
  await eventually(async () => total(parseScrape(await relayRegistry.metrics()), 'weft_relay_agents', { state: 'disconnected' }) === 1, 10_000, 'the relay to see the agent gone');
});

test('datapath map sizes: entries per map of a real datapath (root, kernel eBPF)', async (t) => {
  const unavailable = datapathUnavailable();
  if (unavailable) {
    t.log(`skipped: ${unavailable}`);
    t.pass();
    return;
  }
  const dp = Datapath.open({ pinRoot: `/sys/fs/bpf/weft-metrics-test-${process.pid}` });
  t.teardown(() => dp.destroy());
  const registry = new Registry();
  registerDatapathMetrics(registry, dp);
  const entries = async (map: string): Promise<number> => total(parseScrape(await registry.metrics()), 'weft_datapath_map_entries', { map });
  t.is(await entries('policy'), 0);
  t.is(await entries('backends'), 0);
  // Two policy entries and one backend (zeroed keys and values are entries like any other).
  const policyKey = (n: number): Buffer => {
    const k = Buffer.alloc(dp.maps.policy.keySize);
    k.writeUInt8(n, 0);
    return k;
  };
  dp.maps.policy.update(policyKey(1), Buffer.alloc(dp.maps.policy.valueSize));
  dp.maps.policy.update(policyKey(2), Buffer.alloc(dp.maps.policy.valueSize));
  dp.maps.backends.update(Buffer.alloc(dp.maps.backends.keySize), Buffer.alloc(dp.maps.backends.valueSize));
  t.is(await entries('policy'), 2);
  t.is(await entries('backends'), 1);
  t.is(await entries('services'), 0);
  t.false(parseScrape(await registry.metrics()).series.get('weft_datapath_map_entries')!.metrics.some((m) => m.labels?.map === 'config'), 'the config array is not a size');
});
