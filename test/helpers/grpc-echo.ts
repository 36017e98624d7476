// A gRPC echo backend and client for GRPCRoute tests, on 127.0.0.1: the conformance suite's service
// gateway_api_conformance.echo_basic.grpcecho.GrpcEcho (Echo, EchoTwo, EchoThree), each answering with
// the backend's name, the method it was called as, the :authority and the request metadata.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ECHO_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
export const ECHO_METHODS = ['Echo', 'EchoTwo', 'EchoThree'] as const;
/**
 * Other service names every backend also answers (with the same methods), so that a call no route
 * matches is told apart from one a backend does not implement: only Envoy answers those UNIMPLEMENTED.
 */
export const OTHER_SERVICES = ['other.Service', 'other.ServiceX', 'another.Svc'];

const PROTO = `syntax = "proto3";
package gateway_api_conformance.echo_basic.grpcecho;

message EchoRequest {}

message Header {
  string key = 1;
  string value = 2;
}

message EchoResponse {
  string backend = 1;
  string method = 2;
  string authority = 3;
  repeated Header headers = 4;
}

service GrpcEcho {
  rpc Echo(EchoRequest) returns (EchoResponse);
  rpc EchoTwo(EchoRequest) returns (EchoResponse);
  rpc EchoThree(EchoRequest) returns (EchoResponse);
}
`;

export interface EchoResponse {
  backend: string;
  /** "/<service>/<method>" as the backend was called. */
  method: string;
  authority: string;
  headers: Array<{ key: string; value: string }>;
}

interface MethodDef {
  path: string;
  requestSerialize: (v: object) => Buffer;
  responseDeserialize: (b: Buffer) => EchoResponse;
}

/** The service definition, loaded from the proto above written to a temporary file (removed at once). */
function loadService(): grpc.ServiceDefinition {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-grpc-echo-'));
  try {
    const file = path.join(dir, 'grpcecho.proto');
    writeFileSync(file, PROTO);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, { keepCase: true, defaults: true })) as unknown as {
      gateway_api_conformance: { echo_basic: { grpcecho: { GrpcEcho: grpc.ServiceClientConstructor } } };
    };
    return pkg.gateway_api_conformance.echo_basic.grpcecho.GrpcEcho.service;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let service: grpc.ServiceDefinition | undefined;
function echoService(): grpc.ServiceDefinition {
  service ??= loadService();
  return service;
}

export interface GrpcEchoBackend {
  name: string;
  port: number;
  calls: number;
  close(): Promise<void>;
}

export async function startGrpcEchoBackend(name: string): Promise<GrpcEchoBackend> {
  const server = new grpc.Server();
  const backend: GrpcEchoBackend = { name, port: 0, calls: 0, close: async () => {} };
  const handler: grpc.handleUnaryCall<object, EchoResponse> = (call, callback) => {
    backend.calls++;
    const headers = Object.entries(call.metadata.getMap()).map(([key, value]) => ({ key, value: String(value) }));
    callback(null, { backend: name, method: call.getPath(), authority: call.getHost(), headers });
  };
  const handlers = Object.fromEntries(ECHO_METHODS.map((m) => [m, handler]));
  server.addService(echoService(), handlers);
  for (const other of OTHER_SERVICES) {
    const renamed = Object.fromEntries(Object.entries(echoService()).map(([m, def]) => [m, { ...def, path: `/${other}/${m}` }]));
    server.addService(renamed, handlers);
  }
  backend.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  backend.close = () =>
    new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      setTimeout(() => server.forceShutdown(), 1000).unref();
    });
  return backend;
}

export interface CallResult {
  /** grpc.status code: 0 OK, 12 UNIMPLEMENTED, 14 UNAVAILABLE… */
  code: number;
  response?: EchoResponse;
  /** Response headers (initial metadata) the client got, when any. */
  responseHeaders: Record<string, string>;
}

/** A plain-text (h2c) gRPC client of 127.0.0.1:`port` with :authority `authority`; closed with close(). */
export class GrpcEchoClient {
  private readonly client: grpc.Client;

  constructor(port: number, authority: string) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  }

  /**
   * Calls `/<service>/<method>` (any service and method; the messages are the echo service's), with the
   * given request metadata; resolves with the gRPC status, never rejects on a non-OK status.
   */
  call(method: string, metadata: Record<string, string> = {}, service = ECHO_SERVICE): Promise<CallResult> {
    const def = echoService().Echo as unknown as MethodDef;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    return new Promise((resolve) => {
      const responseHeaders: Record<string, string> = {};
      const call = this.client.makeUnaryRequest(
        `/${service}/${method}`,
        def.requestSerialize,
        def.responseDeserialize,
        {},
        md,
        { deadline: Date.now() + 20_000 },
        (err: grpc.ServiceError | null, response?: EchoResponse) => resolve({ code: err ? err.code : grpc.status.OK, response, responseHeaders }),
      );
      call.on('metadata', (m: grpc.Metadata) => {
        for (const [k, v] of Object.entries(m.getMap())) responseHeaders[k] = String(v);
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
