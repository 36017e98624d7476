// A raw ADS client on @grpc/grpc-js, for tests that drive the xDS server directly (no Envoy): the test
// decides every request, ACK and NACK, and sees every response in order.
import * as grpc from '@grpc/grpc-js';
import type { AggregatedDiscoveryServiceClient } from '../../src/generated/envoy/service/discovery/v3/AggregatedDiscoveryService.js';
import type { DeltaDiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DeltaDiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.js';
import type { DiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse.js';
import type { Any__Output } from '../../src/generated/google/protobuf/Any.js';
import { adsPackageDefinition, decodeMessage } from '../../src/xds/protos.js';
import { TYPE_PREFIX } from '../../src/xds/type-urls.js';

export function adsClient(target: { unix: string } | { port: number }): AggregatedDiscoveryServiceClient {
  const pkg = grpc.loadPackageDefinition(adsPackageDefinition());
  const v3 = ((pkg.envoy as grpc.GrpcObject).service as grpc.GrpcObject).discovery as grpc.GrpcObject;
  const Ctor = (v3.v3 as grpc.GrpcObject).AggregatedDiscoveryService as grpc.ServiceClientConstructor;
  const address = 'unix' in target ? `unix://${target.unix}` : `127.0.0.1:${target.port}`;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as AggregatedDiscoveryServiceClient;
}

/**
 * A packed resource as the client received it: proto-loader (json: true) expands google.protobuf.Any into
 * the message itself plus "@type"; raw bytes are decoded here for the other case.
 */
export function unpack(any: Any__Output): Record<string, unknown> {
  if ('@type' in any) return any as unknown as Record<string, unknown>;
  const { type_url: typeUrl, value } = any;
  return decodeMessage(typeUrl.slice(TYPE_PREFIX.length), value);
}

/** The name inside a packed resource (ClusterLoadAssignment names itself by cluster_name). */
export function resourceName(any: Any__Output): string {
  const message = unpack(any);
  const name = message.name ?? message.cluster_name;
  return typeof name === 'string' ? name : '';
}

interface Waiter<T> {
  match: (r: T) => boolean;
  resolve: (r: T) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One bidirectional stream; responses are queued, and each is handed out once by next(). */
class RawStream<Req, Res extends { type_url: string; nonce: string }> {
  /** Every response, in order of arrival. */
  readonly received: Res[] = [];
  private readonly unread: Res[] = [];
  private readonly waiters: Waiter<Res>[] = [];
  private sentNode = false;
  readonly status: Promise<grpc.StatusObject>;
  error: Error | undefined;
  ended = false;

  constructor(readonly call: grpc.ClientDuplexStream<Req, Res>, readonly nodeId: string, readonly nodeCluster = 'test') {
    call.on('data', (r: Res) => {
      this.received.push(r);
      const i = this.waiters.findIndex((w) => w.match(r));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(r);
      } else {
        this.unread.push(r);
      }
    });
    call.on('error', (e: Error) => {
      this.error = e;
    });
    call.on('end', () => {
      this.ended = true;
    });
    this.status = new Promise((resolve) => call.on('status', resolve));
  }

  protected withNode<T extends object>(req: T): T & { node?: { id: string; cluster: string } } {
    if (this.sentNode) return req;
    this.sentNode = true;
    return { ...req, node: { id: this.nodeId, cluster: this.nodeCluster } };
  }

  protected write(req: Req): void {
    this.call.write(req);
  }

  /** The next unread response of `typeUrl` (any type when omitted); waits for it up to `timeoutMs`. */
  next(typeUrl?: string, timeoutMs = 10_000): Promise<Res> {
    const match = (r: Res): boolean => typeUrl === undefined || r.type_url === typeUrl;
    const i = this.unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter<Res> = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`no ${typeUrl ?? 'response'} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Unread responses of `typeUrl` (of any type when omitted), without consuming them. */
  pending(typeUrl?: string): Res[] {
    return this.unread.filter((r) => typeUrl === undefined || r.type_url === typeUrl);
  }

  /** Waits `ms` and returns the responses of `typeUrl` that arrived meanwhile and are unread (expected: none). */
  async quiet(ms: number, typeUrl?: string): Promise<Res[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.pending(typeUrl);
  }

  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}

export class SotwClient extends RawStream<DiscoveryRequest, DiscoveryResponse__Output> {
  constructor(client: AggregatedDiscoveryServiceClient, nodeId: string, nodeCluster?: string) {
    super(client.StreamAggregatedResources(), nodeId, nodeCluster);
    this.call.on('error', () => {});
  }

  request(typeUrl: string, names: string[] = [], extra: Partial<DiscoveryRequest> = {}): void {
    this.write(this.withNode({ type_url: typeUrl, resource_names: names, ...extra }));
  }

  /** ACKs `response`, optionally changing the subscription in the same request. */
  ack(response: DiscoveryResponse__Output, names: string[] = []): void {
    this.request(response.type_url, names, { version_info: response.version_info, response_nonce: response.nonce });
  }

  nack(response: DiscoveryResponse__Output, message: string, previousVersion = '', names: string[] = []): void {
    this.request(response.type_url, names, { version_info: previousVersion, response_nonce: response.nonce, error_detail: { code: 3, message } });
  }
}

export class DeltaClient extends RawStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse__Output> {
  constructor(client: AggregatedDiscoveryServiceClient, nodeId: string, nodeCluster?: string) {
    super(client.DeltaAggregatedResources(), nodeId, nodeCluster);
    this.call.on('error', () => {});
  }

  request(typeUrl: string, extra: Partial<DeltaDiscoveryRequest> = {}): void {
    this.write(this.withNode({ type_url: typeUrl, ...extra }));
  }

  subscribe(typeUrl: string, names: string[], extra: Partial<DeltaDiscoveryRequest> = {}): void {
    this.request(typeUrl, { resource_names_subscribe: names, ...extra });
  }

  ack(response: DeltaDiscoveryResponse__Output, extra: Partial<DeltaDiscoveryRequest> = {}): void {
    this.request(response.type_url, { response_nonce: response.nonce, ...extra });
  }

  nack(response: DeltaDiscoveryResponse__Output, message: string): void {
    this.request(response.type_url, { response_nonce: response.nonce, error_detail: { code: 3, message } });
  }
}

/** Names of the resources in a SotW or delta response. */
export function namesIn(response: DiscoveryResponse__Output | DeltaDiscoveryResponse__Output): string[] {
  if ('version_info' in response) return response.resources.map(resourceName).sort();
  return response.resources.map((r) => r.name).sort();
}
