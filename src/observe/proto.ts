// The gRPC services flows use, loaded with proto-loader: Weft's observe API (proto/weft/observe/v1) and
// Envoy's access log service (from the Envoy API tree @grpc/grpc-js-xds ships).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoIncludeDirs } from '../xds/protos.js';
import type { Flow } from './flow.js';
import { decodeFlowsResponse, encodeFlowsResponse } from './flow-encoding.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** proto/ is not copied by tsc; from dist/src/observe it is three levels up. */
export const OBSERVE_PROTO = path.resolve(here, '..', '..', '..', 'proto', 'weft', 'observe', 'v1', 'observe.proto');

const OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

let observer: grpc.ServiceClientConstructor | undefined;
let accessLog: grpc.ServiceClientConstructor | undefined;

type Namespace = Record<string, unknown>;
const lookup = (root: grpc.GrpcObject, dotted: string): grpc.ServiceClientConstructor =>
  dotted.split('.').reduce<unknown>((o, k) => (o as Namespace)[k], root) as grpc.ServiceClientConstructor;

export function observerService(): grpc.ServiceClientConstructor {
  if (observer) return observer;
  observer = lookup(grpc.loadPackageDefinition(protoLoader.loadSync(OBSERVE_PROTO, OPTIONS)), 'weft.observe.v1.Observer');
  // The follow stream's cost is encoding; see flow-encoding.ts.
  observer.service.GetFlows.responseSerialize = (value: { flows: Flow[]; lost: number }) => encodeFlowsResponse(value);
  observer.service.GetFlows.responseDeserialize = (buf: Buffer) => decodeFlowsResponse(buf);
  return observer;
}

export function accessLogService(): grpc.ServiceClientConstructor {
  accessLog ??= lookup(
    grpc.loadPackageDefinition(protoLoader.loadSync('envoy/service/accesslog/v3/als.proto', { ...OPTIONS, includeDirs: protoIncludeDirs() })),
    'envoy.service.accesslog.v3.AccessLogService',
  );
  return accessLog;
}
