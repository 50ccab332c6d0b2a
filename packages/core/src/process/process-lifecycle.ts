import type { Logger } from 'pino';

/** Options for {@link handleProcessSignals}. */
export interface ProcessSignalOptions {
  logger: Logger;
  /** Stops the process's work in order (drain, close servers and connections). */
  shutdown: (reason: string) => Promise<void>;
  /** How the process ends; replaceable in tests. @defaultValue `process.exit` */
  exit?: (code: number) => never;
  /** The longest a shutdown after an uncaught error may take before the process exits anyway. @defaultValue 5000 */
  crashShutdownMs?: number;
  /**
   * The longest a shutdown after SIGTERM or SIGINT may take: past it the process exits with 1,
   * whatever still hangs (a wedged request, a handler deaf to its signal), so that it never runs
   * into the orchestrator's SIGKILL. The worker passes drain timeout + abort grace + a margin.
   * @defaultValue no deadline
   */
  shutdownDeadlineMs?: number;
}

/**
 * SIGTERM or SIGINT: shut down in order, then exit 0 (1 if the shutdown itself failed).
 * A second signal: exit at once with 128 + the signal number. An uncaught exception or
 * unhandled rejection: log it, shut down what can be within `crashShutdownMs`, exit 1.
 */
export function handleProcessSignals(options: ProcessSignalOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.logger;
  let stopping = false;

  const stop = (reason: string, code: number, deadlineMs?: number) => {
    stopping = true;
    const shutdown = options.shutdown(reason).then(
      () => code,
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        return 1;
      },
    );
    const deadline =
      deadlineMs === undefined
        ? shutdown
        : Promise.race([
            shutdown,
            new Promise<number>((resolve) =>
              setTimeout(() => {
                log.error({ deadlineMs }, 'shutdown did not finish in time; exiting anyway');
                resolve(code === 0 ? 1 : code);
              }, deadlineMs).unref(),
            ),
          ]);
    void deadline.then((exitCode) => {
      log.info({ exitCode }, 'exiting');
      log.flush?.();
      exit(exitCode);
    });
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    log.info({ signal }, 'signal received, shutting down');
    stop(signal, 0, options.shutdownDeadlineMs);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const onCrash = (err: unknown, kind: string) => {
    log.fatal({ err }, kind);
    if (stopping) exit(1);
    stop(kind, 1, options.crashShutdownMs ?? 5000);
  };
  process.on('uncaughtException', (err) => onCrash(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => onCrash(err, 'unhandled rejection'));
}
