// `weft operator`: Weft's control plane on Kubernetes (one active replica through a Lease).
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../log/logger.js';
import { Operator } from '../kubernetes/operator.js';

export interface OperatorFlags { kubeconfig?: string; leaseNamespace: string; gatewayAddressPool?: string }

export async function runOperator(flags: OperatorFlags): Promise<void> {
  const kc = new k8s.KubeConfig();
  // --kubeconfig, else $KUBECONFIG, ~/.kube/config or the in-cluster service account.
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  const log = createLogger('operator');
  const operator = new Operator({
    kubeConfig: kc, logger: log, leaseNamespace: flags.leaseNamespace,
    ...(flags.gatewayAddressPool ? { gatewayAddressPool: flags.gatewayAddressPool } : {}),
  });
  operator.start();
  log.info({ server: kc.getCurrentCluster()?.server }, 'operator started');
  await new Promise<void>((resolve) => {
    const stop = () => {
      log.info('stopping');
      void operator.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
