// Gateway API extended HTTPRoute features end to end against a real Envoy: RequestMirror (several,
// percentage), CORS (as the conformance suite's HTTPRouteCORS checks it), retry, and backends spoken to
// over h2c and WebSocket (Service port appProtocol). Every test ends with no NACK and nothing warming.
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { assertHealthy, backendYaml, gatewayFixture, gatewayYaml, request, routeConditions, routeYaml } from './helpers/gateway.js';
import { eventually } from './helpers/net.js';

const backendsYaml = (bs: Array<{ name: string; port: number }>): string => bs.map((b) => backendYaml(b)).join('');
const ref = (name: string): string => `    - name: ${name}\n      port: 8080`;

/** Waits until `count()` stops changing between two polls `gapMs` apart (mirrored requests arrive after the replies). */
async function settled(count: () => number, gapMs = 300): Promise<number> {
  for (;;) {
    const before = count();
    await new Promise((r) => setTimeout(r, gapMs));
    if (count() === before) return before;
  }
}

/** A Service on port 8080 with this appProtocol and its EndpointSlice at 127.0.0.1:`port`. */
function appProtocolBackendYaml(name: string, port: number, appProtocol: string): string {
  return backendYaml({ name, port }).replace('    port: 8080\n', `    port: 8080\n    appProtocol: ${appProtocol}\n`);
}

/** Starts a server on 127.0.0.1:0 and closes it (and its connections) with the test. */
async function listenForTest(t: ExecutionContext, server: http.Server | http2.Http2Server, sockets?: Set<net.Socket>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets ?? []) s.destroy();
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

test.serial('RequestMirror: every request reaches the mirror, the client gets the primary reply; an unpermitted mirror is dropped and the primary still serves', async (t) => {
  const { mesh, port, backends, translation } = await gatewayFixture(t, ['primary', 'mirror', 'elsewhere'], (bs, p) =>
    gatewayYaml(p) +
    backendYaml(bs[0]) +
    backendYaml(bs[1]) +
    backendYaml(bs[2], 'other') +
    routeYaml(
      'mirrored',
      `  - matches:
    - path: { type: PathPrefix, value: /mirror }
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: { name: mirror, port: 8080 }
    backendRefs:
${ref('primary')}`,
    ) +
    routeYaml(
      'unpermitted',
      `  - matches:
    - path: { type: PathPrefix, value: /unpermitted }
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: { name: elsewhere, namespace: other, port: 8080 }
    backendRefs:
${ref('primary')}`,
    ),
  );
  const [primary, mirror, elsewhere] = backends;
  t.like(routeConditions(translation, 'mirrored'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  t.like(routeConditions(translation, 'unpermitted'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'False', reason: 'RefNotPermitted' } });
  const n = 20;
  for (let i = 0; i < n; i++) {
    const r = await request(port, { path: `/mirror/${i}` });
    t.deepEqual([r.status, r.backend], [200, 'primary'], 'the client gets the primary backend’s reply');
  }
  await eventually(() => mirror.requests === n, 15_000, `the mirror to see ${n} requests`);
  t.is(primary.requests, n);

  const r = await request(port, { path: '/unpermitted' });
  t.deepEqual([r.status, r.backend], [200, 'primary'], 'an invalid mirror does not break the route');
  t.is(await settled(() => elsewhere.requests), 0, 'the unpermitted mirror target saw nothing');
  t.is(mirror.requests, n);
  await assertHealthy(t, mesh);
});

test.serial('RequestMirror with RequestHeaderModifier: the mirrored request carries the modified headers, as the primary does', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const recorder = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200);
    res.end();
  });
  const recorderPort = await listenForTest(t, recorder);
  const { mesh, port } = await gatewayFixture(t, ['primary'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    backendYaml({ name: 'recorder', port: recorderPort }) +
    routeYaml(
      'mirror-modify',
      `  - matches:
    - path: { type: PathPrefix, value: /mirror-and-modify-headers }
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: X-Header-Set, value: set-overwrites-values }]
        add: [{ name: X-Header-Add, value: header-val-1 }]
        remove: [X-Header-Remove]
    - type: RequestMirror
      requestMirror:
        backendRef: { name: recorder, port: 8080 }
    backendRefs:
${ref('primary')}`,
    ),
  );
  const r = await request(port, { path: '/mirror-and-modify-headers', headers: { 'X-Header-Set': 'some-other-value', 'X-Header-Remove': 'remove-val' } });
  t.deepEqual([r.status, r.backend], [200, 'primary']);
  t.is(r.echo?.headers['x-header-set'], 'set-overwrites-values');
  const [mirrored] = await eventually(() => (seen.length ? seen : undefined), 15_000, 'the mirrored request');
  t.is(mirrored['x-header-set'], 'set-overwrites-values');
  t.is(mirrored['x-header-add'], 'header-val-1');
  t.is(mirrored['x-header-remove'], undefined);
  await assertHealthy(t, mesh);
});

