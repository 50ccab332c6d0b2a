import type { z } from 'zod';
import { parseEnv } from '../contract/config.js';

/** What {@link runMain} takes. */
export interface RunMainOptions<TSchema extends z.ZodType> {
  /** The process's name in messages, e.g. `sluice worker`. */
  name: string;
  /** The process's configuration schema. */
  schema: TSchema;
  /**
   * Starts the process with its configuration. Loaded and called only once the configuration is
   * known to be good, so that a bad one fails fast, before heavy modules load.
   */
  start: (config: Readonly<z.output<TSchema>>) => Promise<unknown>;
  /** @defaultValue `process.env` */
  env?: Record<string, string | undefined>;
}

/**
 * The body of every `main.ts`: parses the environment once, then starts the process. A bad
 * configuration, or a start that fails, prints one line on stderr naming what is wrong (before
 * any logger exists) and exits 1.
 */
export async function runMain<TSchema extends z.ZodType>(options: RunMainOptions<TSchema>): Promise<void> {
  let config: Readonly<z.output<TSchema>>;
  try {
    config = parseEnv(options.schema, options.env ?? process.env);
  } catch (err) {
    console.error(`${options.name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  try {
    await options.start(config);
  } catch (err) {
    console.error(`${options.name}: could not start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
