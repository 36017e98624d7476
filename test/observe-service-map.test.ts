// The relay's service map page in headless Chromium (Debian's package, driven by playwright-core): known
// traffic through a real Envoy (web → api allowed and L7-denied, tool → api denied) shows as a graph of three
// workloads with request and deny counts on the edges, and the table's filters narrow what it lists.
import { existsSync } from 'node:fs';
import test from 'ava';
import { chromium } from 'playwright-core';
import { serveServiceMap } from '../src/observe/service-map-server.js';
import { pod, request } from './helpers/l7policy.js';
import { eventually } from './helpers/net.js';
import { l7FlowFixture } from './helpers/observe.js';

const CHROMIUM = '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  test('service map page', (t) => {
    t.log(`skipped: ${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium as root)`);
    t.pass();
  });
} else {
  test('the service map page shows the graph of known traffic, and a filter narrows the flow table', async (t) => {
    const f = await l7FlowFixture(t, ({ net, port, backendAnnotation }) => `apiVersion: v1
kind: Pod
metadata: { name: api-0, namespace: shop, labels: { app: api }, ${backendAnnotation} }
status: { podIP: ${net}.2 }
---
${pod('web-0', `${net}.10`, { app: 'web' }, 'shop')}---
${pod('tool-0', `${net}.11`, { app: 'tool' }, 'shop')}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: api, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: api } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: web } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/public.*" }] }
`);
    const net = f.server.slice(0, f.server.lastIndexOf('.'));
    for (let i = 0; i < 5; i++) t.is((await request(f.server, f.port, { from: `${net}.10`, path: `/public/${i}` })).status, 200);
    for (let i = 0; i < 2; i++) t.is((await request(f.server, f.port, { from: `${net}.10`, path: `/private/${i}` })).status, 403);
    t.is((await request(f.server, f.port, { from: `${net}.11`, path: '/public/x' })).status, 403);
    await eventually(() => f.relay.ring.size >= 8, 15_000, 'eight flows at the relay');

    const ui = await serveServiceMap(f.relay.ring, '127.0.0.1', 0);
    t.teardown(() => ui.server.close());
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${ui.port}/`);

    await page.locator('g.node[data-node="shop/api"]').waitFor();
    const nodes = page.locator('g.node');
    const names = await Promise.all(Array.from({ length: await nodes.count() }, (_, i) => nodes.nth(i).getAttribute('data-node')));
    t.deepEqual(names.sort(), ['shop/api', 'shop/tool', 'shop/web']);
    const edge = (from: string) => page.locator(`g.edge[data-source="shop/${from}"][data-destination="shop/api"]`);
    t.is(await edge('web').getAttribute('data-requests'), '7');
    t.is(await edge('web').getAttribute('data-denied'), '2');
    t.is(await edge('web').getAttribute('data-errors'), '0');
    t.is(await edge('tool').getAttribute('data-requests'), '1');
    t.is(await edge('tool').getAttribute('data-denied'), '1');
    t.regex(await edge('web').locator('text').textContent() ?? '', /req\/s, 2 denied$/);
    t.is(await page.locator('g.edge').count(), 2);

    const rows = page.locator('#flows tbody tr');
    await eventually(async () => (await rows.count()) === 8, 5000, 'eight rows');
    await page.fill('input[name="http-path"]', '/private');
    await eventually(async () => (await rows.count()) === 2, 5000, 'two rows for /private');
    t.deepEqual((await page.locator('#flows tbody td.http').allTextContents()).sort(), ['GET /private/0 → 403', 'GET /private/1 → 403']);
    await page.fill('input[name="http-path"]', '');
    await page.selectOption('select[name="verdict"]', 'DROPPED');
    await eventually(async () => (await rows.count()) === 3, 5000, 'three dropped rows');
    t.deepEqual(await page.locator('#flows tbody td.verdict').allTextContents(), ['DROPPED', 'DROPPED', 'DROPPED']);
    await page.fill('input[name="pod"]', 'tool-0');
    await eventually(async () => (await rows.count()) === 1, 5000, 'one row from tool-0');
    t.regex(await rows.first().locator('td.source').textContent() ?? '', /^shop\/tool-0:\d+ \(\d+\)$/);
    // The graph follows the same filters.
    t.is(await page.locator('g.edge').count(), 1);
    await page.fill('input[name="http-status"]', 'x');
    await eventually(async () => /http-status: "x" is not a non-negative integer/.test(await page.locator('#status').textContent() ?? ''), 5000, 'the filter error shown');
    t.deepEqual(errors, []);
  });
}
