import type { JobsOptions } from 'bullmq';
import type { z } from 'zod';
import { SluiceError } from './errors.js';

/** What {@link defineJob} takes. */
export interface JobDefinitionOptions<TName extends string, TSchema extends z.ZodType> {
  /** The BullMQ job name, unique within its queue. */
  name: TName;
  /** The queue the job travels on. */
  queue: string;
  /** The payload schema, checked when the job is enqueued and again in the worker. */
  payload: TSchema;
  /** Job options applied on every enqueue unless the caller overrides them. */
  defaults?: JobsOptions;
}

/** One job kind: its name, queue, payload schema and default options, defined once. */
export interface JobDefinition<TName extends string = string, TSchema extends z.ZodType = z.ZodType> {
  readonly name: TName;
  readonly queue: string;
  readonly payload: TSchema;
  readonly defaults: Readonly<JobsOptions>;
}

/** The payload type of a job definition. */
export type PayloadOf<TDef extends JobDefinition> = z.output<TDef['payload']>;

/** The payload type a caller may pass (before defaults are applied). */
export type PayloadInputOf<TDef extends JobDefinition> = z.input<TDef['payload']>;

/**
 * Defines a job kind once; the SDK, the API and the worker derive their types and validation
 * from the value this returns.
 */
export function defineJob<TName extends string, TSchema extends z.ZodType>(
  options: JobDefinitionOptions<TName, TSchema>,
): JobDefinition<TName, TSchema> {
  return Object.freeze({
    name: options.name,
    queue: options.queue,
    payload: options.payload,
    defaults: Object.freeze({ ...options.defaults }),
  });
}

/**
 * Validates a payload against a definition.
 * @throws SluiceError `INVALID_REQUEST` naming the first offending field
 */
export function parsePayload<TDef extends JobDefinition>(def: TDef, payload: unknown): PayloadOf<TDef> {
  const parsed = def.payload.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : '(payload)';
    throw new SluiceError(
      'INVALID_REQUEST',
      `invalid ${def.name} payload: ${field}: ${issue?.message ?? 'invalid'}`,
      {
        details: {
          field,
          issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        },
        cause: parsed.error,
      },
    );
  }
  return parsed.data as PayloadOf<TDef>;
}
