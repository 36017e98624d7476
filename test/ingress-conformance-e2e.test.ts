// The upstream Ingress conformance features (kubernetes-sigs/ingress-controller-conformance:
// features/path_rules, host_rules, default_backend, ingress_class and load_balancing), scenario by scenario,
// against `weft run` and the real Envoy. Each feature has a runner of its own, as the suite gives each
// its own namespace and nothing else on the address. host_rules sends plain HTTP to a TLS host and
// expects it served: that needs force-https off (Weft redirects TLS hosts by default, as Cilium does
// with enforceHttps), so that feature runs with --no-ingress-enforce-https.
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { IngressOptions } from '../src/ingress/options.js';
import { StandaloneRunner } from '../src/standalone/runner.js';
import type net from 'node:net';
import type { EchoBackend, EchoReply } from './helpers/echo-backend.js';
import { freePort } from './helpers/net.js';
import { startedAndReady } from './helpers/standalone.js';
import { CertFactory, tlsSecretYaml } from './helpers/tls.js';

interface Answer {
  status: number;
  reply?: EchoReply;
  headers: http.IncomingHttpHeaders;
  httpVersion: string;
}

function send(method: string, port: number, host: string, urlPath: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: host ? { host } : {}, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let reply: EchoReply | undefined;
        try {
          reply = JSON.parse(Buffer.concat(chunks).toString()) as EchoReply;
        } catch {
          // not from a backend
        }
        resolve({ status: res.statusCode ?? 0, ...(reply ? { reply } : {}), headers: res.headers, httpVersion: res.httpVersion });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** An echo backend as the suite's (ingress-conformance-echo): a JSON answer with an explicit Content-Length. */
async function startConformanceEcho(name: string): Promise<EchoBackend> {
  const backend: EchoBackend = { name, port: 0, requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    backend.requests++;
    const reply: EchoReply = { backend: name, method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '', headers: req.headers };
    const body = JSON.stringify(reply);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return backend;
}

function serviceYaml(namespace: string, b: EchoBackend): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${b.name}, namespace: ${namespace} }
spec: { ports: [{ name: http, port: 8080, targetPort: ${b.port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${b.name}, namespace: ${namespace}, labels: { kubernetes.io/service-name: ${b.name} } }
addressType: IPv4
ports: [{ name: http, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`;
}

const CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: weft, annotations: { ingressclass.kubernetes.io/is-default-class: "true" } }
spec: { controller: weft.dev/ingress-controller }
`;

async function feature(t: ExecutionContext, namespace: string, backends: string[], ingress: string, extra: string[] = [], ingressOptions: Partial<IngressOptions> = {}): Promise<{ httpPort: number; httpsPort: number; runner: StandaloneRunner }> {
  const echoes = await Promise.all(backends.map((n) => startConformanceEcho(n)));
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-ingress-conformance-'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  writeFileSync(path.join(dir, 'manifests.yaml'), [CLASS, ...echoes.map((b) => serviceYaml(namespace, b)), ingress, ...extra].join('---\n'));
  const runner = new StandaloneRunner({ dir, logger: pino({ level: 'silent' }), print: () => {}, nodeId: `weft-ingress-conf-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, translate: { ingress: { httpPort, httpsPort, ...ingressOptions } } });
  t.teardown(async () => {
    await runner.stop();
    await Promise.all(echoes.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  await runner.start();
  await startedAndReady(runner);
  t.deepEqual(runner.last!.problems, []);
  // "Then The Ingress status shows the IP address or FQDN where it is exposed"
  const status = runner.last!.statuses.find((s) => s.kind === 'Ingress')!.status as { loadBalancer: { ingress?: Array<{ ip: string }> } };
  t.is(status.loadBalancer.ingress?.[0]?.ip, '127.0.0.1');
  return { httpPort, httpsPort, runner };
}

test('conformance: path_rules.feature', async (t) => {
  const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: path-rules, namespace: conformance-paths }
spec:
  rules:
    - host: "exact-path-rules"
      http: { paths: [{ path: /foo, pathType: Exact, backend: { service: { name: foo-exact, port: { number: 8080 } } } }] }
    - host: "prefix-path-rules"
      http:
        paths:
          - { path: /foo, pathType: Prefix, backend: { service: { name: foo-prefix, port: { number: 8080 } } } }
          - { path: /aaa/bbb, pathType: Prefix, backend: { service: { name: aaa-slash-bbb-prefix, port: { number: 8080 } } } }
          - { path: /aaa, pathType: Prefix, backend: { service: { name: aaa-prefix, port: { number: 8080 } } } }
    - host: "mixed-path-rules"
      http:
        paths:
          - { path: /foo, pathType: Prefix, backend: { service: { name: foo-prefix, port: { number: 8080 } } } }
          - { path: /foo, pathType: Exact, backend: { service: { name: foo-exact, port: { number: 8080 } } } }
    - host: "trailing-slash-path-rules"
      http:
        paths:
          - { path: /aaa/bbb/, pathType: Prefix, backend: { service: { name: aaa-slash-bbb-slash-prefix, port: { number: 8080 } } } }
          - { path: /foo/, pathType: Exact, backend: { service: { name: foo-slash-exact, port: { number: 8080 } } } }
`;
  // ingress_class.feature rides along: an Ingress of another class is not served and gets no status.
  const otherClass = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: test-ingress-class, namespace: conformance-paths }
spec:
  ingressClassName: some-invalid-class-name
  rules:
    - host: "ingress-class"
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: foo-prefix, port: { number: 8080 } } } }] }
`;
  const { httpPort, runner } = await feature(t, 'conformance-paths', ['foo-exact', 'foo-prefix', 'aaa-slash-bbb-prefix', 'aaa-prefix', 'aaa-slash-bbb-slash-prefix', 'foo-slash-exact'], ingress, [otherClass]);
  t.false(runner.last!.statuses.some((s) => s.name === 'test-ingress-class'), 'ingress_class: the Ingress status should not contain the IP address or FQDN');
  t.is((await send('GET', httpPort, 'ingress-class', '/')).status, 404, 'ingress_class: not served');
  const scenarios: Array<[string, string, string, number, string?]> = [
    ['exact /foo matches request /foo', 'exact-path-rules', '/foo', 200, 'foo-exact'],
    ['exact /foo does not match request /foo/', 'exact-path-rules', '/foo/', 404],
    ['exact /foo does not match request /FOO', 'exact-path-rules', '/FOO', 404],
    ['exact /foo does not match request /bar', 'exact-path-rules', '/bar', 404],
    ['prefix /foo matches request /foo', 'prefix-path-rules', '/foo', 200, 'foo-prefix'],
    ['prefix /foo matches request /foo/', 'prefix-path-rules', '/foo/', 200, 'foo-prefix'],
    ['prefix /foo does not match request /FOO', 'prefix-path-rules', '/FOO', 404],
    ['prefix /aaa/bbb matches request /aaa/bbb', 'prefix-path-rules', '/aaa/bbb', 200, 'aaa-slash-bbb-prefix'],
    ['prefix /aaa/bbb matches request /aaa/bbb/ccc', 'prefix-path-rules', '/aaa/bbb/ccc', 200, 'aaa-slash-bbb-prefix'],
    ['prefix /aaa matches request /aaa/ccc', 'prefix-path-rules', '/aaa/ccc', 200, 'aaa-prefix'],
    ['prefix /aaa does not match request /aaaccc', 'prefix-path-rules', '/aaaccc', 404],
    ['exact /foo matches request /foo (mixed)', 'mixed-path-rules', '/foo', 200, 'foo-exact'],
    ['prefix /aaa/bbb/ matches request /aaa/bbb', 'trailing-slash-path-rules', '/aaa/bbb', 200, 'aaa-slash-bbb-slash-prefix'],
    ['prefix /aaa/bbb/ matches request /aaa/bbb/', 'trailing-slash-path-rules', '/aaa/bbb/', 200, 'aaa-slash-bbb-slash-prefix'],
    ['exact /foo/ does not match request /foo', 'trailing-slash-path-rules', '/foo', 404],
  ];
  for (const [name, host, p, status, backend] of scenarios) {
    const a = await send('GET', httpPort, host, p);
    t.is(a.status, status, name);
    if (backend) {
      t.is(a.reply?.backend, backend, `${name}: served by ${backend}`);
      t.is(a.reply?.path, p, `${name}: the request path must be ${p}`);
    }
  }
});

test('conformance: host_rules.feature (with force-https off)', async (t) => {
  const certs = new CertFactory();
  t.teardown(() => certs.close());
  const cert = certs.leaf('foo.bar.com', ['foo.bar.com']);
  const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: host-rules, namespace: conformance-hosts }
spec:
  tls: [{ hosts: [foo.bar.com], secretName: conformance-tls }]
  rules:
    - host: "*.foo.com"
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: wildcard-foo-com, port: { number: 8080 } } } }] }
    - host: foo.bar.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: foo-bar-com, port: { name: http } } } }] }
`;
  const { httpPort, httpsPort } = await feature(t, 'conformance-hosts', ['wildcard-foo-com', 'foo-bar-com'], ingress, [tlsSecretYaml('conformance-hosts', 'conformance-tls', cert)], { enforceHttps: false });

  // https://foo.bar.com: the connection verifies the foo.bar.com hostname (chain and name checked by Node).
  const secure = await new Promise<{ status: number; reply: EchoReply }>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: httpsPort, path: '/', servername: 'foo.bar.com', headers: { host: 'foo.bar.com' }, ca: cert.cert, rejectUnauthorized: true, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reply: JSON.parse(Buffer.concat(chunks).toString()) as EchoReply }));
    });
    req.on('error', reject);
  });
  t.is(secure.status, 200, 'host foo.bar.com matches request https://foo.bar.com');
  t.is(secure.reply.backend, 'foo-bar-com');
  t.is(secure.reply.host, 'foo.bar.com');

  const scenarios: Array<[string, string, number, string?]> = [
    ['host foo.bar.com matches request foo.bar.com', 'foo.bar.com', 200, 'foo-bar-com'],
    ['host foo.bar.com does not match request subdomain.bar.com', 'subdomain.bar.com', 404],
    ['Matches based on shared suffix', 'bar.foo.com', 200, 'wildcard-foo-com'],
    ['No match, wildcard only covers a single DNS label (baz.bar.foo.com)', 'baz.bar.foo.com', 404],
    ['No match, wildcard only covers a single DNS label (foo.com)', 'foo.com', 404],
  ];
  for (const [name, host, status, backend] of scenarios) {
    const a = await send('GET', httpPort, host, '/');
    t.is(a.status, status, name);
    if (backend) {
      t.is(a.reply?.backend, backend, name);
      t.is(a.reply?.host, host, `${name}: the request host must be ${host}`);
    }
  }
});

