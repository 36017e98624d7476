// headerMatches mismatch actions against a real Envoy, as Cilium's proxy applies them (see
// src/l7policy/header-actions.ts): the backend echoes the headers it received, so each case shows what the
// node proxy added, deleted or replaced; LOG shows in the access log; a headerMatch without an action is a
// condition (403 on a mismatch).
import test from 'ava';
import type { EchoReply } from './helpers/echo-backend.js';
import { eventually } from './helpers/net.js';
import { l7Fixture, pod } from './helpers/l7policy.js';

/** The cases' HTTP rules (under `toPorts`), the same on ingress and on egress. */
const actionRules = (port: number): string => `
    - ports: [{ port: "${port}", protocol: TCP }]
      rules:
        http:
        - { path: /log, headerMatches: [{ name: X-Want, value: "yes", mismatch: LOG }] }
        - { path: /add, headerMatches: [{ name: X-Add, value: added, mismatch: ADD }] }
        - { path: /delete, headerMatches: [{ name: X-Del, value: good, mismatch: DELETE }] }
        - { path: /replace, headerMatches: [{ name: X-Rep, secret: { name: token }, mismatch: REPLACE }] }
        - { path: /strict, headerMatches: [{ name: X-Strict, value: "yes" }] }
        - { path: /gated, headers: ["X-Gate: open"], headerMatches: [{ name: X-Gated, value: set, mismatch: REPLACE }] }
        - { path: /gated }
        - { path: /seq, headerMatches: [{ name: X-Seq, value: a, mismatch: ADD }] }
        - { path: "/seq.*", headerMatches: [{ name: X-Seq, value: b, mismatch: ADD }] }`;

const clients = (net: string): string => `
apiVersion: v1
kind: Secret
metadata: { name: token, namespace: default }
stringData: { value: from-secret }
---
${pod('client', `${net}.10`, { app: 'client' })}---
${pod('admin', `${net}.12`, { app: 'admin' })}`;

/** The server's ingress rules. */
const policies = (net: string, port: number): string => `${clients(net)}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: actions, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:${actionRules(port)}
  - fromEndpoints: [{ matchLabels: { app: admin } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }] }]
  - fromEndpoints: [{ matchLabels: { app: admin } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ headerMatches: [{ name: X-Admin, value: "yes", mismatch: ADD }] }] }
`;

/** The admin's egress: an L4-only allow to the server, and an ADD action on the same port. */
const adminEgressActions = (port: number): string => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: admin-actions, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: admin } }
  egress:
  - toEndpoints: [{ matchLabels: { app: server } }]
    toPorts: [{ ports: [{ port: "${port}", protocol: TCP }] }]
  - toEndpoints: [{ matchLabels: { app: server } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ headerMatches: [{ name: X-Admin, value: "yes", mismatch: ADD }] }] }
`;

/** The same rules as the clients' egress rules towards the server (which has no policy of its own). */
const egressPolicies = (net: string, port: number): string => `${clients(net)}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-actions, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toEndpoints: [{ matchLabels: { app: server } }]
    toPorts:${actionRules(port)}
---
${adminEgressActions(port)}`;

interface Case {
  name: string;
  from?: string;
  path: string;
  headers?: Record<string, string>;
  status?: number;
  /** The header the case is about and what the backend must receive (undefined: absent). */
  header?: string;
  received?: string;
}

const cases: Case[] = [
  { name: 'LOG: a mismatch is forwarded unchanged', path: '/log', headers: { 'x-want': 'no' }, header: 'x-want', received: 'no' },
  { name: 'LOG: a missing header stays missing', path: '/log', header: 'x-want', received: undefined },
  { name: 'LOG: a match is forwarded unchanged', path: '/log', headers: { 'x-want': 'yes' }, header: 'x-want', received: 'yes' },
  { name: 'ADD: a missing header is added', path: '/add', header: 'x-add', received: 'added' },
  { name: 'ADD: a wrong value gets the expected one besides it', path: '/add', headers: { 'x-add': 'wrong' }, header: 'x-add', received: 'wrong, added' },
  { name: 'ADD: a match is unchanged', path: '/add', headers: { 'x-add': 'added' }, header: 'x-add', received: 'added' },
  { name: 'DELETE: a wrong value is removed', path: '/delete', headers: { 'x-del': 'bad' }, header: 'x-del', received: undefined },
  { name: 'DELETE: a match is kept', path: '/delete', headers: { 'x-del': 'good' }, header: 'x-del', received: 'good' },
  { name: 'REPLACE (value from a Secret): a wrong value is replaced', path: '/replace', headers: { 'x-rep': 'guess' }, header: 'x-rep', received: 'from-secret' },
  { name: 'REPLACE: a missing header is set', path: '/replace', header: 'x-rep', received: 'from-secret' },
  { name: 'REPLACE: a match is unchanged', path: '/replace', headers: { 'x-rep': 'from-secret' }, header: 'x-rep', received: 'from-secret' },
  { name: 'no action: a mismatch fails the rule', path: '/strict', headers: { 'x-strict': 'no' }, status: 403 },
  { name: 'no action: a match is allowed', path: '/strict', headers: { 'x-strict': 'yes' }, header: 'x-strict', received: 'yes' },
  { name: "actions run only when their rule's other conditions hold", path: '/gated', headers: { 'x-gated': 'other' }, header: 'x-gated', received: 'other' },
  { name: 'actions of a rule whose conditions hold', path: '/gated', headers: { 'x-gate': 'open', 'x-gated': 'other' }, header: 'x-gated', received: 'set' },
  { name: 'every matching rule runs its actions, in order, on the headers as the previous left them', path: '/seq', header: 'x-seq', received: 'a, b' },
  { name: 'only the matching rule of two runs its actions', path: '/seq/x', header: 'x-seq', received: 'b' },
  { name: 'an L4-only rule allows the request; the L7 rule for the same peer still runs its actions (Cilium)', from: 'admin', path: '/anything', header: 'x-admin', received: 'yes' },
];

for (const [direction, yaml] of [['ingress', policies], ['egress', egressPolicies]] as const) {
  test(`headerMatches mismatch actions (${direction} rules): what the backend receives`, async (t) => {
    const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${yaml(net, port)}`);
    t.deepEqual(f.translation.problems, []);
    for (const c of cases) {
      const from = c.from === 'admin' ? `${f.net}.12` : `${f.net}.10`;
      const r = await f.request({ from, path: c.path, headers: c.headers });
      t.is(r.status, c.status ?? 200, `${c.name}: ${r.status} ${r.body.slice(0, 80)}`);
      if (r.status !== 200 || !c.header) continue;
      const echo = JSON.parse(r.body) as EchoReply;
      t.is(echo.headers[c.header], c.received, c.name);
    }
    const { nacks, warming } = await f.mesh.healthy();
    t.deepEqual(nacks, []);
    t.deepEqual(warming, []);
  });
}

