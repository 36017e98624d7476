// `weft agent` as the Kubernetes tests run it: a separate process in a node's network namespace (as the DaemonSet's
// pod would be), started with the test cluster's kubeconfig, ready once it prints that Envoy ACKed its configuration.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NodeNetwork } from '../../src/devcluster/nodes.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<unknown>;
  /** SIGTERM and wait, if it still runs. */
  stop(): Promise<void>;
}

/** Starts the agent for `node` with `args` added, and waits for its ready line (rejects if it exits first). */
export async function startAgentProcess(kubeconfig: string, node: NodeNetwork, args: string[] = []): Promise<AgentProcess> {
  const child = spawn('ip', ['netns', 'exec', node.netns, process.execPath, mainJs, 'agent', '--kubeconfig', kubeconfig, '--node', node.name, ...args],
    { stdio: ['ignore', 'pipe', process.env.WEFT_TEST_LOG ? 'inherit' : 'ignore'] });
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}`)));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  return { child, exited, stop };
}