test.serial('RequestMirror: several mirrors on one rule, one at 50% (percent) and one at 1/4 (fraction), within generous bounds over 400 requests', async (t) => {
  const { mesh, port, backends } = await gatewayFixture(t, ['primary', 'all', 'half', 'quarter'], (bs, p) =>
    gatewayYaml(p) +
    backendsYaml(bs) +
    routeYaml(
      'mirrors',
      `  - matches:
    - path: { type: PathPrefix, value: /x }
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: { name: all, port: 8080 }
    - type: RequestMirror
      requestMirror:
        backendRef: { name: half, port: 8080 }
        percent: 50
    - type: RequestMirror
      requestMirror:
        backendRef: { name: quarter, port: 8080 }
        fraction: { numerator: 1, denominator: 4 }
    backendRefs:
${ref('primary')}`,
    ),
  );
  const [primary, all, half, quarter] = backends;
  const n = 400;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => request(port, { path: `/x/${i}` }, agent)));
  t.true(
    replies.every((r) => r.status === 200 && r.backend === 'primary'),
    'every reply comes from the primary',
  );
  await eventually(() => all.requests === n, 15_000, `the 100% mirror to see ${n} requests`);
  const halfCount = await settled(() => half.requests);
  const quarterCount = await settled(() => quarter.requests);
  // Binomial: sd ≈ 10 (50%) and ≈ 8.7 (25%) over 400; ±50 is over 5 sd.
  t.true(Math.abs(halfCount - n / 2) <= 50, `50% mirror saw ${halfCount} of ${n}`);
  t.true(Math.abs(quarterCount - n / 4) <= 50, `1/4 mirror saw ${quarterCount} of ${n}`);
  t.is(primary.requests, n);
  await assertHealthy(t, mesh);
});

const CORS_ROUTES = `  - matches:
    - path: { type: PathPrefix, value: /cors-1 }
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
        allowMethods: [GET, OPTIONS]
        allowHeaders: [x-header-1, x-header-2]
        exposeHeaders: [x-header-3, x-header-4]
        allowCredentials: true
        maxAge: 3600
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /cors-2 }
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://www.foo.com"]
        allowMethods: ["*"]
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /cors-wildcard-origin }
    filters:
    - type: CORS
      cors:
        allowOrigins: ["*"]
        allowMethods: [PUT]
        allowCredentials: false
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /cors-wildcard-methods-headers }
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://other.foo.com"]
        allowMethods: ["*"]
        allowHeaders: ["*"]
        allowCredentials: true
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /cors-wildcard-methods-headers-unauth }
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://other.foo.com"]
        allowMethods: ["*"]
        allowHeaders: ["*"]
    backendRefs:
${ref('echo')}
  - matches:
    - path: { type: PathPrefix, value: /no-cors }
    backendRefs:
${ref('echo')}`;

