import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** The process or component, e.g. `worker`. */
  name: string;
  /** @defaultValue `info` */
  level?: LevelWithSilent;
  /** Release marker included on every line. */
  release?: string;
  /** Where lines go: a stream, or a file path. @defaultValue stdout */
  destination?: DestinationStream | string;
}

/** Structured JSON logs on stdout, one line per event. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { pid: process.pid, release: options.release },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    typeof options.destination === 'string'
      ? pino.destination(options.destination)
      : (options.destination ?? pino.destination(1)),
  );
}

export type { Logger } from 'pino';
