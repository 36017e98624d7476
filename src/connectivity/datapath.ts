// The connectivity test's eBPF datapath: programs pinned under a pin root of the run's own, tc programs on the
// pods' veths (endpoints registered, no policy enforced), the socket load balancer on a cgroup the client pod's
// processes join, and one ClusterIP. Everything is registered with the cleanup. When the datapath cannot run
// here, says why instead (the checks that need it SKIP).
import { Datapath } from '../datapath/datapath.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cgroup2Root, ensureCgroup, removeCgroup } from '../datapath/cgroup.js';
import { EndpointMap } from '../datapath/endpoints.js';
import { datapathUnavailable, nativeBpf } from '../datapath/native.js';
import { ServiceMap, type Backend } from '../datapath/services.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from './cleanup.js';
import type { Pod, PodNetwork } from './namespaces.js';

export const PIN_ROOT_PREFIX = '/sys/fs/bpf/weft-connectivity-';
export const CGROUP_PREFIX = 'weft-connectivity-';

export interface ServiceDatapathOptions {
  runId: string;
  net: PodNetwork;
  pods: Pod[];
  service: { vip: string; port: number };
  backends: Backend[];
  cleanup: Cleanup;
}

export function setUpServiceDatapath(o: ServiceDatapathOptions): { cgroup: string } | { unavailable: string } {
  const unavailable = datapathUnavailable();
  if (unavailable) return { unavailable: `the eBPF datapath cannot run here: ${unavailable}` };
  const root = cgroup2Root();
  if (!root) return { unavailable: 'no cgroup v2 hierarchy is mounted (the socket load balancer attaches to a cgroup v2)' };
  const dp = Datapath.open({ pinRoot: `${PIN_ROOT_PREFIX}${o.runId}` });
  o.cleanup.add(`BPF objects pinned under ${dp.pinRoot}`, () => dp.destroy());
  const endpoints = new EndpointMap(dp.maps.endpoints);
  for (const [i, pod] of o.pods.entries()) {
    dp.attach(o.net.nodeNsPath, pod.hostIf);
    o.cleanup.add(`tc programs on ${pod.hostIf}`, () => dp.detach(o.net.nodeNsPath, pod.hostIf));
    endpoints.upsert({ ips: [pod.ip], identity: 60000 + i, ifindex: nativeBpf().ifIndex(o.net.nodeNsPath, pod.hostIf), ingressEnforced: false, egressEnforced: false });
  }
  // Removed after every process in it is gone (cleanup runs newest first; processes start later).
  const cgroup = ensureCgroup(root, `${CGROUP_PREFIX}${o.runId}`);
  o.cleanup.add(`cgroup ${cgroup}`, () => emptyAndRemoveCgroup(cgroup));
  dp.attachSockets(cgroup);
  o.cleanup.add(`socket programs on ${cgroup}`, () => dp.detachSockets(cgroup));
  new ServiceMap(dp.maps.services, dp.maps.backends).upsert({ vip: o.service.vip, port: o.service.port, protocol: 'tcp', backends: o.backends });
  return { cgroup };
}

/**
 * The cgroup is this run's own: whatever is still in it (a probe in flight when Ctrl-C came) is one of its
 * processes, killed by PID before the cgroup is removed.
 */
async function emptyAndRemoveCgroup(cgroup: string): Promise<void> {
  if (!existsSync(cgroup)) return;
  const procs = (): number[] => readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  for (let i = 0; i < 100 && procs().length > 0; i++) {
    for (const pid of procs()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await sleep(20);
  }
  removeCgroup(cgroup);
}