/** A comma-separated header value as a sorted list, whitespace ignored (as the suite's IgnoreWhitespace). */
const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v.join(',') : (v ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();

test.serial('CORS: preflights and simple requests as the conformance suite (HTTPRouteCORS) checks them', async (t) => {
  const { mesh, port, backends } = await gatewayFixture(t, ['echo'], (bs, p) => gatewayYaml(p) + backendsYaml(bs) + routeYaml('cors', CORS_ROUTES));
  const preflight = (path: string, origin: string, method: string, headers?: string) =>
    request(port, {
      path,
      method: 'OPTIONS',
      headers: { Origin: origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) },
    });

  for (const origin of ['https://www.foo.com', 'https://www.bar.com', 'https://xpto.www.bar.com', 'https://www.foo.com:443']) {
    const r = await preflight('/cors-1', origin, 'GET', 'x-header-1, x-header-2');
    t.true([200, 204].includes(r.status), `preflight from ${origin}: ${r.status}`);
    t.is(r.headers['access-control-allow-origin'], origin, `allowed origin ${origin} is echoed`);
    t.deepEqual(list(r.headers['access-control-allow-methods']), ['GET', 'OPTIONS']);
    t.deepEqual(list(r.headers['access-control-allow-headers']), ['x-header-1', 'x-header-2']);
    t.deepEqual(list(r.headers['access-control-expose-headers']), ['x-header-3', 'x-header-4']);
    t.is(r.headers['access-control-max-age'], '3600');
    t.is(r.headers['access-control-allow-credentials'], 'true');
  }
  const before = backends[0].requests;
  const denied = await preflight('/cors-1', 'https://foobar.com', 'GET');
  t.true([200, 204, 403].includes(denied.status), `preflight from a non-matching origin: ${denied.status}`);
  t.is(denied.headers['access-control-allow-origin'], undefined);
  for (const origin of ['https://bar.com', 'http://www.foo.com', 'https://www.foo.com.evil.com', 'https://evil.com?.bar.com', 'https://evil.com/.bar.com', 'https://www.bar.com:8443']) {
    t.is((await preflight('/cors-1', origin, 'GET')).headers['access-control-allow-origin'], undefined, `${origin} is not allowed`);
  }
  t.is(backends[0].requests, before, 'preflights are answered by the gateway, not forwarded');

  for (const origin of ['https://www.foo.com', 'https://www.bar.com']) {
    const simple = await request(port, { path: '/cors-1', headers: { Origin: origin, 'access-control-request-method': 'GET' } });
    t.deepEqual([simple.status, simple.backend], [200, 'echo']);
    t.is(simple.headers['access-control-allow-origin'], origin, `simple request from ${origin}`);
    t.is(simple.headers['access-control-allow-credentials'], 'true');
    t.deepEqual(list(simple.headers['access-control-expose-headers']), ['x-header-3', 'x-header-4']);
  }
  const simpleDenied = await request(port, { path: '/cors-1', headers: { Origin: 'https://foobar.com' } });
  t.is(simpleDenied.status, 200);
  t.is(simpleDenied.headers['access-control-allow-origin'], undefined, 'simple request from a non-matching origin');

  const post = await preflight('/cors-2', 'https://www.foo.com', 'POST');
  t.true([200, 204].includes(post.status));
  t.true(['POST', '*'].includes(String(post.headers['access-control-allow-methods'])), `allowMethods "*": ${post.headers['access-control-allow-methods']}`);
  t.is(post.headers['access-control-allow-origin'], 'https://www.foo.com');
  t.is(post.headers['access-control-allow-credentials'], undefined, 'no credentials header unless allowCredentials');
  t.is(post.headers['access-control-max-age'], '5', 'maxAge defaults to 5');

  for (const origin of ['https://foobar.com', 'https://foobar.com:12345']) {
    const any = await preflight('/cors-wildcard-origin', origin, 'PUT');
    t.true([200, 204].includes(any.status));
    t.true([origin, '*'].includes(String(any.headers['access-control-allow-origin'])), `wildcard origin, preflight from ${origin}`);
    t.is(any.headers['access-control-allow-methods'], 'PUT');
    t.is(any.headers['access-control-allow-credentials'], undefined);
    const put = await request(port, { path: '/cors-wildcard-origin', method: 'PUT', headers: { Origin: origin } });
    t.is(put.status, 200);
    t.true([origin, '*'].includes(String(put.headers['access-control-allow-origin'])), `wildcard origin, PUT from ${origin}`);
    t.is(put.headers['access-control-allow-credentials'], undefined);
  }

  // Wildcard methods and headers: with credentials the gateway must name the requested ones, not "*".
  const auth = await preflight('/cors-wildcard-methods-headers', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2');
  t.is(auth.status, 200);
  t.is(auth.headers['access-control-allow-origin'], 'https://other.foo.com');
  t.is(auth.headers['access-control-allow-methods'], 'PUT', 'credentialed: the requested method, not "*"');
  t.deepEqual(list(auth.headers['access-control-allow-headers']), ['x-header-1', 'x-header-2'], 'credentialed: the requested headers, not "*"');
  t.is(auth.headers['access-control-allow-credentials'], 'true');
  const unauth = await preflight('/cors-wildcard-methods-headers-unauth', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2');
  t.is(unauth.status, 200);
  t.true(['https://other.foo.com', '*'].includes(String(unauth.headers['access-control-allow-origin'])));
  t.true(['PUT', '*'].includes(String(unauth.headers['access-control-allow-methods'])), `unauth methods: ${unauth.headers['access-control-allow-methods']}`);
  const unauthHeaders = list(unauth.headers['access-control-allow-headers']);
  t.true(['x-header-1,x-header-2', '*'].includes(unauthHeaders.join(',')), `unauth headers: ${unauthHeaders.join(',')}`);
  t.is(unauth.headers['access-control-allow-credentials'], undefined);
  for (const [path, credentials] of [['/cors-wildcard-methods-headers', 'true'], ['/cors-wildcard-methods-headers-unauth', undefined]] as const) {
    const simple = await request(port, { path, headers: { Origin: 'https://other.foo.com', Authorization: 'Bearer test' } });
    t.is(simple.status, 200);
    t.is(simple.headers['access-control-allow-origin'], 'https://other.foo.com', `simple credentialed request on ${path}`);
    t.is(simple.headers['access-control-allow-credentials'], credentials);
  }

  const plain = await request(port, { path: '/no-cors', headers: { Origin: 'https://www.foo.com' } });
  t.is(plain.status, 200);
  t.is(plain.headers['access-control-allow-origin'], undefined, 'a route without CORS adds no CORS headers');
  const plainOptions = await preflight('/no-cors', 'https://www.foo.com', 'GET');
  t.deepEqual([plainOptions.status, plainOptions.backend], [200, 'echo'], 'without CORS an OPTIONS request reaches the backend');
  await assertHealthy(t, mesh);
});

/**
 * A backend that fails the first `fail` attempts of each request key (query `key`, `fail`, `mode`), as the
 * conformance suite's echo-basic retry simulator does: `mode` a status code answers it, `rst` aborts the
 * connection with a TCP RST, `slow` answers only after 5 s (longer than the route's backendRequest timeout).
 * Then it answers 200 `attempt <n>`. `attempts` counts what each key saw.
 */
async function startFlakyBackend(t: ExecutionContext): Promise<{ port: number; attempts: Map<string, number> }> {
  const attempts = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const key = q.get('key') ?? '';
    const seen = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, seen);
    const mode = q.get('mode') ?? '503';
    if (seen > Number(q.get('fail') ?? '0')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`attempt ${seen}`);
    } else if (mode === 'rst') {
      req.socket.resetAndDestroy();
    } else if (mode === 'slow') {
      const timer = setTimeout(() => (timers.delete(timer), res.writeHead(500).end()), 5_000);
      timers.add(timer);
    } else {
      res.writeHead(Number(mode), { 'content-type': 'text/plain' });
      res.end(`attempt ${seen}`);
    }
  });
  t.teardown(() => timers.forEach(clearTimeout));
  return { port: await listenForTest(t, server), attempts };
}

