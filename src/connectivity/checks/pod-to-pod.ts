// pod-to-pod: the client pod reaches the echo pod's own address, routed through the node namespace (and the
// datapath's tc programs on both veths, when loaded).
import { describe, echoBackend, probe } from '../probe.js';
import { fail, pass } from '../report.js';
import type { Check } from './check.js';
import type { StandaloneEnv } from './env.js';

export const podToPod: Check<StandaloneEnv> = {
  name: 'pod-to-pod',
  async run(env) {
    const url = `http://${env.echo.ip}:${env.echo.port}/pod-to-pod`;
    const r = await probe(env.client, { url });
    if (!r.ok || r.status !== 200) return fail(`GET ${url} from the client pod: expected 200 from ${env.echo.name}, got ${describe(r)}`);
    const echo = echoBackend(r.body);
    if (echo?.backend !== env.echo.name) return fail(`GET ${url}: the answer is not from ${env.echo.name}: ${describe(r)}`);
    return pass(`client → ${env.echo.ip}:${env.echo.port}: 200 from ${echo.backend}, which saw ${echo.peer ?? '?'}`);
  },
};
