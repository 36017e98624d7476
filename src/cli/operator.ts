// `weft operator`: Weft's control plane on Kubernetes (one active replica through a Lease).
import * as k8s from '@kubernetes/client-node';
import type { IngressOptions } from '../ingress/options.js';
import { createLogger } from '../log/logger.js';
import { processRegistry } from '../metrics/registry.js';
import type { MeshCaLocation } from '../kubernetes/mesh-ca.js';
import { Operator } from '../kubernetes/operator.js';
import { startHealthServer } from '../kubernetes/health-server.js';

export interface OperatorFlags { kubeconfig?: string; leaseNamespace: string; gatewayAddressPool?: string; healthPort?: number; ingress?: IngressOptions; mutualAuth?: MeshCaLocation; tlsSecretsNamespace?: string }

export async function runOperator(flags: OperatorFlags): Promise<void> {
  const kc = new k8s.KubeConfig();
  // --kubeconfig, else $KUBECONFIG, ~/.kube/config or the in-cluster service account.
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  const log = createLogger('operator');
  const operator = new Operator({
    kubeConfig: kc, logger: log, leaseNamespace: flags.leaseNamespace, registry: processRegistry(),
    ...(flags.gatewayAddressPool ? { gatewayAddressPool: flags.gatewayAddressPool } : {}),
    ...(flags.ingress ? { ingress: flags.ingress } : {}),
    ...(flags.mutualAuth ? { mutualAuth: flags.mutualAuth } : {}),
    ...(flags.tlsSecretsNamespace ? { tlsSecretsNamespace: flags.tlsSecretsNamespace } : {}),
  });
  operator.start();
  log.info({ server: kc.getCurrentCluster()?.server }, 'operator started');
  // Every replica is ready once it has translated what the API server holds; only the leader writes statuses.
  const health = flags.healthPort === undefined ? undefined
    : await startHealthServer({ ready: () => operator.last !== undefined, registry: operator.registry }, flags.healthPort);
  await new Promise<void>((resolve) => {
    const stop = () => {
      log.info('stopping');
      void operator.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  health?.close();
}