test.serial('retry (HTTPRouteRetry, …BackendTimeout, …ConnectionError): listed codes within attempts, connection resets and backendRequest timeouts retried; an unlisted code and a route without retry are not', async (t) => {
  const { port: flakyPort, attempts } = await startFlakyBackend(t);
  // The upstream HTTPRouteRetry test's two rules, plus connection errors and the backendRequest timeout.
  const rule = (path: string, extra: string): string => `  - matches:\n    - path: { type: PathPrefix, value: ${path} }\n${extra}    backendRefs:\n${ref('flaky')}\n`;
  const { mesh, port, translation } = await gatewayFixture(t, [], (_bs, p) =>
    gatewayYaml(p) +
    backendYaml({ name: 'flaky', port: flakyPort }) +
    routeYaml(
      'retry',
      rule('/code-500-attempts-3', '    retry: { codes: [500], attempts: 3, backoff: 10ms }\n') +
        rule('/code-all-attempts-2', '    retry: { codes: [500, 502, 503, 504], attempts: 2 }\n') +
        rule('/connection-errors', '    retry: { attempts: 2, backoff: 10ms }\n') +
        rule('/backend-timeout', '    retry: { attempts: 2 }\n    timeouts: { request: 10s, backendRequest: 300ms }\n') +
        rule('/no-retry', ''),
    ),
  );
  t.like(routeConditions(translation, 'retry'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  let n = 0;
  /** One request that fails its first `fail` attempts in `mode`; returns the status, body and attempts seen. */
  const attempt = async (path: string, fail: number, mode: string): Promise<[number, string, number]> => {
    const key = `k${++n}`;
    const r = await request(port, { path: `${path}?key=${key}&fail=${fail}&mode=${mode}` });
    return [r.status, r.status === 200 ? r.body : '', attempts.get(key) ?? 0];
  };

  t.deepEqual(await attempt('/code-500-attempts-3', 2, '500'), [200, 'attempt 3', 3], '500 twice, then 200: two retries');
  t.deepEqual(await attempt('/code-500-attempts-3', 4, '500'), [500, '', 4], 'four failures exceed 3 retries: the last 500 is returned');
  t.deepEqual(await attempt('/code-500-attempts-3', 2, '503'), [503, '', 1], '503 is not listed: not retried');
  for (const code of ['500', '502', '503', '504']) {
    t.deepEqual(await attempt('/code-all-attempts-2', 1, code), [200, 'attempt 2', 2], `${code} once, then 200`);
    t.deepEqual(await attempt('/code-all-attempts-2', 3, code), [Number(code), '', 3], `${code} three times exceeds 2 retries`);
  }
  // Connection errors (the spec's SHOULD, HTTPRouteRetryConnectionError): a TCP RST instead of a response.
  t.deepEqual(await attempt('/connection-errors', 2, 'rst'), [200, 'attempt 3', 3], 'two resets, then 200');
  const reset3 = await attempt('/connection-errors', 3, 'rst');
  t.deepEqual([reset3[0], reset3[2]], [503, 3], 'three resets exceed 2 retries: 503');
  t.deepEqual(await attempt('/connection-errors', 1, '500'), [500, '', 1], 'no codes listed: a 500 is not retried');
  // An attempt that reaches the backendRequest timeout is cancelled and retried (HTTPRouteRetryBackendTimeout).
  t.deepEqual(await attempt('/backend-timeout', 2, 'slow'), [200, 'attempt 3', 3], 'two attempts time out, the third answers');
  const slow3 = await attempt('/backend-timeout', 3, 'slow');
  t.deepEqual([slow3[0], slow3[2]], [504, 3], 'every attempt times out: 504');
  // Without a retry stanza nothing is retried.
  const once = await attempt('/no-retry', 1, 'rst');
  t.deepEqual([once[0], once[2]], [503, 1], 'a reset without retry: 503 after one attempt');
  await assertHealthy(t, mesh);
});

test.serial('appProtocol kubernetes.io/h2c: Envoy speaks HTTP/2 in cleartext to the backend', async (t) => {
  const h2 = http2.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: 'h2c', method: req.method, path: req.url, host: req.headers[':authority'] ?? '', headers: req.headers, httpVersion: req.httpVersion }));
  });
  const h2Port = await listenForTest(t, h2);
  const { mesh, port, translation } = await gatewayFixture(t, [], (_bs, p) =>
    gatewayYaml(p) + appProtocolBackendYaml('h2c', h2Port, 'kubernetes.io/h2c') + routeYaml('h2c', `  - backendRefs:\n${ref('h2c')}`),
  );
  t.like(routeConditions(translation, 'h2c'), { Accepted: { status: 'True' }, ResolvedRefs: { status: 'True' } });
  const r = await request(port, { path: '/h2' });
  t.deepEqual([r.status, r.backend], [200, 'h2c'], 'an HTTP/1.1 client reaches the h2c backend');
  t.is((JSON.parse(r.body) as { httpVersion: string }).httpVersion, '2.0', 'the backend saw HTTP/2');
  // An h2c client (prior knowledge) too, as the conformance suite's HTTPRouteBackendProtocolH2C connects.
  const client = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => client.close());
  const body = await new Promise<string>((resolve, reject) => {
    const stream = client.request({ ':path': '/h2', ':authority': 'example.com' });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
    stream.on('error', reject);
    stream.end();
  });
  t.like(JSON.parse(body) as object, { backend: 'h2c', httpVersion: '2.0' });
  await assertHealthy(t, mesh);
});

