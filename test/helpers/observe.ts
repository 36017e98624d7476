// Flow API helpers for tests: an mTLS trust domain with SVIDs for agents, relay and clients, and reading
// GetFlows into an array or following it.
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { FlowAgent } from '../../src/observe/agent.js';
import { directoryFromIdentities, serviceRecords } from '../../src/observe/directory-sources.js';
import { Relay } from '../../src/observe/relay.js';
import { classifyManifests } from '../../src/sources/kinds.js';
import { parseManifests } from '../../src/sources/manifests.js';
import { translateYaml, type Translation } from '../../src/standalone/pipeline.js';
import { startEchoBackend } from './echo-backend.js';
import { addressBlock } from './l7policy.js';
import { Mesh } from './mesh.js';
import { freePort } from './net.js';
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

/** An SVID as the files `weft ca issue` writes (svid.pem, svid.key, bundle.pem), in root/name. */
export function writeTls(root: string, name: string, m: MtlsMaterial): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(path.join(dir, 'svid.pem'), m.chainPem);
  writeFileSync(path.join(dir, 'svid.key'), m.keyPem, { mode: 0o600 });
  writeFileSync(path.join(dir, 'bundle.pem'), m.bundlePem);
  return dir;
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

export interface L7FlowFixture {
  agent: FlowAgent;
  relay: Relay;
  translation: Translation;
  td: TrustDomain;
  /** The server pod's address and its L7-enforced port. */
  server: string;
  port: number;
}

/**
 * A node proxy (real Envoy) enforcing L7 policy on one server pod, a flow agent (node-1) following its access log
 * file, and a relay following that agent, all with mutual TLS. `yaml` gets the server pod's address,
 * port and the annotation line naming the echo backend that stands for its application.
 */
export async function l7FlowFixture(t: ExecutionContext, yaml: (ctx: { net: string; server: string; port: number; backendAnnotation: string }) => string): Promise<L7FlowFixture> {
  const td = new TrustDomain();
  const agent = await FlowAgent.start({ node: 'node-1', listen: '127.0.0.1:0', mtls: td.material('/weft/agent/node-1') });
  t.teardown(() => agent.stop());
  const logDir = mkdtempSync(path.join(tmpdir(), 'weft-l7-flows-'));
  t.teardown(() => rmSync(logDir, { recursive: true, force: true }));
  const accessLogPath = path.join(logDir, 'l7-access.log');
  agent.followL7AccessLog(accessLogPath);
  const backend = await startEchoBackend('app');
  t.teardown(() => backend.close());
  const port = await freePort();
  const net = addressBlock();
  const text = yaml({ net, server: `${net}.2`, port, backendAnnotation: `annotations: { weft.dev/standalone-backends: "${port}=127.0.0.1:${backend.port}" }` });
  const translation = translateYaml('flows.yaml', text, { l7: { accessLogPath, accessLogForFlows: true } });
  if (translation.problems.length > 0) throw new Error(`fixture problems: ${JSON.stringify(translation.problems)}`);
  agent.directory = directoryFromIdentities('node-1', translation.l7!.table, serviceRecords(classifyManifests(parseManifests('flows.yaml', text).manifests).inputs.services));
  const mesh = new Mesh({ protocol: 'delta' });
  t.teardown(() => mesh.stop());
  await mesh.start(translation.resources);
  await mesh.converged();
  const relay = await Relay.start({ agents: [`127.0.0.1:${agent.observerPort}`], listen: '127.0.0.1:0', mtls: td.material('/weft/relay') });
  t.teardown(() => relay.stop());
  return { agent, relay, translation, td, server: `${net}.2`, port };
}
