import type { Job, JobsOptions, Queue } from 'bullmq';
import { SluiceError } from '../contract/errors.js';
import {
  parsePayload,
  type JobDefinition,
  type PayloadInputOf,
  type PayloadOf,
} from '../contract/job-definition.js';

/**
 * Validates the payload, applies the definition's default options and adds the job.
 * BullMQ returns the existing job when one with the same `jobId` is already stored.
 * @throws SluiceError `INVALID_REQUEST` when the payload does not fit the schema
 */
export async function enqueue<TDef extends JobDefinition>(
  queue: Queue,
  def: TDef,
  payload: PayloadInputOf<TDef>,
  options: JobsOptions = {},
): Promise<Job<PayloadOf<TDef>>> {
  if (queue.name !== def.queue) {
    throw new SluiceError('INTERNAL', `job ${def.name} belongs to queue ${def.queue}, not ${queue.name}`);
  }
  const data = parsePayload(def, payload);
  return (await queue.add(def.name, data, { ...def.defaults, ...options })) as Job<PayloadOf<TDef>>;
}