test.serial('appProtocol kubernetes.io/ws: a WebSocket upgrade reaches the backend and bytes echo both ways', async (t) => {
  const sockets = new Set<net.Socket>();
  const ws = http.createServer((_req, res) => {
    res.writeHead(426);
    res.end();
  });
  ws.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    sockets.add(socket);
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.pipe(socket); // echo whatever arrives (frames are passed through unchanged)
  });
  const wsPort = await listenForTest(t, ws, sockets);
  const { mesh, port } = await gatewayFixture(t, [], (_bs, p) =>
    gatewayYaml(p) + appProtocolBackendYaml('ws', wsPort, 'kubernetes.io/ws') + routeYaml('ws', `  - backendRefs:\n${ref('ws')}`),
  );
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const { status, accept, echoed } = await new Promise<{ status: number; accept: string; echoed: string }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/ws',
      agent: false,
      setHost: false,
      headers: { host: 'example.com', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
    });
    req.on('upgrade', (res, socket: net.Socket) => {
      sockets.add(socket);
      const chunks: Buffer[] = [];
      const payload = 'hello over websocket';
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        const got = Buffer.concat(chunks).toString();
        if (got.length >= payload.length) {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, accept: String(res.headers['sec-websocket-accept']), echoed: got });
        }
      });
      socket.on('error', reject);
      socket.write(payload);
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('upgrade timed out')));
    req.end();
  });
  t.is(status, 101);
  t.is(accept, createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
  t.is(echoed, 'hello over websocket');
  await assertHealthy(t, mesh);
});

