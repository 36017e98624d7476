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
    if ('setupFailed' in env.mutualAuth) return fail(`setting up the two node Envoys failed: ${env.mutualAuth.setupFailed}`);
    const { url, host, from, backend, serverId, clientId } = env.mutualAuth;
    const r = await probe(from, { url, host });
    if (!r.ok || r.status !== 200) {
      const hint = r.ok && r.status === 503 ? ' (the source node Envoy could not get a connection to the destination node Envoy: the mTLS handshake failed or was refused)' : '';
      return fail(`GET ${url} (Host ${host}) from the client pod across the node Envoys' mTLS hop: expected 200 from ${backend}, got ${describe(r)}${hint}`);
    }
    const echo = echoBackend(r.body);
    if (echo?.backend !== backend) return fail(`GET ${url}: the answer is not from ${backend}: ${describe(r)}`);
    const xfcc = echo.xfcc ?? '';
    if (!xfcc.includes(`URI=${clientId}`) || !xfcc.includes(`By=${serverId}`)) return fail(`GET ${url}: the backend did not see the verified identities (x-forwarded-client-cert ${JSON.stringify(xfcc)}, expected By=${serverId} and URI=${clientId})`);
    return pass(`mTLS between node Envoys: ${clientId} → ${serverId}, verified by the destination Envoy`);
  },
};
