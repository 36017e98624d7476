// Follows the L7 policy listeners' access log file as Envoy appends to it, handing on every new whole line. The
// flow agent's L7 flows come from here rather than from Envoy's gRPC access log service: an entry of that service
// cost Envoy about four times the file line it writes anyway (BENCHMARKS.md, "Flows from the file"). Envoy
// flushes the file every 250 ms (envoy/process.ts envoyRunFlags); this reads every 200 ms.
// The file is kept under a size by copytruncate (AccessLogFileLimit), which calls aroundRotation: the lines up to
// the rotation are read from the file, those Envoy wrote between that read and the copy from the copy.
import { open, stat } from 'node:fs/promises';
import type { RotationReader } from '../l7policy/access-log-limit.js';
import type { Logger } from '../log/logger.js';

const NEWLINE = 0x0a;
/** Bytes read at a time: a backlog (the agent busy for a while) is read in pieces, not in one buffer. */
const CHUNK_BYTES = 1024 * 1024;

export interface AccessLogTailOptions {
  /** Default 200 ms. */
  intervalMs?: number;
  /** Also read what the file holds when the tail starts (default: only what Envoy appends from then on). */
  fromStart?: boolean;
  logger?: Logger;
}

export class AccessLogTail implements RotationReader {
  /** Where the next read starts; undefined until the file's first stat (a file that exists starts at its end). */
  private offset: number | undefined;
  /** The start of a line Envoy has not finished writing (or a read cut). */
  private partial: Buffer = Buffer.alloc(0);
  private queue: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private warned = false;

  constructor(
    readonly file: string,
    private readonly onLines: (lines: string[]) => void,
    private readonly opts: AccessLogTailOptions = {},
  ) {
    if (opts.fromStart) this.offset = 0;
    this.timer = setInterval(() => void this.poll().catch((err: unknown) => this.warn(err)), opts.intervalMs ?? 200);
    this.timer.unref();
    void this.poll().catch((err: unknown) => this.warn(err));
  }

  /** Reads what was appended since the last read. One read at a time. */
  poll(): Promise<void> {
    return this.serialized(() => this.readNew(this.file));
  }

  aroundRotation(rotate: () => Promise<void>): Promise<void> {
    return this.serialized(async () => {
      await this.readNew(this.file);
      const readTo = this.offset ?? 0;
      await rotate();
      // Envoy may have appended between that read and the copy: the copy holds it, at the same offsets (a copy
      // shorter than what was read is not this rotation's: nothing of it is read again).
      const copy = `${this.file}.1`;
      const copied = await stat(copy).then((st) => st.size, () => 0);
      if (copied > readTo) {
        this.offset = readTo;
        await this.readNew(copy).catch(() => undefined);
      }
      // A line cut by the copy goes on in the truncated file no more: it was written before the truncation.
      this.partial = Buffer.alloc(0);
      this.offset = 0;
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private serialized(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readNew(file: string): Promise<void> {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      // Envoy creates the file with its first line: all of it will be new.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.offset ??= 0;
        return;
      }
      throw err;
    }
    if (this.offset === undefined) {
      this.offset = size;
      return;
    }
    if (size < this.offset) {
      // Truncated by someone else than AccessLogFileLimit (which says so first): start over.
      this.offset = 0;
      this.partial = Buffer.alloc(0);
    }
    if (size === this.offset) return;
    const handle = await open(file, 'r');
    try {
      while (this.offset < size) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - this.offset));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.take(buffer.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
    this.warned = false;
  }

  /** Whole lines go on; the rest waits for its end. Split on bytes: a chunk may end inside a UTF-8 character. */
  private take(bytes: Buffer): void {
    const data = this.partial.length > 0 ? Buffer.concat([this.partial, bytes]) : bytes;
    const lines: string[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      if (nl > start) lines.push(data.toString('utf8', start, nl));
      start = nl + 1;
    }
    this.partial = Buffer.from(data.subarray(start));
    if (lines.length > 0) this.onLines(lines);
  }

  private warn(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.opts.logger?.warn({ file: this.file, err: (err as Error).message }, 'could not read the L7 access log: its requests are missing from the flows until it can');
  }
}