test('conformance: default_backend.feature', async (t) => {
  const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: default-backend, namespace: conformance-default }
spec:
  defaultBackend: { service: { name: echo-service, port: { number: 8080 } } }
`;
  const { httpPort } = await feature(t, 'conformance-default', ['echo-service'], ingress);
  const examples: Array<[string, string, string]> = [
    ['GET', 'my-host', ''],
    ['GET', 'my-host', 'sub-path'],
    ['POST', 'some-host', ''],
    ['PUT', '', 'resource'],
    ['DELETE', 'some-host', 'resource'],
    ['PATCH', 'my-host', 'resource'],
  ];
  for (const [method, host, p] of examples) {
    const name = `${method} http://${host}/${p}`;
    const a = await send(method, httpPort, host, `/${p}`);
    t.is(a.status, 200, name);
    t.is(a.reply?.backend, 'echo-service', name);
    t.is(a.httpVersion, '1.1', `${name}: response proto HTTP/1.1`);
    for (const h of ['content-length', 'content-type', 'date', 'server']) t.truthy(a.headers[h], `${name}: response header ${h}`);
    t.is(a.reply?.method, method, `${name}: request method`);
    t.is(a.reply?.path, `/${p}`, `${name}: request path`);
  }
});

test('conformance: load_balancing.feature (10 endpoints, 100 requests)', async (t) => {
  const pods = await Promise.all(Array.from({ length: 10 }, (_, i) => startConformanceEcho(`echo-service-pod-${i}`)));
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-ingress-conformance-'));
  const httpPort = await freePort();
  // One EndpointSlice per pod: all on 127.0.0.1, each on its own port.
  const slices = pods.map((p, i) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-service-${i}, namespace: conformance-lb, labels: { kubernetes.io/service-name: echo-service } }
addressType: IPv4
ports: [{ name: http, port: ${p.port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`);
  const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: load-balancing, namespace: conformance-lb }
spec:
  defaultBackend: { service: { name: echo-service, port: { number: 8080 } } }
`;
  const service = `apiVersion: v1
kind: Service
metadata: { name: echo-service, namespace: conformance-lb }
spec: { ports: [{ name: http, port: 8080, targetPort: 8080 }] }
`;
  writeFileSync(path.join(dir, 'manifests.yaml'), [CLASS, service, ...slices, ingress].join('---\n'));
  const runner = new StandaloneRunner({ dir, logger: pino({ level: 'silent' }), print: () => {}, nodeId: `weft-ingress-conf-lb-${process.pid}`, translate: { ingress: { httpPort, httpsPort: await freePort() } } });
  t.teardown(async () => {
    await runner.stop();
    await Promise.all(pods.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  await runner.start();
  await startedAndReady(runner);
  t.deepEqual(runner.last!.problems, []);
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const a = await send('GET', httpPort, 'load-balancing', '/');
    t.is(a.status, 200);
    if (a.reply) seen.add(a.reply.backend);
  }
  t.is(seen.size, 10, 'the responses come from 10 different pods');
});
