// Flow API helpers for tests: an mTLS trust domain with SVIDs for agents, relay and clients, and reading
// GetFlows into an array or following it.
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/mtls/ca.js';
import { clientCredentials, mtlsFromSvid, type MtlsMaterial } from '../../src/observe/mtls.js';
import type { Flow } from '../../src/observe/flow.js';
import type { FlowFilter } from '../../src/observe/filter.js';
import { observerClient, type GetFlowsResponse } from '../../src/observe/observer-service.js';

export class TrustDomain {
  readonly ca: CertificateAuthority;
  constructor(readonly name = 'weft.test') {
    this.ca = CertificateAuthority.generate({ trustDomain: name });
  }
  material(path: string): MtlsMaterial {
    return mtlsFromSvid(this.ca.issue(`spiffe://${this.name}${path}`), this.ca.root.pem);
  }
}

export type ObserverClient = ReturnType<typeof observerClient>;

export function client(address: string, mtls?: MtlsMaterial): ObserverClient {
  return observerClient(address, mtls ? clientCredentials(mtls) : grpc.credentials.createInsecure());
}

/** GetFlows without follow: every past flow that matches. */
export function getFlows(c: ObserverClient, filter: FlowFilter = {}, number = 0): Promise<Flow[]> {
  return new Promise((resolve, reject) => {
    const out: Flow[] = [];
    const stream = c.GetFlows({ filter, number, follow: false });
    stream.on('data', (r: GetFlowsResponse) => out.push(...r.flows));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/** GetFlows with follow: `flows` fills as they arrive; `stop()` cancels. */
export function follow(c: ObserverClient, filter: FlowFilter = {}): { flows: Flow[]; errors: Error[]; stop(): void } {
  const flows: Flow[] = [];
  const errors: Error[] = [];
  const stream = c.GetFlows({ filter, number: 0, follow: true });
  stream.on('data', (r: GetFlowsResponse) => flows.push(...r.flows));
  stream.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) errors.push(err);
  });
  return { flows, errors, stop: () => stream.cancel() };
}
