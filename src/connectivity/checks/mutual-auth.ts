// mutual-auth: a request crosses the mutual-TLS hop between two node Envoys (SPIFFE X.509-SVIDs); the echo
// backend behind the destination Envoy sees the client workload's verified SPIFFE ID in
// x-forwarded-client-cert.
import { describe, echoBackend, probe } from '../probe.js';
import { fail, pass, skip } from '../report.js';
import type { Check } from './check.js';
import type { StandaloneEnv } from './env.js';

export const mutualAuth: Check<StandaloneEnv> = {
  name: 'mutual-auth',
  async run(env) {
    if ('unavailable' in env.mutualAuth) return skip(env.mutualAuth.unavailable);
    const { url, from, serverId, clientId } = env.mutualAuth;
    const r = await probe(from, { url });
    if (!r.ok || r.status !== 200) return fail(`GET ${url} across the node Envoys' mTLS hop: expected 200, got ${describe(r)}`);
    const xfcc = echoBackend(r.body)?.xfcc ?? '';
    if (!xfcc.includes(`URI=${clientId}`) || !xfcc.includes(`By=${serverId}`)) return fail(`GET ${url}: the backend did not see the verified identities (x-forwarded-client-cert ${JSON.stringify(xfcc)}, expected By=${serverId} and URI=${clientId})`);
    return pass(`mTLS between node Envoys: ${clientId} → ${serverId}, verified by the destination Envoy`);
  },
};
