// l7-policy-allow and l7-policy-deny: a CiliumNetworkPolicy allows the client pod GET /allowed on the echo
// pod's port and nothing else; the node Envoy forwards the first and answers 403 "Access denied" to the other.
import { ALLOWED_PATH, DENIED_PATH } from '../manifests.js';
import { describe, echoBackend, probe } from '../probe.js';
import { fail, pass } from '../report.js';
import type { Check } from './check.js';
import type { StandaloneEnv } from './env.js';

export const l7PolicyAllow: Check<StandaloneEnv> = {
  name: 'l7-policy-allow',
  async run(env) {
    const url = `http://${env.l7.server}:${env.l7.port}${ALLOWED_PATH}`;
    const r = await probe(env.node, { url, localAddress: env.l7.client });
    if (!r.ok || r.status !== 200) return fail(`GET ${url} from the client pod (${env.l7.client}): the policy allows it, expected 200 from ${env.echo.name}, got ${describe(r)}`);
    if (echoBackend(r.body)?.backend !== env.echo.name) return fail(`GET ${url}: the answer is not from ${env.echo.name}: ${describe(r)}`);
    return pass(`GET ${ALLOWED_PATH} allowed by CiliumNetworkPolicy echo-l7: 200 from ${env.echo.name}`);
  },
};

export const l7PolicyDeny: Check<StandaloneEnv> = {
  name: 'l7-policy-deny',
  async run(env) {
    const url = `http://${env.l7.server}:${env.l7.port}${DENIED_PATH}`;
    const r = await probe(env.node, { url, localAddress: env.l7.client });
    if (!r.ok) return fail(`GET ${url} from the client pod (${env.l7.client}): expected 403 Access denied from the node Envoy, got ${r.error}`);
    if (r.status !== 403 || r.body.trim() !== 'Access denied') return fail(`GET ${url} from the client pod (${env.l7.client}): the policy allows only GET ${ALLOWED_PATH}, expected 403 "Access denied", got ${describe(r)}`);
    return pass(`GET ${DENIED_PATH} denied by the node Envoy: 403 Access denied`);
  },
};
