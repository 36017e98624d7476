// A `weft run` (StandaloneRunner) on a temp directory of manifests, for TLS end-to-end tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { Condition } from '../../src/gateway/conditions.js';
import { StandaloneRunner } from '../../src/standalone/runner.js';
import { startedAndReady } from './standalone.js';

export interface TlsRunner {
  dir: string;
  runner: StandaloneRunner;
  logs: string[];
  write(file: string, text: string): void;
  /** The conditions of listener `name` of Gateway default/gw in the last translation. */
  listenerConditions(name: string): Record<string, Pick<Condition, 'status' | 'reason' | 'message'>>;
  /** The status of object kind/default/name in the last translation. */
  status(kind: string, name: string): Record<string, unknown> | undefined;
}

export async function startTlsRunner(t: ExecutionContext, files: Record<string, string>): Promise<TlsRunner> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-tls-run-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const runner = new StandaloneRunner({ dir, protocol: 'delta', logger, print: () => {}, nodeId: `weft-tls-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  t.teardown(async () => {
    await runner.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await runner.start();
  await startedAndReady(runner);
  const status = (kind: string, name: string): Record<string, unknown> | undefined => runner.last?.statuses.find((s) => s.kind === kind && s.name === name)?.status;
  return {
    dir,
    runner,
    logs,
    write: (file, text) => writeFileSync(path.join(dir, file), text),
    status,
    listenerConditions(name) {
      const listeners = (status('Gateway', 'gw')?.listeners ?? []) as Array<{ name: string; conditions: Condition[] }>;
      const l = listeners.find((x) => x.name === name);
      return Object.fromEntries((l?.conditions ?? []).map((c) => [c.type, { status: c.status, reason: c.reason, message: c.message }]));
    },
  };
}
