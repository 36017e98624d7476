// Container logs as the dev kubelet keeps them: a container's stdout and stderr go straight to a file (so they
// outlive a kubelet restart, as the container does), and the kubelet keeps beside each file an index of when its
// bytes appeared (`<file>.idx`, lines "<size> <ms since the epoch>"), taken from the file's mtime whenever inotify
// says it grew. A line's time is that of the first index entry covering its first byte: never earlier than the
// line was written, so `sinceTime` may include a line written just before, but never drops a later one. While the
// kubelet is down nothing is indexed; on start it indexes what grew meanwhile at the file's mtime.
import { appendFileSync, existsSync, readFileSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export const indexOf = (file: string) => `${file}.idx`;

/** The log of the container instance before the current one (`previous=true`). */
export const previousLogOf = (file: string) => file.replace(/\.log$/, '.previous.log');

/** Keeps the index of every `.log` file in `dir` current, until stopped. */
export class LogIndexer {
  private readonly sizes = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(private readonly dir: string, private readonly onError: (message: string) => void) {}

  start(files: string[]): void {
    this.watcher = watch(this.dir, (_event, name) => {
      if (name?.endsWith('.log')) this.mark(name);
    });
    this.watcher.on('error', (e) => this.onError(`log index: ${e.message}`));
    for (const f of files) this.index(f);
  }

  stop(): void {
    this.watcher?.close();
    clearTimeout(this.timer);
  }

  /** Indexes `name` now (e.g. before serving it), so what a reader sees has a time. */
  index(name: string): void {
    const file = join(this.dir, name);
    let size: number;
    let mtimeMs: number;
    try {
      ({ size, mtimeMs } = statSync(file));
    } catch {
      this.sizes.delete(name);
      return;
    }
    const known = this.sizes.get(name) ?? lastIndexed(file);
    if (size <= known) {
      this.sizes.set(name, size);
      return;
    }
    appendFileSync(indexOf(file), `${size} ${Math.round(mtimeMs)}\n`, { mode: 0o600 });
    this.sizes.set(name, size);
  }

  /** Moves a finished container's log (and index) aside as the previous instance's; the next one starts afresh. */
  rotate(file: string): void {
    if (!existsSync(file)) return;
    this.index(file.slice(this.dir.length + 1));
    renameSync(file, previousLogOf(file));
    if (existsSync(indexOf(file))) renameSync(indexOf(file), indexOf(previousLogOf(file)));
    for (const f of [file, previousLogOf(file)]) this.sizes.delete(f.slice(this.dir.length + 1));
  }

  private mark(name: string): void {
    this.dirty.add(name);
    // Writes come in bursts: one index entry per file per 10 ms at most.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      for (const n of this.dirty) {
        try {
          this.index(n);
        } catch (e) {
          this.onError(`log index of ${n}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      this.dirty.clear();
    }, 10);
  }
}

function readIndex(file: string): Array<{ size: number; ms: number }> {
  let text: string;
  try {
    text = readFileSync(indexOf(file), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    const [size, ms] = l.split(' ').map(Number);
    return Number.isFinite(size) && Number.isFinite(ms) && l ? [{ size, ms }] : [];
  });
}

function lastIndexed(file: string): number {
  const entries = readIndex(file);
  return entries.length ? entries[entries.length - 1].size : 0;
}

export interface LogLine { offset: number; text: Buffer; ms: number }

/** The lines of a log file from byte `from` (the last one possibly without its newline), each with its time. */
export function readLogLines(file: string, from = 0, now = Date.now()): { lines: LogLine[]; end: number } {
  const data = readFileSync(file).subarray(from);
  const index = readIndex(file);
  const lines: LogLine[] = [];
  let start = 0;
  let i = 0;
  while (start < data.length) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? data.length : nl + 1;
    const offset = from + start;
    while (i < index.length && index[i].size <= offset) i++;
    lines.push({ offset, text: data.subarray(start, end), ms: i < index.length ? index[i].ms : now });
    start = end;
  }
  return { lines, end: from + data.length };
}

/** RFC 3339 with nanoseconds, as the kubelet prefixes lines with `timestamps=true`. */
export function logTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}
