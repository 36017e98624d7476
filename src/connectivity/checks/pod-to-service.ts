// pod-to-service: the client pod reaches a ClusterIP that exists nowhere but in the eBPF datapath's service map;
// the socket load balancer (cgroup connect4) picks the echo pod at connect time, and getpeername still
// reports the service address.
import { describe, echoBackend, probe } from '../probe.js';
import { fail, pass, skip } from '../report.js';
import type { Check } from './check.js';
import type { StandaloneEnv } from './env.js';

export const podToService: Check<StandaloneEnv> = {
  name: 'pod-to-service',
  async run(env) {
    if ('unavailable' in env.service) return skip(env.service.unavailable);
    const { vip, port } = env.service;
    const url = `http://${vip}:${port}/pod-to-service`;
    const r = await probe(env.client, { url });
    if (!r.ok || r.status !== 200) return fail(`GET ${url} from the client pod: expected 200 from ${env.echo.name} through the socket load balancer, got ${describe(r)}`);
    const echo = echoBackend(r.body);
    if (echo?.backend !== env.echo.name) return fail(`GET ${url}: the answer is not from ${env.echo.name}: ${describe(r)}`);
    if (r.peer !== vip) return fail(`GET ${url}: the client's socket reports its peer as ${r.peer ?? 'nothing'}, not the service address ${vip} (getpeername hook)`);
    return pass(`client → ClusterIP ${vip}:${port} → ${env.echo.name} ${env.echo.ip}:${env.echo.port} (socket LB; peer reported as ${vip})`);
  },
};
