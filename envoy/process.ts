// Runs one Envoy: writes its bootstrap, starts it, finds its admin port, stops it. EnvoySupervisor
// restarts it with backoff when it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Bootstrap } from '../src/generated/envoy/config/bootstrap/v3/Bootstrap.js';
import { ENVOY_DRAIN_TIME_MS } from '../src/xds/stream-plan.js';
import { resolveEnvoyBinary } from './binary.js';
import { diesWithParent } from './parent-death.js';
import { createWorkDir } from './work-dir.js';

export interface EnvoyProcessOptions {
  bootstrap: Bootstrap;
  binary?: string;
  concurrency?: number;
  /** Envoy's own walk for unknown and deprecated fields in xDS (off by default, see start()); for bench/envoy-apply. */
  checkDynamicFields?: boolean;
  logLevel?: string;
  /** Where Envoy's stdout/stderr go; kept in memory (last 256 KiB) when omitted. */
  logger?: Logger;
}

/** How often Envoy writes its access log files' buffers out. */
export const ACCESS_LOG_FLUSH_MS = 250;

/**
 * The flags every Envoy Weft runs takes, whoever spawns it (EnvoyProcess; Envoys inside network namespaces). The drain
 * time is the one the xDS server assumes: it keeps clusters a listener change left for this long, while the
 * replaced filter chains still use them (stream-plan.ts).
 */
export function envoyRunFlags(o: { concurrency?: number | undefined; logLevel?: string | undefined } = {}): string[] {
  return [
    '--disable-hot-restart', '--concurrency', String(o.concurrency ?? 1), '--log-level', o.logLevel ?? 'warn', '--drain-time-s', String(ENVOY_DRAIN_TIME_MS / 1000),
    // Access log files reach the disk every quarter second (Envoy's default: 10 s, or a full 64 KiB buffer): the
    // flow agent follows the L7 one (src/observe/access-log-tail.ts).
    '--file-flush-interval-msec', String(ACCESS_LOG_FLUSH_MS),
  ];
}

export class EnvoyProcess {
  readonly workDir: string;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> | undefined;
  private output = '';
  adminPort = 0;

