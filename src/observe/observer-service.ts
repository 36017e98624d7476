// The weft.observe.v1.Observer service over a flow ring: an agent serves its own ring, the relay its merged
// one. Past flows go out in chunks; followers get each new batch that matches, and a follower whose stream
// is not draining loses flows (counted in the next response's `lost`) rather than holding up ingestion.
import * as grpc from '@grpc/grpc-js';
import type { Flow } from './flow.js';
import { compileFilter, type FlowFilter } from './filter.js';
import type { FlowRing } from './flow-ring.js';
import { authorizedPeer, serverCredentials, type MtlsMaterial } from './mtls.js';
import { observerService } from './proto.js';

export interface GetFlowsRequest {
  filter: FlowFilter | null;
  number: number;
  follow: boolean;
}
export interface GetFlowsResponse {
  flows: Flow[];
  lost: number;
}
export interface NodeInfo {
  name: string;
  address: string;
  connected: boolean;
  flows_seen: number;
  ring_capacity: number;
  error: string;
}

/** Flows per message: well under gRPC's default 4 MiB receive limit (a flow encodes to ~200 bytes). */
const CHUNK = 2048;
/** Flows held for one follower whose stream is not draining. */
const MAX_PENDING = 131_072;

export interface ObserverOptions {
  ring: FlowRing;
  nodes: () => NodeInfo[];
  /** With mutual TLS, calls from peers outside the trust domain are refused. */
  mtls?: MtlsMaterial;
}

function refuse(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>, o: ObserverOptions): grpc.ServiceError | undefined {
  if (!o.mtls || authorizedPeer(call, o.mtls)) return undefined;
  return Object.assign(new Error('the client presented no SPIFFE ID of this trust domain'), { code: grpc.status.PERMISSION_DENIED, details: 'the client presented no SPIFFE ID of this trust domain', metadata: new grpc.Metadata() });
}

export function getFlows(o: ObserverOptions, call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>): void {
  const denied = refuse(call, o);
  if (denied) {
    call.destroy(denied);
    return;
  }
  const match = compileFilter(call.request.filter);
  // In time order: the relay's ring interleaves nodes, and an agent's L7 entries arrive after their start.
  const past = o.ring.recent(match, call.request.number).sort((a, b) => a.time_ms - b.time_ms);
  for (let i = 0; i < past.length; i += CHUNK) call.write({ flows: past.slice(i, i + CHUNK), lost: 0 });
  const until = call.request.filter?.until_ms ?? 0;
  if (!call.request.follow || (until > 0 && until <= Date.now())) {
    call.end();
    return;
  }
  // Following up to a time in the future: the stream ends then.
  const deadline = until > 0 ? setTimeout(() => {
    stop();
    call.end();
  }, until - Date.now()) : undefined;
  // A follower whose stream is not draining gets what piles up meanwhile in one message when it drains, up
  // to MAX_PENDING flows; beyond that flows are lost to it (and counted), never held against ingestion.
  let lost = 0;
  let pending: Flow[] | undefined;
  /** Writes `flows` in messages of at most CHUNK flows while the stream takes them; keeps the rest pending. */
  const send = (flows: Flow[]): void => {
    for (let i = 0; i < flows.length; i += CHUNK) {
      const more = call.write({ flows: flows.length <= CHUNK ? flows : flows.slice(i, i + CHUNK), lost });
      lost = 0;
      if (!more) {
        pending = flows.slice(i + CHUNK);
        call.once('drain', () => {
          const batch = pending!;
          pending = undefined;
          send(batch);
        });
        return;
      }
    }
  };
  const unsubscribe = o.ring.subscribe((batch) => {
    const matching = batch.filter(match);
    if (matching.length === 0) return;
    if (!pending) return send(matching);
    const room = MAX_PENDING - pending.length;
    if (matching.length > room) lost += matching.length - room;
    for (let i = 0; i < Math.min(room, matching.length); i++) pending.push(matching[i]);
  });
  const stop = (): void => {
    clearTimeout(deadline);
    unsubscribe();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
}

export function observerImplementation(o: ObserverOptions): grpc.UntypedServiceImplementation {
  return {
    GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>) => getFlows(o, call),
    GetNodes: (call: grpc.ServerUnaryCall<unknown, { nodes: NodeInfo[] }>, callback: grpc.sendUnaryData<{ nodes: NodeInfo[] }>) => {
      const denied = refuse(call, o);
      if (denied) callback(denied);
      else callback(null, { nodes: o.nodes() });
    },
  };
}

/** Serves the Observer service on `address` (host:port; port 0 picks one); resolves with the bound port. */
export async function serveObserver(o: ObserverOptions, address: string, extra?: (server: grpc.Server) => void): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(observerService().service, observerImplementation(o));
  extra?.(server);
  const credentials = o.mtls ? serverCredentials(o.mtls) : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** A client of an Observer (agent or relay). */
export function observerClient(address: string, credentials: grpc.ChannelCredentials): grpc.Client & {
  GetFlows(req: Partial<GetFlowsRequest>): grpc.ClientReadableStream<GetFlowsResponse>;
  GetNodes(req: object, cb: (err: grpc.ServiceError | null, res?: { nodes: NodeInfo[] }) => void): void;
} {
  const Ctor = observerService();
  // SVIDs name no host (the check is on the SPIFFE ID), and an IP address is no TLS server name.
  return new Ctor(address, credentials, { 'grpc.keepalive_time_ms': 30_000, 'grpc.ssl_target_name_override': 'weft-observe' }) as unknown as ReturnType<typeof observerClient>;
}
