// Ingress through `weft run` against the real Envoy: hosts (exact, wildcard covering one label, none),
// the three path types with the spec's precedence, defaultBackend, Service ports by name, a missing
// Service, dedicated mode on an address of its own, and a live edit.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { StandaloneRunner } from '../src/standalone/runner.js';
import type { IngressOptions } from '../src/ingress/options.js';
import { startEchoBackend, type EchoBackend, type EchoReply } from './helpers/echo-backend.js';
import { freePort } from './helpers/net.js';
import { gatewayYaml, readyAfter, replaceFile, serviceYaml, startedAndReady } from './helpers/standalone.js';

interface HostReply {
  status: number;
  backend: string;
  path: string;
}

/** GET http://address:port/path with a Host header; the echo backend's name, or '' for an Envoy reply. */
function getHost(address: string, port: number, host: string, urlPath: string): Promise<HostReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path: urlPath, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        let reply: Partial<EchoReply> = {};
        try {
          reply = JSON.parse(Buffer.concat(chunks).toString()) as EchoReply;
        } catch {
          // not an echo reply
        }
        resolve({ status: res.statusCode ?? 0, backend: reply.backend ?? '', path: reply.path ?? '' });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${urlPath}: timed out`)));
    req.on('error', reject);
  });
}

const CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: weft
  annotations: { ingressclass.kubernetes.io/is-default-class: "true" }
spec: { controller: weft.dev/ingress-controller }
`;

const SITE = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: site, namespace: default }
spec:
  defaultBackend: { service: { name: fallback, port: { name: http } } }
  rules:
  - host: foo.example.com
    http:
      paths:
      - { path: /login, pathType: Exact, backend: { service: { name: login, port: { number: 80 } } } }
      - { path: /api/, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }
      - { path: '/items/[0-9]+', pathType: ImplementationSpecific, backend: { service: { name: items, port: { number: 80 } } } }
      - { path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }
      - { path: /gone, pathType: Prefix, backend: { service: { name: missing, port: { number: 80 } } } }
  - host: "*.wild.test"
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: wild, port: { number: 80 } } } }
  - http:
      paths:
      - { path: /status, pathType: Exact, backend: { service: { name: app, port: { number: 80 } } } }
