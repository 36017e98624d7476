// `weft connectivity test --standalone`: builds a node namespace with a client pod and an echo pod, the eBPF
// datapath (tc programs on both veths, the socket load balancer on the client pod's cgroup, a ClusterIP), and a
// node Envoy run by the standalone runner inside the node namespace, serving a Gateway and an L7 policy from
// manifests written to a temporary directory; runs the checks; removes all of it.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveEnvoyBinary } from '../../envoy/binary.js';
import { silentLogger } from '../log/logger.js';
import { formatProblem } from '../sources/manifests.js';
import { StandaloneRunner } from '../standalone/runner.js';
import { runChecks, type Check } from './checks/check.js';
import type { StandaloneEnv } from './checks/env.js';
import { gateway } from './checks/gateway.js';
import { l7PolicyAllow, l7PolicyDeny } from './checks/l7-policy.js';
import { mutualAuth } from './checks/mutual-auth.js';
import { podToPod } from './checks/pod-to-pod.js';
import { podToService } from './checks/pod-to-service.js';
import type { Cleanup } from './cleanup.js';
import { setUpServiceDatapath } from './datapath.js';
import { gatewayManifests, l7PolicyManifests } from './manifests.js';
import { setUpMesh } from './mesh.js';
import { NODE_IP, PodNetwork, RUN_ENV } from './namespaces.js';
import { summarize, type CheckResult, type ConnectivityReport } from './report.js';

export const STANDALONE_CHECKS: Array<Check<StandaloneEnv>> = [podToPod, podToService, gateway, l7PolicyAllow, l7PolicyDeny, mutualAuth];

const echoMain = fileURLToPath(new URL('./echo-main.js', import.meta.url));
const ECHO_PORT = 8080;
const SERVICE = { vip: '10.96.0.10', port: 80 };
const GATEWAY = { address: NODE_IP, port: 8000 };
const L7 = { server: '127.1.0.2', client: '127.1.0.10', port: 8080 };

/** Deliberate breakage for testing the test (WEFT_CONNECTIVITY_FAULT, comma-separated). */
export type Fault = 'l7-allow-all' | 'no-service-backend' | 'mtls-untrusted';
export const FAULTS: readonly Fault[] = ['l7-allow-all', 'no-service-backend', 'mtls-untrusted'];

export interface StandaloneOptions {
  cleanup: Cleanup;
  faults?: Fault[];
  onResult?: (r: CheckResult) => void;
  /** Progress lines (setup steps) for a person watching. */
  progress?: (line: string) => void;
}

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

/** Sets everything up, runs every check; the caller runs `options.cleanup` afterwards (and on Ctrl-C). */
export async function runStandaloneConnectivity(runId: string, options: StandaloneOptions): Promise<ConnectivityReport> {
  const { cleanup } = options;
  const faults = new Set(options.faults ?? []);
  const progress = options.progress ?? (() => {});
  const net = new PodNetwork(runId, cleanup);

  progress(`creating network namespaces ${net.node}, …-client, …-echo`);
  await net.createNode();
  const client = await net.addPod('client', 10);
  const echo = await net.addPod('echo', 20);

  cleanup.throwIfStarted();
  progress('loading the eBPF datapath');
  const datapath = setUpServiceDatapath({ runId, net, pods: [client, echo], service: SERVICE, backends: faults.has('no-service-backend') ? [] : [{ ip: echo.ip, port: ECHO_PORT }], cleanup });
  const clientPlace = { netns: client.netns, ...('cgroup' in datapath ? { cgroup: datapath.cgroup } : {}) };

  cleanup.throwIfStarted();
  progress('starting the echo backend');
  await net.spawnReady({ netns: echo.netns }, [process.execPath, echoMain, 'echo', String(ECHO_PORT)], 'listening');

  cleanup.throwIfStarted();
  progress('starting the node Envoy');
  const dir = mkdtempSync(path.join(tmpdir(), `weft-connectivity-${runId}-`));
  cleanup.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const manifests = path.join(dir, 'manifests');
  writeManifests(manifests, echo.ip, faults);
  const runner = new StandaloneRunner({
    dir: manifests,
    logger: silentLogger,
    print: () => {},
    nodeId: `weft-connectivity-${runId}`,
    envoyBinary: envoyInNamespace(dir, net.node, runId),
    translate: { l7: { accessLogPath: path.join(dir, 'l7-access.log') } },
  });
  cleanup.add('the node Envoy and its control plane', () => runner.stop());
  await runner.start();
  await readyWithin(runner, 30_000);
  const problems = runner.last?.problems ?? [];
  if (problems.length) throw new Error(`the test manifests in ${manifests} have problems: ${problems.map(formatProblem).join('; ')}`);

  cleanup.throwIfStarted();
  progress('starting a second node and the mesh Envoys of both nodes (mutual auth)');
  const mutualAuth = await setUpMesh({ runId, net, client, clientPlace, dir, cleanup, untrustedClient: faults.has('mtls-untrusted') }).catch((err: unknown) => ({ setupFailed: err instanceof Error ? err.message : String(err) }));

  const env: StandaloneEnv = {
    client: clientPlace,
    node: { netns: net.node },
    echo: { name: 'echo', ip: echo.ip, port: ECHO_PORT },
    service: 'unavailable' in datapath ? { unavailable: datapath.unavailable } : SERVICE,
    gateway: GATEWAY,
    l7: L7,
    mutualAuth,
  };
  cleanup.throwIfStarted();
  progress('running the checks');
  const checks = await runChecks(STANDALONE_CHECKS, env, options.onResult, () => cleanup.started);
  return { mode: 'standalone', runId, checks, summary: summarize(checks) };
}

function writeManifests(dir: string, echoIp: string, faults: Set<Fault>): void {
  const plan = { gateway: GATEWAY, echo: { ip: echoIp, port: ECHO_PORT }, l7: L7, l7AllowAll: faults.has('l7-allow-all') };
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'gateway.yaml'), gatewayManifests(plan));
  writeFileSync(path.join(dir, 'l7-policy.yaml'), l7PolicyManifests(plan));
}

/** A wrapper the runner starts as "Envoy": the real binary, inside the node namespace (its xDS socket is a file). */
function envoyInNamespace(dir: string, netns: string, runId: string): string {
  const file = path.join(dir, 'envoy-in-netns.sh');
  writeFileSync(file, `#!/bin/sh\nexport ${RUN_ENV}='${runId}'\nexec ip netns exec '${netns}' '${resolveEnvoyBinary().path}' "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

async function readyWithin(runner: StandaloneRunner, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const problems = (runner.last?.problems ?? []).map(formatProblem).join('; ');
      reject(new Error(`the node Envoy was not ready within ${timeoutMs} ms (unprogrammed Gateways: ${runner.unprogrammedGateways().join(', ') || 'none'}; not ACKed: ${runner.divergence() ?? 'nothing'}${problems ? `; problems: ${problems}` : ''}${runner.nacks.length ? `; NACKs: ${runner.nacks.map((n) => n.errorMessage).join(' | ')}` : ''})`));
    }, timeoutMs);
  });
  try {
    await Promise.race([runner.ready(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
