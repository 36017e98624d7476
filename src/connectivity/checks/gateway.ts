// gateway: the client pod reaches the echo pod through the node Envoy's Gateway listener (an HTTPRoute to the
// echo Service).
import { describe, echoBackend, probe } from '../probe.js';
import { fail, pass } from '../report.js';
import type { Check } from './check.js';
import type { StandaloneEnv } from './env.js';

export const gateway: Check<StandaloneEnv> = {
  name: 'gateway',
  async run(env) {
    const url = `http://${env.gateway.address}:${env.gateway.port}/gateway`;
    const r = await probe(env.client, { url });
    if (!r.ok || r.status !== 200) return fail(`GET ${url} (Gateway connectivity, HTTPRoute echo) from the client pod: expected 200 from ${env.echo.name}, got ${describe(r)}`);
    const echo = echoBackend(r.body);
    if (echo?.backend !== env.echo.name) return fail(`GET ${url}: the answer is not from ${env.echo.name}: ${describe(r)}`);
    if (echo.path !== '/gateway') return fail(`GET ${url}: ${env.echo.name} saw path ${echo.path ?? '?'}, not /gateway`);
    return pass(`client → Gateway ${env.gateway.address}:${env.gateway.port} → HTTPRoute → Service echo → ${env.echo.name}`);
  },
};
