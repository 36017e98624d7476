// One structured logger for the whole process; components take child loggers with their name.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.WEFT_LOG_LEVEL ?? 'info'): Logger {
  // Logs go to stderr, so that what a command prints for people (stdout) stays readable.
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything, for library use where the caller passed none. */
export const silentLogger: Logger = pino({ level: 'silent' });
