// `weft dev kubelet`: runs one node's kubelet until SIGTERM/SIGINT; the pods it runs outlive it (a restarted
// kubelet adopts them).
import * as k8s from '@kubernetes/client-node';
import { Kubelet } from './kubelet.js';
import type { KubeletOptions } from './options.js';

export async function runKubelet(o: KubeletOptions): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(o.kubeconfig);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const kubelet = new Kubelet(kc, o, log);
  // The API server may still be settling when the kubelet starts: retry registration.
  for (let attempt = 1; ; attempt++) {
    try {
      await kubelet.start();
      break;
    } catch (e) {
      if (attempt >= 60) throw e;
      log(`start: ${e instanceof Error ? e.message : String(e)}; retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  kubelet.stop();
  log('kubelet stopped; its pods keep running');
}
