// The flow agent's side of L7 flows: its CPU per request to turn the node proxy's access log into flows, from the
// file line it follows (src/observe/access-log-tail.ts, since 2026-12-04) against the gRPC access log service's
// entries it received before (the baseline, measured in the same run). Envoy's own side is bench/l7policy.ts
// (`--variants=full,full+log-flows,full+with-als`).
//
//   node dist/bench/l7-flow-sources.js [--requests=20000] [--rounds=7]
//
// Both inputs are a real Envoy's: one L7 policy listener (one HTTP rule) logs every request both ways, to a file
// and to a gRPC receiver in this process that keeps each message's bytes; 90 % of the requests are allowed, 10 %
// refused. Then, in alternating rounds, the agent ingests each: the messages as grpc-js hands them to the receiver
// (proto-loader's deserializer, then flowFromAccessLog), and the lines through the tail (a copy of the file read
// from its start, then flowFromL7AccessLogLine). CPU is this process's user + system time. The two sources must
// give the same flows (verdict, path, status, both pods), or the bench fails. Loopback only.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ACCESS_LOG_NAME, accessLogServiceResources } from '../src/xds/translator/access-log-service.js';
import { accessLogService } from '../src/observe/proto.js';
import { FlowAgent } from '../src/observe/agent.js';
import { directoryFromIdentities } from '../src/observe/directory-sources.js';
import type { WorkloadDirectory } from '../src/observe/directory.js';
import type { Flow } from '../src/observe/flow.js';
import type { HttpAccessLogEntry } from '../src/observe/access-log-flows.js';
import { AccessLogTail } from '../src/observe/access-log-tail.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { Mesh } from '../test/helpers/mesh.js';
import { applyVariant } from './l7policy-variants.js';
import { machine, pairedRatio, parseArgs, stats, waitFor } from './lib.js';

const args = parseArgs();
const REQUESTS = Number(args.get('requests') ?? 20_000);
const ROUNDS = Number(args.get('rounds') ?? 7);
const NET = '127.0.77';
const SERVER = `${NET}.2`;
const CLIENT = `${NET}.10`;
const PORT = 18977;
const command = `node dist/bench/l7-flow-sources.js --requests=${REQUESTS} --rounds=${ROUNDS}`;

interface Message {
  identifier?: { log_name?: string } | null;
  http_logs?: { log_entry?: HttpAccessLogEntry[] } | null;
}

