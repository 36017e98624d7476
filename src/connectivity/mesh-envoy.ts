// A node Envoy for the mutual-auth check: its own xDS server and snapshot (in this process, reached over a UNIX
// socket: the filesystem is shared, the network is not) and the Envoy binary run inside a node namespace, with
// its admin endpoint on a UNIX socket too. Stopped (Envoy, then the server) by the cleanup.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { resolveEnvoyBinary } from '../../envoy/binary.js';
import { envoyRunFlags } from '../../envoy/process.js';
import { diesWithParent } from '../../envoy/parent-death.js';
import { InMemorySnapshotCache } from '../xds/cache.js';
import type { NackEvent } from '../xds/ads-stream.js';
import { ackDivergence } from '../xds/node-status.js';
import type { Resource } from '../xds/resource.js';
import { XdsServer } from '../xds/server.js';
import { Snapshot } from '../xds/snapshot.js';
import type { Cleanup } from './cleanup.js';
import { RUN_ENV, stopProcess } from './namespaces.js';

export class MeshEnvoy {
  private readonly cache = new InMemorySnapshotCache({ maxDelayMs: 0 });
  private readonly server = new XdsServer({ cache: this.cache });
  private readonly nacks: NackEvent[] = [];
  private output = '';
  private snapshot = Snapshot.of([]);

  /** `dir` is the run's temporary directory (sockets and the bootstrap go there). */
  constructor(private readonly netns: string, private readonly nodeId: string, private readonly dir: string, private readonly runId: string) {
    this.server.on('nack', (e) => this.nacks.push(e));
  }

  /** Serves `resources`, starts Envoy and resolves once it ACKed them. */
  async start(resources: Resource[], cleanup: Cleanup, timeoutMs = 30_000): Promise<void> {
    this.snapshot = Snapshot.of(resources);
    this.cache.setSnapshot(this.nodeId, this.snapshot);
    const xds = path.join(this.dir, `${this.nodeId}.xds.sock`);
    cleanup.add(`xDS server of ${this.nodeId}`, () => this.server.shutdown(500));
    await this.server.listen({ unix: xds });
    const bootstrap = nodeBootstrap({ nodeId: this.nodeId, xds: { unix: xds } });
    bootstrap.admin = { address: { pipe: { path: path.join(this.dir, `${this.nodeId}.admin.sock`) } } };
    const file = path.join(this.dir, `${this.nodeId}.bootstrap.json`);
    writeFileSync(file, JSON.stringify(bootstrap));
    const args = ['netns', 'exec', this.netns, resolveEnvoyBinary().path, '-c', file, ...envoyRunFlags()];
    const envoy = spawn(...diesWithParent('ip', args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [RUN_ENV]: this.runId } });
    cleanup.add(`Envoy of ${this.nodeId} (pid ${envoy.pid ?? '?'})`, () => stopProcess(envoy));
    const keep = (c: Buffer): void => void (this.output = (this.output + c.toString()).slice(-4000));
    envoy.stdout.on('data', keep);
    envoy.stderr.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (envoy.exitCode !== null) throw new Error(`the Envoy of ${this.nodeId} exited with ${envoy.exitCode}: ${this.output.trim()}`);
      const divergence = ackDivergence(this.server.nodeStatus(this.nodeId), this.snapshot);
      if (divergence === undefined) return;
      if (Date.now() > deadline) throw new Error(`the Envoy of ${this.nodeId} did not ACK its configuration within ${timeoutMs} ms (${divergence}${this.nacks.length ? `; NACKs: ${this.nacks.map((n) => n.errorMessage).join(' | ')}` : ''})`);
      await sleep(25);
    }
  }
}
