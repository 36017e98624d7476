// A control plane (XdsServer + cache) and a real Envoy connected to it, as one test fixture.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import type { Bootstrap } from '../../src/generated/envoy/config/bootstrap/v3/Bootstrap.js';
import { EnvoyProcess, warmingResources } from '../../envoy/process.js';
import { InMemorySnapshotCache, type CoalesceOptions } from '../../src/xds/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import { Snapshot } from '../../src/xds/snapshot.js';
import type { Resource } from '../../src/xds/resource.js';
import type { NackEvent, ResponseEvent } from '../../src/xds/ads-stream.js';
import type { ExecutionContext } from 'ava';
import { startEchoBackend, type EchoBackend } from './echo-backend.js';
import { eventually, freePort } from './net.js';
import { ackDivergence } from '../../src/xds/node-status.js';

export type Protocol = 'delta' | 'sotw';

export interface MeshOptions {
  protocol: Protocol;
  nodeId?: string;
  transport?: 'unix' | 'tcp';
  coalesce?: Partial<CoalesceOptions>;
  /** Another Envoy command (e.g. Envoy under valgrind, bench/l7policy.ts --callgrind), and how long its start may take. */
  envoyBinary?: string;
  envoyStartTimeoutMs?: number;
  /** Bootstrap fields over the node bootstrap's (e.g. no periodic stats flush, for counting instructions). */
  bootstrap?: Partial<Bootstrap>;
}

export class Mesh {
  readonly nodeId: string;
  readonly socketDir = mkdtempSync(path.join(tmpdir(), 'weft-xds-'));
  cache!: InMemorySnapshotCache;
  server!: XdsServer;
  envoy!: EnvoyProcess;
  xdsPort = 0;
  readonly responses: ResponseEvent[] = [];
  readonly nacks: NackEvent[] = [];
  private snapshot = Snapshot.of([]);

  constructor(readonly opts: MeshOptions) {
    this.nodeId = opts.nodeId ?? `test-${opts.protocol}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  get socketPath(): string {
    return path.join(this.socketDir, 'xds.sock');
  }

  /** Starts (or restarts) the control plane, keeping the current desired state. */
  async startControlPlane(): Promise<void> {
    this.cache = new InMemorySnapshotCache(this.opts.coalesce ?? { maxDelayMs: 0 });
    this.cache.setSnapshot(this.nodeId, this.snapshot);
    this.server = new XdsServer({ cache: this.cache });
    this.server.on('response', (e) => this.responses.push(e));
    this.server.on('nack', (e) => this.nacks.push(e));
    if (this.opts.transport === 'tcp') {
      this.xdsPort = await this.server.listen({ tcp: { host: '127.0.0.1', port: this.xdsPort } });
    } else {
      await this.server.listen({ unix: this.socketPath });
    }
  }

  async start(resources: Resource[] = []): Promise<this> {
    this.snapshot = Snapshot.of(resources);
    await this.startControlPlane();
    await this.startEnvoy();
    return this;
  }

  /** Starts (or, after stopping the current one, restarts) Envoy against the current control plane. */
  async startEnvoy(): Promise<void> {
    await this.envoy?.stop();
    this.envoy = new EnvoyProcess({
      bootstrap: {
        ...nodeBootstrap({
          nodeId: this.nodeId,
          protocol: this.opts.protocol,
          xds: this.opts.transport === 'tcp' ? { host: '127.0.0.1', port: this.xdsPort } : { unix: this.socketPath },
        }),
        ...this.opts.bootstrap,
      },
      ...(this.opts.envoyBinary ? { binary: this.opts.envoyBinary } : {}),
    });
    await this.envoy.start(this.opts.envoyStartTimeoutMs);
  }

  set(resources: Resource[]): void {
    this.snapshot = Snapshot.of(resources);
    this.cache.setSnapshot(this.nodeId, this.snapshot);
  }

  /** Waits until Envoy ACKed exactly the current desired state, for every type. */
  async converged(timeoutMs = 15_000): Promise<void> {
    try {
      await eventually(() => this.divergence() === undefined, timeoutMs, `node ${this.nodeId} to ACK the desired state`);
    } catch (err) {
      throw new Error(`${(err as Error).message} (${this.divergence()})`, { cause: err });
    }
  }

  /** What differs between the desired state and what the node ACKed, or undefined when nothing does. */
  divergence(): string | undefined {
    return ackDivergence(this.server.nodeStatus(this.nodeId), this.snapshot);
  }

  /** The assertions every end-to-end test ends with: no NACK, nothing left warming. */
  async healthy(): Promise<{ nacks: NackEvent[]; warming: string[] }> {
    const warming = warmingResources(await this.envoy.configDump());
    return { nacks: [...this.nacks], warming };
  }

  async stop(): Promise<void> {
    await this.envoy?.stop();
    await this.server?.shutdown(500);
    rmSync(this.socketDir, { recursive: true, force: true });
  }
}

/** A Mesh (not yet started), echo backends with these names, and a free listener port: all torn down with the test. */
export async function meshFixture(t: ExecutionContext, opts: MeshOptions, backendNames: string[]): Promise<{ mesh: Mesh; backends: EchoBackend[]; port: number }> {
  const backends = await Promise.all(backendNames.map((name) => startEchoBackend(name)));
  const port = await freePort();
  const mesh = new Mesh(opts);
  t.teardown(async () => {
    await mesh.stop();
    await Promise.all(backends.map((b) => b.close()));
  });
  return { mesh, backends, port };
}
