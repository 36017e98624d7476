// Flow ingestion: how many datapath flow events per second one node's flow agent takes in (decode, enrich,
// ring) and serves to a follower, without losing any and without stalling its event loop; CPU per
// 100,000 flows/s. Baseline in the same run: raw ring-buffer consumption (decode only, no enrichment).
//
//   node dist/bench/observe.js [--size=quick|full]
//
// The kernel side is modelled, not run: events of the datapath's exact byte layout arrive at a fixed rate
// into a virtual ring buffer of the datapath's size (1 MiB: 13,107 records of 80 bytes); each event-loop
// wake-up (a 1 ms timer standing for the addon's uv_poll callback) drains whatever is pending as one batch, copying each sample
// as the addon does. Whatever would not fit in the ring while the loop was busy is counted as dropped.
// A follower in a separate process reads over gRPC with mutual TLS; flows it is too slow for are "lost".
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decodeFlowEvent, SIZES } from '../src/datapath/layout.js';
import { CertificateAuthority } from '../src/mtls/ca.js';
import { FlowAgent } from '../src/observe/agent.js';
import { WorkloadDirectory } from '../src/observe/directory.js';
import { mtlsFromSvid } from '../src/observe/mtls.js';
import { machine, parseArgs } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const RATES = full ? [100_000, 200_000, 300_000, 400_000, 500_000, 600_000] : [100_000, 200_000, 300_000, 400_000];
const SECONDS = full ? 10 : 3;
const RING_RECORDS = Math.floor((1 << 20) / (SIZES.flowEvent + 8));
const PODS = 200;
const here = path.dirname(fileURLToPath(import.meta.url));

/** 4096 distinct events among PODS pods: 90 % forwarded, 10 % policy drops. */
function samplePool(): Buffer[] {
  const pool: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const b = Buffer.alloc(SIZES.flowEvent);
    const src = i % PODS;
    const dst = (i * 7 + 3) % PODS;
    b.writeBigUInt64LE(BigInt(i) * 1000n, 0);
    b.set([10, 1, src >> 8, src & 255], 8);
    b.set([10, 1, dst >> 8, dst & 255], 24);
    b.writeUInt32LE(1000 + src, 40);
    b.writeUInt32LE(1000 + dst, 44);
    b.writeUInt32LE(3, 48);
    b.writeUInt16LE(30000 + (i % 20000), 52);
    b.writeUInt16LE(8080, 54);
    b[56] = 2; // AF_INET
    b[57] = 6; // TCP
    const drop = i % 10 === 0;
    b[58] = drop ? 2 : 1;
    b[59] = drop ? 1 : 0;
    b[60] = 0;
    b[61] = drop ? 2 : 1;
    pool.push(b);
  }
  return pool;
}

function directory(): WorkloadDirectory {
  const workloads = Array.from({ length: PODS }, (_, i) => ({ namespace: `ns${i % 10}`, pod: `pod-${i}`, labels: { app: `app${i % 40}`, tier: i % 2 ? 'back' : 'front' }, identity: 1000 + i, ips: [`10.1.${i >> 8}.${i & 255}`] }));
  const services = Array.from({ length: 40 }, (_, i) => ({ namespace: `ns${i % 10}`, name: `svc${i}`, ips: [`10.96.0.${i + 1}`], selector: { app: `app${i}` } }));
  return new WorkloadDirectory('bench-node', workloads, services);
}

interface Step {
  mode: string;
  rate: number;
  consumed: number;
  dropped: number;
  achieved: number;
  cpuCoreFraction: number;
  cpuPer100k: number;
  loopP99Ms: number;
  loopMaxMs: number;
  followerFlows: number | null;
  followerLost: number | null;
  expectedAtFollower: number | null;
}

/** Drains the virtual ring at `rate` for SECONDS; `consume` gets each batch of copied samples. */
async function drive(rate: number, pool: Buffer[], consume: (samples: Buffer[]) => void): Promise<{ consumed: number; dropped: number; cpu: number; loop: { p99: number; max: number }; wall: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let consumed = 0;
  let dropped = 0;
  let next = 0;
  h.enable();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = (performance.now() - t0) / 1000;
      const produced = Math.floor(Math.min(elapsed, SECONDS) * rate);
      let pending = produced - consumed - dropped;
      if (pending > RING_RECORDS) {
        dropped += pending - RING_RECORDS;
        pending = RING_RECORDS;
      }
      if (pending > 0) {
        const batch = new Array<Buffer>(pending);
        for (let i = 0; i < pending; i++) {
          const src = pool[next];
          next = next + 1 === pool.length ? 0 : next + 1;
          const copy = Buffer.allocUnsafe(src.length);
          src.copy(copy);
          batch[i] = copy;
        }
        consume(batch);
        consumed += pending;
      }
      if (elapsed >= SECONDS && produced - consumed - dropped <= 0) return resolve();
      setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  });
  h.disable();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return { consumed, dropped, cpu: (c.user + c.system) / 1e6 / wall, loop: { p99: h.percentile(99) / 1e6, max: h.max / 1e6 }, wall };
}