`;

const BACKENDS = ['login', 'api', 'items', 'app', 'wild', 'fallback', 'own'];

interface Fixture {
  dir: string;
  runner: StandaloneRunner;
  backends: EchoBackend[];
  options: Partial<IngressOptions> & { httpPort: number };
}

async function fixture(t: ExecutionContext, files: Record<string, string>): Promise<Fixture> {
  const backends = await Promise.all(BACKENDS.map((n) => startEchoBackend(n)));
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-ingress-e2e-'));
  writeFileSync(path.join(dir, 'backends.yaml'), serviceYaml(backends));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  // A pool of its own per test run, so that parallel runs do not pick the same dedicated address.
  const options = { httpPort: await freePort(), httpsPort: await freePort(), dedicatedPool: `127.0.${10 + (process.pid % 200)}.0/24` };
  const logger = pino({ level: 'silent' });
  const runner = new StandaloneRunner({ dir, logger, print: () => {}, nodeId: `weft-ingress-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, translate: { ingress: options } });
  t.teardown(async () => {
    await runner.stop();
    await Promise.all(backends.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  await runner.start();
  await startedAndReady(runner);
  return { dir, runner, backends, options };
}

test('hosts, path types, precedence and defaultBackend as the Ingress spec defines them', async (t) => {
  const { runner, options } = await fixture(t, { 'class.yaml': CLASS, 'site.yaml': SITE });
  const port = options.httpPort;
  const ask = (host: string, p: string): Promise<HostReply> => getHost('127.0.0.1', port, host, p);
  const expectations: Array<[string, string, string]> = [
    // Exact matches the path only, not with a trailing slash.
    ['foo.example.com', '/login', 'login'],
    ['foo.example.com', '/login/', 'app'],
    ['foo.example.com', '/login?next=/x', 'login'],
    // Prefix /api/ matches whole elements, with or without the trailing slash.
    ['foo.example.com', '/api', 'api'],
    ['foo.example.com', '/api/', 'api'],
    ['foo.example.com', '/api/v1/users', 'api'],
    ['foo.example.com', '/apiv1', 'app'],
    // ImplementationSpecific: a regular expression over the whole path.
    ['foo.example.com', '/items/42', 'items'],
    ['foo.example.com', '/items/42/x', 'app'],
    ['foo.example.com', '/items/abc', 'app'],
    // The port in Host does not matter; host names are case-insensitive.
    [`foo.example.com:${port}`, '/login', 'login'],
    ['FOO.Example.com', '/login', 'login'],
    // *.wild.test covers exactly one label.
    ['a.wild.test', '/anything', 'wild'],
    ['A.Wild.Test', '/anything', 'wild'],
    ['b.a.wild.test', '/anything', 'fallback'],
    ['wild.test', '/anything', 'fallback'],
    // Rules without host apply to every host; then the defaultBackend (its port named "http").
    ['other.test', '/status', 'app'],
    ['other.test', '/status/x', 'fallback'],
    ['b.a.wild.test', '/status', 'app'],
    ['other.test', '/', 'fallback'],
  ];
  for (const [host, p, backend] of expectations) {
    const r = await ask(host, p);
    t.is(r.status, 200, `${host}${p}`);
    t.is(r.backend, backend, `${host}${p} → ${backend}`);
  }
  // The path reaches the backend as it was asked for.
  t.is((await ask('foo.example.com', '/api/v1/users?x=1')).path, '/api/v1/users?x=1');
  // A path whose Service does not exist answers 503, and the problem names the field.
  t.is((await ask('foo.example.com', '/gone/x')).status, 503);
  t.true(runner.last!.problems.some((p) => p.object === 'Ingress default/site' && p.field === 'spec.rules[0].http.paths[4].backend.service' && /Service default\/missing not found/.test(p.message)));
  t.deepEqual(runner.nacks, []);
});

test('dedicated mode: an address of its own from the pool, shown in status; the shared address does not serve it', async (t) => {
  const own = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: own
  namespace: default
  annotations: { ingress.weft.dev/loadbalancer-mode: dedicated }
spec:
  defaultBackend: { service: { name: own, port: { number: 80 } } }
`;
  const { runner, options } = await fixture(t, { 'class.yaml': CLASS, 'site.yaml': SITE, 'own.yaml': own });
  const status = runner.last!.statuses.find((s) => s.kind === 'Ingress' && s.name === 'own')!.status as { loadBalancer: { ingress: Array<{ ip: string; ports: Array<{ port: number }> }> } };
  const address = status.loadBalancer.ingress[0].ip;
  t.regex(address, new RegExp(`^127\\.0\\.${10 + (process.pid % 200)}\\.\\d+$`));
  t.is(status.loadBalancer.ingress[0].ports[0].port, options.httpPort);
  const dedicated = await getHost(address, options.httpPort, 'any.test', '/x');
  t.is(dedicated.backend, 'own');
  // The shared address keeps the shared Ingress's defaultBackend.
  t.is((await getHost('127.0.0.1', options.httpPort, 'any.test', '/x')).backend, 'fallback');
  // The site Ingress is not served on the dedicated address.
  t.is((await getHost(address, options.httpPort, 'foo.example.com', '/login')).backend, 'own');
});

test('an edited Ingress is served after the reload; an invalid edit leaves that Ingress out and the others serving', async (t) => {
  const { dir, runner, options } = await fixture(t, { 'class.yaml': CLASS, 'site.yaml': SITE });
  const port = options.httpPort;
  let gen = runner.generation;
  const extra = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: extra, namespace: default }
spec:
  rules:
  - host: extra.test
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: own, port: { number: 80 } } } }
`;
  replaceFile(path.join(dir, 'extra.yaml'), extra);
  await readyAfter(runner, gen);
  t.is((await getHost('127.0.0.1', port, 'extra.test', '/')).backend, 'own');

  gen = runner.generation;
  replaceFile(path.join(dir, 'extra.yaml'), extra.replace('pathType: Prefix', 'pathType: Prefix, bogus: 1'));
  await readyAfter(runner, gen);
  t.is((await getHost('127.0.0.1', port, 'extra.test', '/')).backend, 'fallback', 'the invalid Ingress is left out');
  t.true(runner.last!.problems.some((p) => p.object === 'Ingress default/extra' && p.field === 'spec.rules[0].http.paths[0].bogus'));
  t.is((await getHost('127.0.0.1', port, 'foo.example.com', '/login')).backend, 'login', 'the other Ingress still serves');
  t.deepEqual(runner.nacks, []);
});

test('a Gateway listener and the shared Ingress address on one socket: the Gateway serves, the Ingress is reported, Envoy rejects nothing', async (t) => {
  const { dir, runner, options } = await fixture(t, { 'class.yaml': CLASS, 'site.yaml': SITE });
  const port = options.httpPort;
  t.is((await getHost('127.0.0.1', port, 'foo.example.com', '/login')).backend, 'login');
  const gen = runner.generation;
  replaceFile(path.join(dir, 'gateway.yaml'), `${gatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: all, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: own, port: 80 }] }]
`);
  await readyAfter(runner, gen);
  t.is((await getHost('127.0.0.1', port, 'foo.example.com', '/login')).backend, 'own', 'the Gateway route serves the socket');
  t.true(runner.last!.problems.some((p) => p.object === 'Ingress default/site' && p.message.includes(`127.0.0.1:${port} is also a listener of Gateway default/gw (listener http)`)));
  const status = runner.last!.statuses.find((s) => s.kind === 'Ingress' && s.name === 'site')!.status;
  t.deepEqual(status, { loadBalancer: {} });
  t.deepEqual(runner.nacks, []);
});
