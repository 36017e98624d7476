// The node agents' own identity on the local cluster, as the Helm chart gives it (charts/weft/templates/rbac.yaml):
// the ServiceAccount weft-agent with the agent's ClusterRole, and for each node a ServiceAccount token bound to that
// Node object (TokenRequest), in a kubeconfig of its own. With a bound token the API server records the node in the
// requester's extra["authentication.kubernetes.io/node-name"], which is what the operator checks before it signs a
// node's mesh intermediate (src/kubernetes/mesh-intermediate-signer.ts); and the agent cannot read the mesh CA
// Secret (the root key) any more than the chart's agents can.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { NodeNetwork } from './nodes.js';

export const AGENT_SERVICE_ACCOUNT = 'weft-agent';
/** A dev cluster lives for days at most; the token of a node outlives it. */
const TOKEN_SECONDS = 7 * 24 * 3600;

/**
 * The agent's ClusterRole, rule for rule the chart's with mutualAuth (watched kinds, the datapath's, the mesh
 * intermediate CSRs). No Secrets: it reads the TLS Secrets' copies in the secrets namespace only (a Role there).
 */
export const AGENT_RULES: k8s.V1PolicyRule[] = [
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses', 'gateways', 'listenersets', 'httproutes', 'grpcroutes', 'referencegrants', 'tlsroutes', 'backendtlspolicies'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['services', 'namespaces', 'configmaps', 'pods'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses', 'networkpolicies'], verbs: ['list', 'watch'] },
  { apiGroups: ['cilium.io'], resources: ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  // Its mesh intermediate: a CertificateSigningRequest it creates and reads back once signed.
  { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['create', 'get'] },
];

const ignoreConflict = (err: unknown): void => {
  if ((err as { code?: number }).code !== 409) throw err;
};

/**
 * Creates the ServiceAccount, ClusterRole and binding, the secrets namespace (where the operator copies TLS Secrets,
 * tls-secret-mirror.ts) and the agent's Role there (all kept if they exist).
 */
export async function applyAgentIdentity(kc: k8s.KubeConfig, namespace: string, secretsNamespace: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: AGENT_SERVICE_ACCOUNT } } }).catch(ignoreConflict);
  await core.createNamespace({ body: { metadata: { name: secretsNamespace } } }).catch(ignoreConflict);
  await rbac.createNamespacedRole({ namespace: secretsNamespace, body: { metadata: { name: AGENT_SERVICE_ACCOUNT }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }] } }).catch(ignoreConflict);
  await rbac.createNamespacedRoleBinding({ namespace: secretsNamespace, body: {
    metadata: { name: AGENT_SERVICE_ACCOUNT },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT_SERVICE_ACCOUNT },
    subjects: [{ kind: 'ServiceAccount', name: AGENT_SERVICE_ACCOUNT, namespace }],
  } }).catch(ignoreConflict);
  await rbac.createClusterRole({ body: { metadata: { name: AGENT_SERVICE_ACCOUNT }, rules: AGENT_RULES } }).catch(ignoreConflict);
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: AGENT_SERVICE_ACCOUNT },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: AGENT_SERVICE_ACCOUNT },
    subjects: [{ kind: 'ServiceAccount', name: AGENT_SERVICE_ACCOUNT, namespace }],
  } }).catch(ignoreConflict);
}

/** Writes `<dir>/agent-<node>.kubeconfig`: the admin kubeconfig's cluster, the agent's token bound to the Node. */
export async function writeAgentKubeconfig(kc: k8s.KubeConfig, namespace: string, node: Pick<NodeNetwork, 'name'>, dir: string): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const live = await core.readNode({ name: node.name });
  const token = await core.createNamespacedServiceAccountToken({ name: AGENT_SERVICE_ACCOUNT, namespace, body: {
    spec: { audiences: [], expirationSeconds: TOKEN_SECONDS, boundObjectRef: { apiVersion: 'v1', kind: 'Node', name: node.name, uid: live.metadata!.uid! } },
  } });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const agentKc = new k8s.KubeConfig();
  const user = `${AGENT_SERVICE_ACCOUNT}-${node.name}`;
  agentKc.loadFromOptions({
    clusters: [cluster], users: [{ name: user, token: token.status!.token }],
    contexts: [{ name: user, cluster: cluster.name, user }], currentContext: user,
  });
  const file = join(dir, `agent-${node.name}.kubeconfig`);
  await writeFile(file, agentKc.exportConfig(), { mode: 0o600 });
  return file;
}
