// The SPIFFE Workload API (X.509-SVID profile) over gRPC on UNIX sockets: FetchX509SVID and
// FetchX509Bundles, each a stream that sends the full state at once and again on every change (SVID
// renewal, CA rotation, bundle change), as the Workload API spec §4.3 requires.
//
// Caller attestation in standalone mode: grpc-js does not expose the peer credentials of a UNIX
// socket (SO_PEERCRED), so the server cannot tell callers apart on one socket. Instead each workload
// gets its own socket, bound to exactly one SPIFFE ID; who may call is decided by who can reach the
// socket: it is created inside a directory of mode 0700 (to be chowned to the workload's user, or
// mounted into only that workload). Kubernetes mode will attest callers per pod instead.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { SvidRotator } from './svid-rotator.js';
import type { X509Svid } from './svid.js';
import type { TrustDomainAuthority } from './trust-bundle.js';

/** The security header every Workload API request must carry (SPIFFE Workload Endpoint spec §4). */
export const SECURITY_HEADER = 'workload.spiffe.io';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The .proto lives in src/ (tsc does not copy it); from dist/src/mtls that is three levels up. */
export const WORKLOAD_PROTO = path.resolve(here, '..', '..', '..', 'src', 'mtls', 'proto', 'workload.proto');

interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
interface X509BundlesResponse {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}

let serviceDefinition: grpc.ServiceDefinition | undefined;
export function workloadApiService(): grpc.ServiceDefinition {
  if (!serviceDefinition) {
    const pkg = protoLoader.loadSync(WORKLOAD_PROTO, { keepCase: true, longs: String, defaults: true });
    serviceDefinition = (grpc.loadPackageDefinition(pkg).SpiffeWorkloadAPI as grpc.ServiceClientConstructor).service;
  }
  return serviceDefinition;
}

/** The SPIFFE ID a Workload API socket serves; the socket file is `<dir>/agent.sock`. */
export interface WorkloadSocket {
  id: SpiffeId | string;
  /** A directory created for this socket with mode 0700; the socket is `agent.sock` in it. */
  dir: string;
  /** SVID lifetime (default 1 h). */
  ttlMs?: number;
}

export class WorkloadApiServer {
  readonly #servers: grpc.Server[] = [];
  readonly #rotators: SvidRotator[] = [];
  readonly log: Logger;

  constructor(readonly authority: TrustDomainAuthority, opts: { log?: Logger } = {}) {
    this.log = opts.log ?? silentLogger;
  }

  /** Serves `socket.id` on its own UNIX socket; resolves with the socket's path. */
  async serve(socket: WorkloadSocket): Promise<string> {
    const id = typeof socket.id === 'string' ? parseSpiffeId(socket.id) : socket.id;
    if (id.trustDomain !== this.authority.trustDomain) throw new Error(`Workload API socket ${socket.dir}: ${id.uri} is not in trust domain ${this.authority.trustDomain}`);
    mkdirSync(socket.dir, { recursive: true, mode: 0o700 });
    chmodSync(socket.dir, 0o700);
    const socketPath = path.join(socket.dir, 'agent.sock');
    rmSync(socketPath, { force: true });
    const rotator = new SvidRotator(this.authority, id, socket.ttlMs);
    rotator.on('svid', (svid) => this.log.info({ svid }, 'SVID renewed'));
    this.#rotators.push(rotator);
    const server = new grpc.Server();
    server.addService(workloadApiService(), {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, X509SvidResponse>) => this.stream(call, rotator, () => this.svidResponse(rotator.svid)),
      FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, X509BundlesResponse>) => this.stream(call, rotator, () => this.bundlesResponse()),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.#servers.push(server);
    this.log.info({ id: id.uri, socket: socketPath }, 'Workload API serving');
    return socketPath;
  }

  private stream<T>(call: grpc.ServerWritableStream<unknown, T>, rotator: SvidRotator, message: () => T): void {
    if (call.metadata.get(SECURITY_HEADER)[0] !== 'true') {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' } satisfies Partial<grpc.StatusObject>);
      return;
    }
    call.write(message());
    // A CA rotation changes the SVID and the bundle at once: one message carries both.
    let pending = false;
    const send = (): void => {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        if (!call.cancelled) call.write(message());
      });
    };
    rotator.on('svid', send);
    rotator.on('bundle', send);
    const stop = (): void => {
      rotator.off('svid', send);
      rotator.off('bundle', send);
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  }

  private bundles(): Record<string, Buffer> {
    return { [`spiffe://${this.authority.trustDomain}`]: this.authority.bundleDer() };
  }

  private svidResponse(svid: X509Svid): X509SvidResponse {
    return {
      svids: [{ spiffe_id: svid.id.uri, x509_svid: Buffer.concat(svid.chain), x509_svid_key: svid.privateKeyDer(), bundle: this.authority.bundleDer(), hint: '' }],
      crl: [],
      federated_bundles: {},
    };
  }

  private bundlesResponse(): X509BundlesResponse {
    return { crl: [], bundles: this.bundles() };
  }

  async close(): Promise<void> {
    for (const r of this.#rotators) r.stop();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))));
    for (const s of this.#servers) s.forceShutdown();
  }
}
