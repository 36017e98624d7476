// The SPIFFE Workload API over UNIX sockets, checked with an independent client (go-spiffe, built
// from its Go module) and with grpc-js for what go-spiffe always does right (the security header).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { CertificateAuthority } from '../src/mtls/ca.js';
import { TrustDomainAuthority } from '../src/mtls/trust-bundle.js';
import { SECURITY_HEADER, WorkloadApiServer, workloadApiService } from '../src/mtls/workload-api.js';
import { buildGoClient, goMissing, runGoClient, type ClientLine } from './helpers/mtls-go-client.js';

const TD = 'cluster.local';
const WEB = `spiffe://${TD}/ns/default/sa/web`;
const API = `spiffe://${TD}/ns/shop/sa/api`;

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();

async function fixture(t: { teardown(fn: () => Promise<void> | void): void }, ttlMs?: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-wlapi-'));
  const authority = new TrustDomainAuthority(CertificateAuthority.generate({ trustDomain: TD }));
  const server = new WorkloadApiServer(authority);
  t.teardown(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const web = await server.serve({ id: WEB, dir: path.join(dir, 'web'), ...(ttlMs ? { ttlMs } : {}) });
  const api = await server.serve({ id: API, dir: path.join(dir, 'api') });
  return { dir, authority, server, web, api };
}

const missing = goMissing();
const goClient = missing ? '' : buildGoClient();
/** Tests that need the Go client are skipped, with the reason printed, where Go is missing. */
const goTest = missing ? test.skip : test;
if (missing) console.log(`mtls-workload-api: go-spiffe tests skipped: ${missing}`);

goTest('go-spiffe fetches and verifies the SVID of its socket, and the bundles; one identity per socket in a 0700 directory', async (t) => {
  const { authority, web, api } = await fixture(t);
  t.is(statSync(path.dirname(web)).mode & 0o777, 0o700);
  const root = fingerprint(authority.ca.root.pem);

  const [fetched] = await runGoClient(goClient, ['fetch'], web);
  t.is(fetched.event, 'x509context', fetched.error);
  t.is(fetched.svids?.length, 1);
  t.like(fetched.svids?.[0], { id: WEB, certs: 2, verified: WEB });
  t.deepEqual(fetched.bundles, { [`spiffe://${TD}`]: [root] });
  const [other] = await runGoClient(goClient, ['fetch'], api);
  t.like(other.svids?.[0], { id: API, verified: API }, 'the other socket serves the other identity');

  const [bundles] = await runGoClient(goClient, ['bundles'], web);
  t.deepEqual(bundles, { event: 'bundles', bundles: { [`spiffe://${TD}`]: [root] } });
});

goTest('go-spiffe watching: a renewal at half-life and a CA rotation each stream a new SVID that verifies; the bundle keeps both roots', async (t) => {
  // A 6 s lifetime: renewed 3 s after issuance.
  const { authority, web } = await fixture(t, 6000);
  const oldRoot = fingerprint(authority.ca.root.pem);
  const watching = runGoClient(goClient, ['watch', '3'], web, 30_000);
  // Rotate the CA once the first renewal has happened.
  await new Promise((r) => setTimeout(r, 4500));
  authority.rotate(CertificateAuthority.generate({ trustDomain: TD }));
  const newRoot = fingerprint(authority.ca.root.pem);
  const lines: ClientLine[] = await watching;
  t.is(lines.length, 3, JSON.stringify(lines));
  for (const l of lines) t.like(l.svids?.[0], { id: WEB, verified: WEB }, JSON.stringify(l));
  t.is(new Set(lines.map((l) => l.svids?.[0].serial)).size, 3, 'three distinct SVIDs: initial, renewed, re-issued by the new CA');
  t.deepEqual(lines[0].bundles, { [`spiffe://${TD}`]: [oldRoot] });
  t.deepEqual(lines[1].bundles, { [`spiffe://${TD}`]: [oldRoot] });
  t.deepEqual(lines[2].bundles, { [`spiffe://${TD}`]: [newRoot, oldRoot] }, 'after a CA rotation both roots are trusted');
});

test('a request without the workload.spiffe.io security header is refused with INVALID_ARGUMENT; unserved profiles are UNIMPLEMENTED', async (t) => {
  const { web } = await fixture(t);
  const Client = grpc.makeGenericClientConstructor(workloadApiService(), 'SpiffeWorkloadAPI');
  const client = new Client(`unix:${web}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const call = (method: string, metadata: grpc.Metadata): Promise<{ data?: { svids?: Array<{ spiffe_id: string }>; bundles?: Record<string, Buffer> }; code?: number; details?: string }> =>
    new Promise((resolve) => {
      const stream = (client as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<never>>)[method]({}, metadata);
      stream.once('data', (data: { svids?: Array<{ spiffe_id: string }>; bundles?: Record<string, Buffer> }) => {
        resolve({ data });
        stream.cancel();
      });
      stream.once('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
    });
  const withHeader = new grpc.Metadata();
  withHeader.set(SECURITY_HEADER, 'true');
  const wrongValue = new grpc.Metadata();
  wrongValue.set(SECURITY_HEADER, 'yes');
  for (const method of ['FetchX509SVID', 'FetchX509Bundles']) {
    t.deepEqual(await call(method, new grpc.Metadata()), { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' }, method);
    t.deepEqual(await call(method, wrongValue), { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' }, method);
  }
  const ok = await call('FetchX509SVID', withHeader);
  t.is(ok.data?.svids?.[0].spiffe_id, WEB);
  const bundles = await call('FetchX509Bundles', withHeader);
  t.deepEqual(Object.keys(bundles.data?.bundles ?? {}), [`spiffe://${TD}`]);
  // The JWT profile is not served.
  const jwt = await new Promise<grpc.ServiceError>((resolve) => {
    client.makeUnaryRequest('/SpiffeWorkloadAPI/FetchJWTSVID', () => Buffer.alloc(0), (b: Buffer) => b, {}, withHeader, (err) => resolve(err!));
  });
  t.is(jwt.code, grpc.status.UNIMPLEMENTED);
});
