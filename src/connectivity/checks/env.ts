// What the standalone checks need to know about the environment the command set up.
import type { Place } from '../namespaces.js';

export interface StandaloneEnv {
  /** The client pod, in the socket load balancer's cgroup when there is one. */
  client: Place;
  /** The node namespace: the node Envoy's listeners are here. */
  node: Place;
  echo: { name: string; ip: string; port: number };
  /** The ClusterIP Service in the eBPF datapath, or why there is none. */
  service: { vip: string; port: number } | { unavailable: string };
  gateway: { address: string; port: number };
  /** L7 policy: the server pod's and the client pod's standalone addresses (on the node's loopback). */
  l7: { server: string; client: string; port: number };
  /** Why mutual authentication cannot be checked here, why its setup failed, or the path through two node Envoys. */
  mutualAuth: { unavailable: string } | { setupFailed: string } | { url: string; host: string; from: Place; backend: string; serverId: string; clientId: string };
}
