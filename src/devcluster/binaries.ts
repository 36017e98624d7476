// Where the local cluster's control-plane binaries live: built from their Go modules by scripts/k8s-binaries.sh
// into a cache outside the repository (the first run builds for tens of minutes; later runs take a second).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../envoy/binary.js';

const run = promisify(execFile);

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
}

/** Builds the binaries if needed (WEFT_K8S_BIN_DIR skips the build) and returns their paths. */
export async function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  const dir = process.env.WEFT_K8S_BIN_DIR ?? (await buildBinaries());
  return {
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    kubectl: join(dir, 'kubectl'),
  };
}

async function buildBinaries(): Promise<string> {
  const script = join(projectRoot(), 'scripts', 'k8s-binaries.sh');
  const { stdout } = await run('bash', [script], { maxBuffer: 64 * 1024 * 1024 });
  const dir = stdout.trim().split('\n').pop();
  if (!dir) throw new Error(`${script} printed no directory`);
  return dir;
}
