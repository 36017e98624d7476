// The mutual-auth path of the standalone connectivity test: a second node namespace joined to the first by a
// veth, an echo backend on its loopback, and on each node a mesh Envoy: node 1's outbound listener (on the node
// address, where the client pod sends) picks the client workload's SVID by the pod's source address and opens
// mutual TLS to node 2's inbound listener, which checks the SVID against the trust bundle and passes the
// verified identity to the backend. SVIDs come from a CA generated in memory for this run only.
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '../mtls/ca.js';
import { meshIdentities, meshResources, meshSecrets, type MeshNodeView } from '../mtls/mesh-resources.js';
import type { Cleanup } from './cleanup.js';
import type { StandaloneEnv } from './checks/env.js';
import { MeshEnvoy } from './mesh-envoy.js';
import { NODE_IP, type Pod, type PodNetwork } from './namespaces.js';

const TRUST_DOMAIN = 'connectivity.weft.local';
export const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/ns/weft-connectivity/sa/client`;
export const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/weft-connectivity/sa/echo`;
const HOST = 'echo.weft-connectivity';
const OUTBOUND_PORT = 15001;
const INBOUND_PORT = 15008;
const BACKEND_PORT = 8081;
const echoMain = fileURLToPath(new URL('./echo-main.js', import.meta.url));

export interface MeshSetup {
  runId: string;
  net: PodNetwork;
  client: Pod;
  clientPlace: StandaloneEnv['client'];
  dir: string;
  cleanup: Cleanup;
  /** Fault injection: node 2 trusts another CA, so the handshake must fail. */
  untrustedClient?: boolean;
}

export async function setUpMesh(o: MeshSetup): Promise<StandaloneEnv['mutualAuth']> {
  const node2 = await o.net.addPeerNode('node2');
  await o.net.spawnReady({ netns: node2.netns }, [process.execPath, echoMain, 'echo-mtls', String(BACKEND_PORT), '127.0.0.1'], 'listening');
  const ca = CertificateAuthority.generate({ trustDomain: TRUST_DOMAIN });
  const svids = new Map([CLIENT_ID, SERVER_ID].map((id) => [id, ca.issue(id)]));
  const bundle = ca.root.pem;
  const node2Bundle = o.untrustedClient ? CertificateAuthority.generate({ trustDomain: TRUST_DOMAIN }).root.pem : bundle;
  const view1: MeshNodeView = {
    trustDomain: TRUST_DOMAIN,
    outbound: { address: NODE_IP, port: OUTBOUND_PORT, sources: [{ id: CLIENT_ID, sources: [o.client.ip] }], services: [{ host: HOST, node: { address: node2.ip, port: INBOUND_PORT }, id: SERVER_ID }] },
  };
  const view2: MeshNodeView = { trustDomain: TRUST_DOMAIN, inbound: { address: node2.ip, port: INBOUND_PORT, services: [{ host: HOST, id: SERVER_ID, backend: { address: '127.0.0.1', port: BACKEND_PORT } }] } };
  const resources = (view: MeshNodeView, bundlePem: string) => [...meshResources(view), ...meshSecrets(TRUST_DOMAIN, new Map(meshIdentities(view).map((id) => [id, svids.get(id)!])), bundlePem)];
  const envoy1 = new MeshEnvoy(o.net.node, `weft-connectivity-${o.runId}-mesh-node1`, o.dir, o.runId);
  const envoy2 = new MeshEnvoy(node2.netns, `weft-connectivity-${o.runId}-mesh-node2`, o.dir, o.runId);
  await Promise.all([envoy1.start(resources(view1, bundle), o.cleanup), envoy2.start(resources(view2, node2Bundle), o.cleanup)]);
  return { url: `http://${NODE_IP}:${OUTBOUND_PORT}/mutual-auth`, host: HOST, from: o.clientPlace, backend: 'echo-mtls', serverId: SERVER_ID, clientId: CLIENT_ID };
}