test('standalone: a client\'s egress actions that run under an L4-only allow still give the destination a listener', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---
${pod('admin', `${net}.12`, { app: 'admin' })}---
${adminEgressActions(port)}`);
  t.deepEqual(f.translation.problems, []);
  const r = await f.request({ from: `${f.net}.12`, path: '/anything' });
  t.is(r.status, 200);
  t.is((JSON.parse(r.body) as EchoReply).headers['x-admin'], 'yes');
});

test('egress actions run before the destination\'s rules, which see the edited request; both log their mismatches, in order', async (t) => {
  // The client's egress rule sets X-Token (REPLACE); the server admits only requests that carry it (no action).
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---
${pod('client', `${net}.10`, { app: 'client' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-token, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: client } }
  egress:
  - toEndpoints: [{ matchLabels: { app: server } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ path: "/api.*", headerMatches: [{ name: X-Token, value: t0k, mismatch: REPLACE }] }, { path: /other }] }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server-token, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules: { http: [{ path: "/api.*", headers: ["X-Token: t0k"], headerMatches: [{ name: X-Seen, value: "yes", mismatch: LOG }] }, { path: /other, headers: ["X-Token: t0k"] }] }
`);
  t.deepEqual(f.translation.problems, []);
  const from = `${f.net}.10`;
  const api = await f.request({ from, path: '/api/x', headers: { 'x-token': 'guess' } });
  t.is(api.status, 200, 'the client\'s proxy replaced the token before the server\'s rules saw it');
  t.is((JSON.parse(api.body) as EchoReply).headers['x-token'], 't0k');
  const other = await f.request({ from, path: '/other', headers: { 'x-token': 'guess' } });
  t.is(other.status, 403, 'no egress action on /other: the server\'s rule sees the wrong token');
  t.is(other.body.trim(), 'Access denied');
  const [entry] = await eventually(() => {
    const found = f.log().filter((e) => e.path === '/api/x');
    return found.length ? found : undefined;
  }, 10_000, 'the access log line of /api/x');
  t.deepEqual(entry.headerMismatches, [{ action: 'REPLACE', header: 'x-token' }, { action: 'LOG', header: 'x-seen' }], 'the client\'s action first, then the server\'s');
});

test('headerMatches mismatches show in the access log (LOG, and the actions that edited the request)', async (t) => {
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---\n${policies(net, port)}`);
  const from = `${f.net}.10`;
  await f.request({ from, path: '/log', headers: { 'x-want': 'no' } });
  await f.request({ from, path: '/delete', headers: { 'x-del': 'bad' } });
  await f.request({ from, path: '/add', headers: { 'x-add': 'added' } });
  await f.request({ from, path: '/seq' });
  const entries = await eventually(() => {
    const log = f.log();
    return log.length >= 4 ? log : undefined;
  }, 10_000, 'four access log lines');
  const find = (path: string) => entries.find((e) => e.path === path)!;
  t.like(find('/log'), { verdict: 'FORWARDED', headerMismatches: [{ action: 'LOG', header: 'x-want' }] });
  t.like(find('/delete'), { verdict: 'FORWARDED', headerMismatches: [{ action: 'DELETE', header: 'x-del' }] });
  t.deepEqual(find('/add').headerMismatches, [], 'a match is not a mismatch');
  t.deepEqual(find('/seq').headerMismatches, [{ action: 'ADD', header: 'x-seq' }, { action: 'ADD', header: 'x-seq' }]);
});

test('many rules with actions and distinct literal paths: each request runs only its own rule', async (t) => {
  const rules = Array.from({ length: 40 }, (_, i) => `        - { path: /p${i}, headerMatches: [{ name: X-P${i}, value: "v${i}", mismatch: ADD }] }`).join('\n');
  const f = await l7Fixture(t, ({ net, port, serverPod }) => `${serverPod()}---
${pod('client', `${net}.10`, { app: 'client' })}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: many, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${port}", protocol: TCP }]
      rules:
        http:
${rules}
`);
  t.deepEqual(f.translation.problems, []);
  for (const i of [0, 17, 39]) {
    const r = await f.request({ from: `${f.net}.10`, path: `/p${i}` });
    t.is(r.status, 200);
    const added = Object.entries((JSON.parse(r.body) as EchoReply).headers).filter(([k]) => k.startsWith('x-p'));
    t.deepEqual(added, [[`x-p${i}`, `v${i}`]]);
  }
  t.is((await f.request({ from: `${f.net}.10`, path: '/p40' })).status, 403);
});
