// The reader side of bench/observe.ts, in its own process: follows an agent's flows over gRPC with mutual
// TLS (SVID files in argv[3]) and prints "COUNT <flows> <lost>" every 200 ms.
import { mtlsFromDir, clientCredentials } from '../src/observe/mtls.js';
import { observerClient, type GetFlowsResponse } from '../src/observe/observer-service.js';

const [address, tlsDir, verdict] = process.argv.slice(2);
const client = observerClient(address, clientCredentials(mtlsFromDir(tlsDir)));
let flows = 0;
let lost = 0;
const stream = client.GetFlows({ follow: true, number: 0, filter: verdict ? { verdict: [verdict] } : null });
stream.on('data', (r: GetFlowsResponse) => {
  flows += r.flows.length;
  lost += r.lost;
});
stream.on('error', (err) => {
  process.stderr.write(`follower: ${err.message}\n`);
  process.exit(1);
});
setInterval(() => process.stdout.write(`COUNT ${flows} ${lost}\n`), 200);
process.stdout.write('READY\n');
