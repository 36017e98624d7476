// Prometheus metrics of a real `weft run` (real Envoy, L7 policy with flows, an HTTPS Gateway): /metrics
// scraped and parsed by an independent parser before and after traffic and a reload; the values move.
// Envoy's own stats come through /metrics/envoy.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { METRICS } from '../src/metrics/catalogue.js';
import { startEchoBackend } from './helpers/echo-backend.js';
import { addressBlock, pod, request } from './helpers/l7policy.js';
import { eventually, freePort } from './helpers/net.js';
import { scrape, total } from './helpers/prometheus.js';
import { CertFactory, httpsRequest } from './helpers/tls.js';
import { loopbackServiceYaml, secretsYaml, tlsGatewayYaml } from './helpers/tls-manifests.js';
import { startWeftRun } from './helpers/weft-process.js';

test('weft run /metrics: xDS pushes and ACKs, translations, L7 verdicts and flows move with traffic and reloads; certificate expiry; Envoy stats passed through', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const site = certs.leaf('site.example.com', ['site.example.com']);
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const [l7Port, httpsPort, flowsPort] = [await freePort(), await freePort(), await freePort()];
  const net = addressBlock();
  const route = (name: string, prefix: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${prefix} } }], backendRefs: [{ name: app, port: 80 }] }]
`;
  const run = await startWeftRun(t, {
    'shop.yaml': `apiVersion: v1
kind: Pod
metadata: { name: api-0, namespace: shop, labels: { app: api }, annotations: { weft.dev/standalone-backends: "${l7Port}=127.0.0.1:${backend.port}" } }
status: { podIP: ${net}.2 }
---
${pod('web-0', `${net}.10`, { app: 'web' }, 'shop')}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: api, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: api } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "${l7Port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/ok.*" }] }
`,
    'gateway.yaml': tlsGatewayYaml([{ name: 'https', port: httpsPort, protocol: 'HTTPS', hostname: 'site.example.com', certs: ['site'] }]),
    'secret.yaml': secretsYaml({ site }),
    'route.yaml': route('app', '/'),
    'app.yaml': loopbackServiceYaml('app', 80, backend.port),
  }, ['--flows-listen', `127.0.0.1:${flowsPort}`]);
  const metrics = `${run.admin}/metrics`;

  const before = await scrape(metrics);
  // Every family of `weft run` is there, with the type the catalogue gives.
  for (const f of [METRICS.xdsStreams, METRICS.xdsResponses, METRICS.xdsAcks, METRICS.xdsNacks, METRICS.xdsAckSeconds, METRICS.translationSeconds, METRICS.translationProblems,
    METRICS.translationResources, METRICS.flows, METRICS.l7Verdicts, METRICS.flowRingFlows, METRICS.certificateExpiry, METRICS.envoyRestarts]) {
    t.is(String(before.families.get(f.name)?.type), f.type.toUpperCase(), f.name);
  }
  t.true(before.families.has('process_cpu_seconds_total') && before.families.has('nodejs_eventloop_lag_seconds'), 'process metrics');
  t.is(total(before, 'weft_xds_streams', { protocol: 'delta' }), 1, 'one ADS stream (delta)');
  t.true(total(before, 'weft_xds_responses_total', { type: 'Listener' }) >= 1);
  t.true(total(before, 'weft_xds_acks_total', { type: 'Secret' }) >= 1, 'the certificate went out and was ACKed');
  t.is(total(before, 'weft_xds_nacks_total'), 0);
  t.is(total(before, 'weft_xds_response_ack_seconds'), total(before, 'weft_xds_acks_total'), 'one latency observation per ACK');
  t.true(total(before, 'weft_translation_duration_seconds') >= 1);
  t.is(total(before, 'weft_translation_problems'), 0);
  t.true(total(before, 'weft_translation_resources', { type: 'Listener' }) >= 2, 'the Gateway\'s and the L7 policy\'s listeners');
  // The Secret's certificate lives 2 days (CertFactory): the gauge says so, in seconds.
  const expiry = total(before, 'weft_certificate_expiry_seconds', { kind: 'gateway' });
  t.true(expiry > 86_400 && expiry <= 2 * 86_400, `certificate expiry ${expiry}s`);
  t.is(total(before, 'weft_l7_policy_verdicts_total'), 0);
  t.is(total(before, 'weft_envoy_restarts_total'), 0);

  // Traffic: L7 allowed and denied, HTTPS through the Gateway.
  t.is((await request(`${net}.2`, l7Port, { from: `${net}.10`, path: '/ok/1' })).status, 200);
  t.is((await request(`${net}.2`, l7Port, { from: `${net}.10`, path: '/ok/2' })).status, 200);
  t.is((await request(`${net}.2`, l7Port, { from: `${net}.10`, path: '/denied' })).status, 403);
  t.is((await httpsRequest(httpsPort, { servername: 'site.example.com' })).status, 200);
  // A reload: one more route → a new translation and new pushes.
  writeFileSync(path.join(run.dir, 'route2.yaml'), route('extra', '/extra'));

  const after = await eventually(async () => {
    const s = await scrape(metrics);
    return total(s, 'weft_l7_policy_verdicts_total') >= 3 && total(s, 'weft_translation_duration_seconds') > total(before, 'weft_translation_duration_seconds') &&
      total(s, 'weft_xds_acks_total', { type: 'RouteConfiguration' }) > total(before, 'weft_xds_acks_total', { type: 'RouteConfiguration' }) && s;
  }, 15_000, 'the L7 verdicts of three requests, a second translation and the new route ACKed');
  t.is(total(after, 'weft_l7_policy_verdicts_total', { verdict: 'allowed', status_class: '2xx' }), 2);
  t.is(total(after, 'weft_l7_policy_verdicts_total', { verdict: 'denied', status_class: '4xx' }), 1);
  t.is(total(after, 'weft_flows_total', { type: 'L7', verdict: 'FORWARDED', drop_reason: '' }), 2);
  t.is(total(after, 'weft_flows_total', { type: 'L7', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED' }), 1);
  t.is(total(after, 'weft_flow_ring_flows'), 3);
  t.true(total(after, 'weft_xds_responses_total', { type: 'RouteConfiguration' }) > total(before, 'weft_xds_responses_total', { type: 'RouteConfiguration' }));
  t.is(total(after, 'weft_xds_nacks_total'), 0);

  // Envoy's own stats, through Weft's endpoint (Envoy's admin listens on loopback at a port of its own).
  const envoy = await scrape(`${run.admin}/metrics/envoy`);
  t.true([...envoy.families.keys()].every((name) => name.startsWith('envoy_')), 'Envoy\'s families only');
  t.true(total(envoy, 'envoy_cluster_manager_cds_update_success') >= 1);
  t.true(total(envoy, 'envoy_http_downstream_rq_total') >= 4, 'the four requests, counted by Envoy');
  t.is(await run.stop(), 0);
});