/** The gRPC receiver, keeping every message's bytes as they arrived. */
async function rawReceiver(): Promise<{ port: number; messages: Buffer[]; stop: () => void }> {
  const messages: Buffer[] = [];
  const definition = accessLogService().service;
  const service = { StreamAccessLogs: { ...definition.StreamAccessLogs, requestDeserialize: (b: Buffer) => b } };
  const server = new grpc.Server();
  server.addService(service, {
    StreamAccessLogs: (call: grpc.ServerReadableStream<Buffer, object>, callback: grpc.sendUnaryData<object>) => {
      call.on('data', (b: Buffer) => messages.push(b));
      call.on('end', () => callback(null, {}));
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, messages, stop: () => server.forceShutdown() };
}

function yaml(backendPort: number): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: server, namespace: shop, labels: { app: server }, annotations: { weft.dev/standalone-backends: "${PORT}=127.0.0.1:${backendPort}" } }
status: { podIP: ${SERVER} }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: shop, labels: { app: client } }
status: { podIP: ${CLIENT} }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: l7, namespace: shop }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: client } }]
    toPorts:
    - ports: [{ port: "${PORT}", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/api/.*" }] }
`;
}

/** REQUESTS requests over 16 keep-alive connections from the client's address: every tenth refused. */
async function load(): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16, localAddress: CLIENT });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < REQUESTS) {
      const i = next++;
      const p = i % 10 === 9 ? `/private/${i}` : `/api/items/${i}?page=${i % 7}`;
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: SERVER, port: PORT, path: p, agent, headers: { 'user-agent': 'bench' } }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, () => worker()));
  agent.destroy();
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** What both sources must agree on, per request. */
const key = (f: Flow): string => `${f.verdict} ${f.http?.method} ${f.http?.path} ${f.http?.status} ${f.source.pod}@${f.source.identity} ${f.destination.pod}:${f.destination.port}@${f.destination.identity}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-flow-sources-'));
  const logFile = path.join(dir, 'l7-access.log');
  const backend = http.createServer((_, res) => res.end('ok'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as { port: number }).port;
  const receiver = await rawReceiver();
  const mesh = new Mesh({ protocol: 'delta' });
  try {
    const t = translateYaml('bench.yaml', yaml(backendPort), { l7: { accessLogPath: logFile, hostIps: [], accessLogForFlows: true } });
    if (t.problems.length) throw new Error(JSON.stringify(t.problems));
    // Both loggers on the same connection manager: the file line (flows on) and the gRPC entry (flows before).
    await mesh.start([...applyVariant(t.resources, 'with-als'), ...accessLogServiceResources({ address: '127.0.0.1', port: receiver.port })]);
    await mesh.converged();
    await load();
    const lineCount = (): number => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length;
    const entryCount = (): number => receiver.messages.reduce((n, b) => n + ((accessLogService().service.StreamAccessLogs.requestDeserialize(b) as Message).http_logs?.log_entry?.length ?? 0), 0);
    await waitFor(() => lineCount() >= REQUESTS && entryCount() >= REQUESTS, 20_000, 'every request in both logs', 200);
    const lines = readFileSync(logFile);
    const messages = [...receiver.messages];
    const deserialize = accessLogService().service.StreamAccessLogs.requestDeserialize;
    const directory = directoryFromIdentities('node-1', t.l7!.table);

    const viaService = async (): Promise<{ us: number; flows: Flow[] }> => {
      const { agent, flows } = await ingestingAgent(directory);
      const before = cpuUs();
      let ours: boolean | undefined;
      for (const b of messages) {
        const m = deserialize(b) as Message;
        ours ??= m.identifier?.log_name === ACCESS_LOG_NAME;
        const entries = m.http_logs?.log_entry;
        if (ours && entries && entries.length > 0) agent.ingestAccessLog(entries);
      }
      const us = cpuUs() - before;
      agent.stop();
      return { us, flows };
    };
    const viaFile = async (round: number): Promise<{ us: number; flows: Flow[] }> => {
      const file = path.join(dir, `replay-${round}.log`);
      writeFileSync(file, '');
      const { agent, flows } = await ingestingAgent(directory);
      const tail = new AccessLogTail(file, (l) => agent.ingestL7AccessLog(l), { intervalMs: 3_600_000, fromStart: true });
      await tail.poll();
      appendFileSync(file, lines);
      const before = cpuUs();
      await tail.poll();
      const us = cpuUs() - before;
      tail.stop();
      agent.stop();
      rmSync(file);
      return { us, flows };
    };

    const service: number[] = [];
    const file: number[] = [];
    let checked = false;
    for (let round = 0; round < ROUNDS; round++) {
      const a = await viaService();
      const b = await viaFile(round);
      if (!checked) {
        const ka = a.flows.map(key).sort();
        const kb = b.flows.map(key).sort();
        if (ka.length !== REQUESTS || kb.length !== REQUESTS) throw new Error(`flows: ${ka.length} from the service, ${kb.length} from the file, for ${REQUESTS} requests`);
        const differ = ka.findIndex((k, i) => k !== kb[i]);
        if (differ >= 0) throw new Error(`the sources disagree: ${ka[differ]} (service) against ${kb[differ]} (file)`);
        checked = true;
      }
      service.push(a.us / REQUESTS);
      file.push(b.us / REQUESTS);
    }
    const s = stats(service);
    const f = stats(file);
    const ratio = pairedRatio(service, file);
    console.log(`# l7-flow-sources  ${machine()}`);
    console.log(`# ${command}`);
    console.log(`${REQUESTS} requests (10 % refused), ${messages.length} gRPC messages, ${lines.length} bytes of file lines; the same ${REQUESTS} flows from both`);
    console.log(`  gRPC access log entries (baseline): ${s.p50.toFixed(2)} µs of agent CPU per request (median of ${ROUNDS} rounds)`);
    console.log(`  file lines through the tail:        ${f.p50.toFixed(2)} µs per request, ×${(f.p50 / s.p50).toFixed(2)} of the baseline; paired ×${ratio.median.toFixed(2)} [${ratio.lo.toFixed(2)}–${ratio.hi.toFixed(2)}]`);
    console.log(`RESULT l7-flow-sources ${JSON.stringify({ requests: REQUESTS, rounds: ROUNDS, serviceUsPerRequest: s.p50, fileUsPerRequest: f.p50, paired: ratio })}`);
  } finally {
    await mesh.stop();
    receiver.stop();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A flow agent (its observer on loopback, unused) and every flow it put in its ring. */
async function ingestingAgent(directory: WorkloadDirectory): Promise<{ agent: FlowAgent; flows: Flow[] }> {
  const agent = await FlowAgent.start({ node: 'node-1', listen: '127.0.0.1:0', ringCapacity: REQUESTS, directory });
  const flows: Flow[] = [];
  agent.ring.subscribe((batch) => void flows.push(...batch));
  return { agent, flows };
}

await main();
