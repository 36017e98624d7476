// The operator's and agent's health endpoint (src/kubernetes/health-server.ts) as the agent runs it: /healthz,
// /readyz following the component, /metrics from its registry, and /metrics/envoy passing a real Envoy's own
// stats through (503 while there is no Envoy). weft run's admin endpoint passes only read-only Envoy pages.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { Registry } from 'prom-client';
import { nodeBootstrap } from '../envoy/bootstrap.js';
import { EnvoyProcess } from '../envoy/process.js';
import { startHealthServer } from '../src/kubernetes/health-server.js';
import { TranslationMetrics } from '../src/metrics/translation.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { startAdminServer } from '../src/standalone/admin-server.js';
import { InMemorySnapshotCache } from '../src/xds/cache.js';
import { XdsServer } from '../src/xds/server.js';
import { parseScrape, total } from './helpers/prometheus.js';

test('health endpoint: /healthz, /readyz, /metrics, and Envoy\'s stats through /metrics/envoy; weft run\'s admin endpoint passes only read-only Envoy pages', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-health-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An Envoy whose xDS server is not there: its admin interface and stats are, which is all this needs.
  const envoy = new EnvoyProcess({ bootstrap: nodeBootstrap({ nodeId: 'n1', xds: { unix: path.join(dir, 'none.sock') }, protocol: 'delta' }) });
  await envoy.start();
  t.teardown(() => envoy.stop());
  const registry = new Registry();
  const translations = new TranslationMetrics(registry);
  let ready = false;
  const current: { envoyUrl?: string } = {};
  const server = await startHealthServer({ ready: () => ready, registry, envoyAdminUrl: () => current.envoyUrl }, 0, '127.0.0.1');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.is((await fetch(`${base}/healthz`)).status, 200);
  t.is((await fetch(`${base}/readyz`)).status, 503);
  ready = true;
  t.is((await fetch(`${base}/readyz`)).status, 200);
  translations.timed(() => translateYaml('x.yaml', ''));
  const own = parseScrape(await (await fetch(`${base}/metrics`)).text());
  t.is(total(own, 'weft_translation_duration_seconds'), 1);
  t.is((await fetch(`${base}/metrics/envoy`)).status, 503, 'no Envoy yet');
  current.envoyUrl = envoy.adminUrl;
  const res = await fetch(`${base}/metrics/envoy`);
  t.is(res.status, 200);
  const stats = parseScrape(await res.text());
  t.true(stats.families.size > 20);
  t.true([...stats.families.keys()].every((n) => n.startsWith('envoy_')));
  t.is(stats.families.get('envoy_server_live')?.type, 'GAUGE');

  // weft run's admin endpoint: read-only pages only (never quitquitquit, logging, reset_counters).
  const xds = new XdsServer({ cache: new InMemorySnapshotCache() });
  const admin = await startAdminServer(xds, 0, { envoyAdminUrl: () => envoy.adminUrl });
  t.teardown(() => admin.close());
  const adminBase = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
  t.is((await fetch(`${adminBase}/debug/envoy/server_info`)).status, 200);
  t.is((await fetch(`${adminBase}/debug/envoy/quitquitquit`)).status, 404);
  t.is((await fetch(`${adminBase}/debug/envoy/reset_counters`)).status, 404);
  t.is((await fetch(`${envoy.adminUrl}/server_info`)).status, 200, 'Envoy still up');
});