class Follower {
  flows = 0;
  lost = 0;
  private constructor(readonly child: ChildProcess) {}
  static async start(address: string, tlsDir: string, verdict?: string): Promise<Follower> {
    const child = spawn(process.execPath, [path.join(here, 'observe-follower.js'), address, tlsDir, ...(verdict ? [verdict] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    const f = new Follower(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`follower exited with ${code}`)));
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'READY') resolve();
          const m = /^COUNT (\d+) (\d+)$/.exec(line);
          if (m) {
            f.flows = Number(m[1]);
            f.lost = Number(m[2]);
          }
        }
      });
    });
    return f;
  }
  /** Counts once they stop moving (the reader has caught up with what it will get). */
  async settled(): Promise<{ flows: number; lost: number }> {
    let last = -1;
    while (last !== this.flows + this.lost) {
      last = this.flows + this.lost;
      await new Promise((r) => setTimeout(r, 600));
    }
    return { flows: this.flows, lost: this.lost };
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  console.log(`# flow ingestion  ${machine()}  ${SECONDS} s per rate, ring buffer ${RING_RECORDS} records, ${PODS} pods`);
  const pool = samplePool();
  const ca = CertificateAuthority.generate({ trustDomain: 'bench.weft' });
  const tlsDir = mkdtempSync(path.join(tmpdir(), 'weft-bench-flows-'));
  const client = mtlsFromSvid(ca.issue('spiffe://bench.weft/weft/observe'), ca.root.pem);
  writeFileSync(path.join(tlsDir, 'svid.pem'), client.chainPem);
  writeFileSync(path.join(tlsDir, 'svid.key'), client.keyPem, { mode: 0o600 });
  writeFileSync(path.join(tlsDir, 'bundle.pem'), client.bundlePem);
  const steps: Step[] = [];
  const record = (mode: string, rate: number, r: Awaited<ReturnType<typeof drive>>, follower?: { flows: number; lost: number }, expected?: number): void => {
    const achieved = r.consumed / SECONDS;
    const s: Step = {
      mode, rate, consumed: r.consumed, dropped: r.dropped, achieved, cpuCoreFraction: r.cpu, cpuPer100k: r.cpu / (achieved / 100_000),
      loopP99Ms: r.loop.p99, loopMaxMs: r.loop.max, followerFlows: follower?.flows ?? null, followerLost: follower?.lost ?? null, expectedAtFollower: expected ?? null,
    };
    steps.push(s);
    console.log(`${mode.padEnd(26)} ${String(rate).padStart(7)}/s: took ${achieved.toFixed(0)}/s, dropped ${r.dropped}, CPU ${(r.cpu * 100).toFixed(0)} % of a core (${(s.cpuPer100k * 100).toFixed(1)} % per 100k/s), loop delay p99 ${r.loop.p99.toFixed(1)} ms max ${r.loop.max.toFixed(1)} ms` +
      (follower ? `; follower got ${follower.flows}/${expected} lost ${follower.lost}` : ''));
  };

  try {
    for (const rate of RATES) record('baseline (decode only)', rate, await drive(rate, pool, (samples) => { for (const s of samples) decodeFlowEvent(s); }));
    const modes: Array<{ mode: string; follower: 'none' | 'all' | 'drops' }> = [
      { mode: 'agent (no reader)', follower: 'none' },
      { mode: 'agent + follower (all)', follower: 'all' },
      { mode: 'agent + follower (drops)', follower: 'drops' },
    ];
    for (const m of modes) {
      for (const rate of RATES) {
        const agent = await FlowAgent.start({ node: 'bench-node', listen: '127.0.0.1:0', mtls: mtlsFromSvid(ca.issue('spiffe://bench.weft/weft/agent/bench-node'), ca.root.pem), directory: directory(), ringCapacity: 65_536 });
        const follower = m.follower === 'none' ? undefined : await Follower.start(`127.0.0.1:${agent.observerPort}`, tlsDir, m.follower === 'drops' ? 'DROPPED' : undefined);
        let drops = 0;
        const stop = agent.ring.subscribe((b) => { for (const f of b) if (f.verdict === 'DROPPED') drops++; });
        const r = await drive(rate, pool, (samples) => agent.ingestDatapath(samples.map(decodeFlowEvent)));
        stop();
        const got = await follower?.settled();
        record(m.mode, rate, r, got, m.follower === 'all' ? r.consumed : m.follower === 'drops' ? drops : undefined);
        follower?.stop();
        agent.stop();
      }
    }
  } finally {
    rmSync(tlsDir, { recursive: true, force: true });
  }
  const sustained = (mode: string): number =>
    Math.max(0, ...steps.filter((s) => s.mode === mode && s.dropped === 0 && s.achieved >= 0.99 * s.rate && (s.followerLost ?? 0) === 0 && (s.followerFlows ?? 0) === (s.expectedAtFollower ?? 0) && s.loopMaxMs < 100).map((s) => s.rate));
  const summary = Object.fromEntries([...new Set(steps.map((s) => s.mode))].map((mode) => [mode, sustained(mode)]));
  console.log(`highest rate with no drop, no loss at the reader, loop stalls < 100 ms: ${JSON.stringify(summary)}`);
  console.log(`RESULT flows ${JSON.stringify({ seconds: SECONDS, ringRecords: RING_RECORDS, steps, sustained: summary })}`);
}

await main();
