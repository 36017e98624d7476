// `weft operator`: Weft's control plane on Kubernetes (one active replica through a Lease).
import * as k8s from '@kubernetes/client-node';
import type { IngressOptions } from '../ingress/options.js';
import { createLogger } from '../log/logger.js';
import { Gauge, Registry } from 'prom-client';
import { Operator } from '../kubernetes/operator.js';
import { startHealthServer } from '../kubernetes/health-server.js';

export interface OperatorFlags { kubeconfig?: string; leaseNamespace: string; gatewayAddressPool?: string; healthPort?: number; ingress?: IngressOptions }

export async function runOperator(flags: OperatorFlags): Promise<void> {
  const kc = new k8s.KubeConfig();
  // --kubeconfig, else $KUBECONFIG, ~/.kube/config or the in-cluster service account.
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  const log = createLogger('operator');
  const operator = new Operator({
    kubeConfig: kc, logger: log, leaseNamespace: flags.leaseNamespace,
    ...(flags.gatewayAddressPool ? { gatewayAddressPool: flags.gatewayAddressPool } : {}),
    ...(flags.ingress ? { ingress: flags.ingress } : {}),
  });
  operator.start();
  log.info({ server: kc.getCurrentCluster()?.server }, 'operator started');
  // Every replica is ready once it has translated what the API server holds; only the leader writes statuses.
  const registry = new Registry();
  new Gauge({ name: 'weft_operator_leader', help: '1 while this replica holds the leader Lease.', registers: [registry],
    collect() { this.set(operator.isLeader ? 1 : 0); } });
  const health = flags.healthPort === undefined ? undefined
    : await startHealthServer({ ready: () => operator.last !== undefined, registry }, flags.healthPort);
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