test.serial('CORS, mirror and backend timeout together on one rule; a route gaining CORS changes only the route configuration', async (t) => {
  const { mesh, port, backends } = await gatewayFixture(t, ['echo', 'mirror'], (bs, p) =>
    gatewayYaml(p) + backendsYaml(bs) + routeYaml('plain', `  - backendRefs:\n${ref('echo')}`),
  );
  const listenersBefore = mesh.responses.filter((e) => e.typeUrl.endsWith('Listener')).length;
  const yaml =
    gatewayYaml(port) +
    backendsYaml(backends) +
    routeYaml(
      'plain',
      `  - filters:
    - type: CORS
      cors:
        allowOrigins: ["https://app.example"]
        allowMethods: [GET]
    - type: RequestMirror
      requestMirror:
        backendRef: { name: mirror, port: 8080 }
    timeouts:
      backendRequest: 5s
    backendRefs:
${ref('echo')}`,
    );
  const { translateYaml } = await import('../src/standalone/pipeline.js');
  const tr = translateYaml('combined.yaml', yaml);
  t.deepEqual(tr.problems, []);
  mesh.set(tr.resources);
  await mesh.converged();
  t.is(mesh.responses.filter((e) => e.typeUrl.endsWith('Listener')).length, listenersBefore, 'no Listener was pushed again');
  const r = await request(port, { headers: { Origin: 'https://app.example' } });
  t.deepEqual([r.status, r.backend], [200, 'echo']);
  t.is(r.headers['access-control-allow-origin'], 'https://app.example');
  await eventually(() => backends[1].requests >= 1, 15_000, 'the mirror to see the request');
  await assertHealthy(t, mesh);
});