  constructor(private readonly opts: EnvoyProcessOptions) {
    this.workDir = createWorkDir();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  /** Envoy's own log so far (for test failure messages). */
  log(): string {
    return this.output;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const bootstrapPath = path.join(this.workDir, 'bootstrap.json');
    const adminPath = path.join(this.workDir, 'admin-address');
    rmSync(adminPath, { force: true });
    writeFileSync(bootstrapPath, JSON.stringify(this.opts.bootstrap, null, 2));
    const binary = this.opts.binary ?? resolveEnvoyBinary().path;
    const args = [
      '-c', bootstrapPath,
      ...envoyRunFlags({ concurrency: this.opts.concurrency, logLevel: this.opts.logLevel }),
      '--admin-address-path', adminPath,
      '--parent-shutdown-time-s', '2',
      // Skips Envoy's reflection walk over every xDS message looking for unknown and deprecated fields (its
      // default only warns about them): ~40% of its CPU to apply a 3,000-route RouteConfiguration. Weft encodes
      // from Envoy's own protos and sets no deprecated field (test/xds-no-deprecated-fields.test.ts);
      // protoc-gen-validate rules are still checked, so invalid config is still NACKed.
      ...(this.opts.checkDynamicFields ? [] : ['--ignore-unknown-dynamic-fields']),
    ];
    // Killed with this process, even by SIGKILL: a crashed Weft must not leave an Envoy holding its ports.
    const child = spawn(...diesWithParent(binary, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const append = (chunk: Buffer): void => {
      const text = chunk.toString();
      if (this.opts.logger) for (const line of text.split('\n')) if (line.trim()) this.opts.logger.info({ envoy: line });
      this.output = (this.output + text).slice(-256 * 1024);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exitPromise = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`envoy exited with ${child.exitCode} during start:\n${this.output}`);
      try {
        const address = readFileSync(adminPath, 'utf8').trim();
        const port = Number(address.slice(address.lastIndexOf(':') + 1));
        if (port > 0) {
          this.adminPort = port;
          return;
        }
      } catch {
        // not written yet
      }
      await sleep(20);
    }
    await this.stop();
    throw new Error(`envoy did not open its admin port within ${timeoutMs} ms:\n${this.output}`);
  }

  /** Resolves with the exit code when Envoy exits. */
  exited(): Promise<number | null> {
    return this.exitPromise ?? Promise.resolve(null);
  }

  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exitPromise;
      clearTimeout(timer);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }

  async admin(pathAndQuery: string, method: 'GET' | 'POST' = 'GET'): Promise<string> {
    const res = await fetch(this.adminUrl + pathAndQuery, { method });
    const body = await res.text();
    if (!res.ok) throw new Error(`envoy admin ${pathAndQuery}: ${res.status} ${body}`);
    return body;
  }

  async configDump(): Promise<ConfigDump> {
    return JSON.parse(await this.admin('/config_dump')) as ConfigDump;
  }

  /** A counter or gauge from /stats, or undefined if Envoy has no such stat. */
  async stat(name: string): Promise<number | undefined> {
    const text = await this.admin(`/stats?filter=${encodeURIComponent(`^${name.replace(/[.]/g, '\\.')}$`)}`);
    const match = /:\s*(\d+)\s*$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  }
}

export interface ConfigDump {
  configs: Array<Record<string, unknown> & { '@type': string }>;
}

/**
 * Names of resources Envoy holds but has not finished warming, by kind: non-empty means a listener or
 * cluster is stuck waiting for something (a missing cluster, secret or route).
 */
export function warmingResources(dump: ConfigDump): string[] {
  const out: string[] = [];
  for (const section of dump.configs) {
    for (const key of ['dynamic_warming_listeners', 'dynamic_warming_clusters', 'dynamic_warming_secrets']) {
      const entries = section[key];
      if (Array.isArray(entries)) for (const e of entries as Array<{ name?: string }>) out.push(`${key}:${e.name ?? '?'}`);
    }
  }
  return out;
}

export interface SupervisorOptions extends EnvoyProcessOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Keeps an Envoy running: restarts it with exponential backoff when it exits unexpectedly. */
export class EnvoySupervisor {
  current: EnvoyProcess | undefined;
  restarts = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private starting: Promise<EnvoyProcess> | undefined;

  constructor(private readonly opts: SupervisorOptions, private readonly logger?: Logger) {}

  start(): Promise<EnvoyProcess> {
    this.starting = (async () => {
      const proc = new EnvoyProcess(this.opts);
      await proc.start();
      this.current = proc;
      this.loop = this.watch(proc);
      return proc;
    })();
    return this.starting;
  }

  private async watch(first: EnvoyProcess): Promise<void> {
    let proc = first;
    let backoff = this.opts.initialBackoffMs ?? 250;
    for (;;) {
      const code = await proc.exited();
      if (this.stopping) return;
      this.logger?.error({ code, backoffMs: backoff }, 'envoy exited; restarting');
      await proc.stop();
      await sleep(backoff);
      if (this.stopping) return;
      backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 10_000);
      try {
        const next = new EnvoyProcess(this.opts);
        await next.start();
        if (this.stopping) {
          // stop() came while this one was starting: it would otherwise outlive the supervisor.
          await next.stop();
          return;
        }
        this.current = proc = next;
        this.restarts++;
        backoff = this.opts.initialBackoffMs ?? 250;
      } catch (err) {
        this.logger?.error({ err }, 'envoy restart failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A stop() during start() must wait for that Envoy, or it would outlive the supervisor (orphaned under PID 1).
    await this.starting?.catch(() => undefined);
    await this.current?.stop();
    await this.loop;
  }
}
