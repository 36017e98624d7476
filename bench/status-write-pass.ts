// CPU of one operator status write pass (src/kubernetes/status-writer.ts) with N HTTPRoutes whose live statuses
// already show what Weft computes, offline: the live objects are an in-memory lookup, as the informers' index is,
// and no pass needs to write. The baseline, measured in the same run, forgets what earlier passes settled before
// each pass (every object merged and compared again, as before the writer became incremental).
//
//   node dist/bench/status-write-pass.js [--routes=1000] [--passes=50]
import * as k8s from '@kubernetes/client-node';
import type { ObjectStatus } from '../src/gateway/conditions.js';
import { CONTROLLER_NAME } from '../src/gateway/conditions.js';
import type { KubeObject } from '../src/kubernetes/informers.js';
import { mergeStatus } from '../src/kubernetes/status-merge.js';
import { StatusWriter, type StatusWriteResult } from '../src/kubernetes/status-writer.js';
import { objectKey, TRANSLATED_KINDS } from '../src/kubernetes/watched-kinds.js';
import { silentLogger } from '../src/log/logger.js';
import { translateManifests } from '../src/standalone/pipeline.js';
import { asManifests, inputDocs, treeState } from './gateway-manifests.js';
import { machine, ms, parseArgs, stats } from './lib.js';

const args = parseArgs();
const routes = Number(args.get('routes') ?? 1000);
const passes = Number(args.get('passes') ?? 50);

const translation = translateManifests(asManifests(inputDocs({ name: 'bench', httpRoutes: routes, grpcRoutes: 0, services: 100 })));
const statuses = translation.statuses;
const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const live = new Map<string, KubeObject>();
let version = 1;
for (const s of statuses) {
  live.set(objectKey(s.kind, s.namespace, s.name), { metadata: { name: s.name, namespace: s.namespace, resourceVersion: String(version++) },
    status: mergeStatus(undefined, s.status, CONTROLLER_NAME, now) });
}
// No API server: a pass that tried to write would fail (and be counted as failed).
const kc = new k8s.KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }], users: [{ name: 'none' }], contexts: [{ name: 'none', cluster: 'none', user: 'none' }], currentContext: 'none' });
const writer = new StatusWriter(kc, TRANSLATED_KINDS, (kind, ns, name) => live.get(objectKey(kind, ns, name)), silentLogger);

/** CPU ms (user + system) of each pass; `before` runs untimed ahead of each. */
async function measure(before: () => ObjectStatus[]): Promise<{ cpu: number[]; last: StatusWriteResult }> {
  const cpu: number[] = [];
  let last: StatusWriteResult | undefined;
  for (let i = 0; i < passes; i++) {
    const input = before();
    const start = process.cpuUsage();
    last = await writer.write(input);
    const used = process.cpuUsage(start);
    cpu.push((used.user + used.system) / 1000);
  }
  return { cpu, last: last! };
}

const route = statuses.find((s) => s.kind === 'HTTPRoute')!;
const routeLive = live.get(objectKey(route.kind, route.namespace, route.name))!;
const modes: Array<[string, () => ObjectStatus[]]> = [
  ['baseline: every object compared', () => {
    writer.forget();
    return statuses;
  }],
  ['incremental: nothing changed', () => statuses],
  ['incremental: a new translation, same statuses', () => structuredClone(statuses)],
  ['incremental: one route\'s live resourceVersion changed', () => {
    routeLive.metadata!.resourceVersion = String(version++);
    return statuses;
  }],
];

console.log(`node dist/bench/status-write-pass.js --routes=${routes} --passes=${passes}`);
console.log(`${machine()}; ${treeState()}`);
console.log(`${statuses.length} statuses (${routes} HTTPRoutes)`);
await writer.write(statuses); // warm-up, and the first settled state
let baseline = NaN;
for (const [name, before] of modes) {
  const { cpu, last } = await measure(before);
  const s = stats(cpu);
  if (Number.isNaN(baseline)) baseline = s.p50;
  console.log(`${name}: CPU per pass p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms (× baseline p50 ${(s.p50 / baseline).toFixed(3)}); compared ${last.compared}, unchanged ${last.unchanged}, written ${last.written}, failed ${last.failed}`);
}
