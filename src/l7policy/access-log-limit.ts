// Keeps the L7 access log file Envoy appends to under a size. Every request under L7 policy is a line (~400 bytes):
// a node agent's file would otherwise grow until the node's disk (the chart's emptyDir) is full. logrotate's
// copytruncate: past `maxBytes`, the content is copied to `<file>.1` (replacing the previous one) and the file is
// truncated in place. Envoy opens access logs for appending, so it writes on at the new end without being told,
// also an Envoy the agent does not run (the chart's Envoy container, sharing the directory). A line Envoy writes
// between the copy and the truncation is lost. A reader of the file (the flow agent's tail) reads up to the
// rotation first, then from the copy (RotationReader).
import { copyFile, stat, truncate } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';

export const DEFAULT_ACCESS_LOG_MAX_BYTES = 100 * 1024 * 1024;

/** A reader that follows the file (src/observe/access-log-tail.ts): the rotation runs inside it, between its reads. */
export interface RotationReader {
  aroundRotation(rotate: () => Promise<void>): Promise<void>;
}

export class AccessLogFileLimit {
  rotations = 0;
  private readonly timer: NodeJS.Timeout;
  private checking: Promise<boolean> | undefined;

  constructor(
    readonly file: string,
    readonly maxBytes = DEFAULT_ACCESS_LOG_MAX_BYTES,
    private readonly opts: { intervalMs?: number; logger?: Logger; reader?: RotationReader } = {},
  ) {
    const warn = (err: unknown): void => opts.logger?.warn({ file, err: (err as Error).message }, 'could not keep the L7 access log under its size limit');
    this.timer = setInterval(() => void this.check().catch(warn), opts.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** Rotates the file when it is over the limit; resolves with whether it did. One check at a time. */
  check(): Promise<boolean> {
    this.checking ??= this.rotateIfOver().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async rotateIfOver(): Promise<boolean> {
    const size = await stat(this.file).then(
      (s) => s.size,
      (err: NodeJS.ErrnoException) => {
        // Envoy creates the file with its first line.
        if (err.code === 'ENOENT') return 0;
        throw err;
      },
    );
    if (size <= this.maxBytes) return false;
    const rotate = async (): Promise<void> => {
      await copyFile(this.file, `${this.file}.1`);
      await truncate(this.file, 0);
    };
    await (this.opts.reader ? this.opts.reader.aroundRotation(rotate) : rotate());
    this.rotations++;
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
