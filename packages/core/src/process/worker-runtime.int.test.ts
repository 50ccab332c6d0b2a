import { Queue, type Job } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { uniqueName } from '../../../../test/support/names.js';
import { waitFor } from '../../../../test/support/ports.js';
import { SluiceError, decodeFailure } from '../contract/errors.js';
import { defineJob } from '../contract/job-definition.js';
import { enqueue } from '../queue/enqueue.js';
import { createLogger } from './logger.js';
import { createRedisConnection } from '../queue/redis-connection.js';
import { WorkerRuntime, type WorkerRuntimeOptions } from './worker-runtime.js';

const QUEUE = 'work';
const stepsJob = defineJob({
  name: 'steps',
  queue: QUEUE,
  payload: z.object({
    steps: z.number().int().min(1),
    stepMs: z.number().int().min(0),
    fail: z.string().optional(),
    failOnce: z.string().optional(),
    deferOnce: z.boolean().optional(),
  }),
  defaults: { attempts: 3, backoff: { type: 'fixed', delay: 10 } },
});

const redisUrl = inject('redisUrl');
const logger = createLogger({
  name: 'test',
  level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent',
});
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Steps the handler ran, by job ID, across every runtime in the test. */
type StepLog = Map<string, number[]>;

function setup() {
  const prefix = uniqueName('rt');
  const connection = createRedisConnection({ url: redisUrl, role: 'producer' });
  const queue = new Queue(QUEUE, { connection, prefix });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await connection.quit();
  });
  const steps: StepLog = new Map();
  // When each job failed on purpose, shared by every runtime of the test (like an outage).
  const failedAt = new Map<string, number>();
  const runtime = (overrides: Partial<WorkerRuntimeOptions> = {}) => {
    const rt = new WorkerRuntime({
      queue: QUEUE,
      prefix,
      logger,
      connection: createRedisConnection({ url: redisUrl, role: 'worker' }),
      drainTimeoutMs: 5_000,
      abortGraceMs: 2_000,
      ...overrides,
    });
    const deferred = new Set<string>();
    rt.register(stepsJob, async ({ job, payload, signal, defer }) => {
      if (payload.deferOnce && !deferred.has(job.id!)) {
        deferred.add(job.id!);
        return defer(1000, 'test');
      }
      if (payload.fail) throw new SluiceError(payload.fail as 'NO_TEXT', 'handler failed on purpose');
      if (payload.failOnce && !failedAt.has(job.id!)) {
        failedAt.set(job.id!, Date.now());
        throw new SluiceError(payload.failOnce as 'NO_TEXT', 'handler failed on purpose, once');
      }
      const done = steps.get(job.id!) ?? [];
      steps.set(job.id!, done);
      const start = done.length;
      for (let step = start; step < payload.steps; step++) {
        // A safe point between batches: stop here when told to.
        signal.throwIfAborted();
        await new Promise((r) => setTimeout(r, payload.stepMs));
        done.push(step);
      }
      return { steps: done.length };
    });
    cleanups.push(() => rt.drain());
    return rt;
  };
  return { queue, runtime, steps, prefix, failedAt };
}

async function waitForStart(steps: StepLog, job: Job) {
  await waitFor(async () => steps.has(job.id!), { what: `job ${job.id} to start` });
}

async function waitForState(job: Job, state: string, timeoutMs = 15_000) {
  await waitFor(async () => (await job.getState()) === state, { timeoutMs, what: `job ${job.id} ${state}` });
}

describe('WorkerRuntime', () => {
  it('moves through starting → ready → draining → closed', async () => {
    const { runtime } = setup();
    const rt = runtime();
    expect(rt.state).toBe('starting');
    await rt.start();
    expect(rt.state).toBe('ready');
    const drained = rt.drain();
    expect(rt.state).toBe('draining');
    await drained;
    expect(rt.state).toBe('closed');
  });

  it('lets an in-flight job finish within the drain deadline', async () => {
    const { queue, runtime, steps } = setup();
    const rt = runtime();
    await rt.start();
    const job = await enqueue(queue, stepsJob, { steps: 5, stepMs: 60 });
    await waitForStart(steps, job);
    const result = await rt.drain();
    expect(result).toMatchObject({ inFlight: 1, preempted: 0, abandoned: false });
    expect(await job.getState()).toBe('completed');
  });

  it('preempts a job past the deadline without spending an attempt; another worker finishes it', async () => {
    const { queue, runtime, steps } = setup();
    const first = runtime({ drainTimeoutMs: 300 });
    await first.start();
    const job = await enqueue(queue, stepsJob, { steps: 30, stepMs: 50 });
    await waitForStart(steps, job);
    const result = await first.drain();
    expect(result.preempted).toBe(1);
    const handedBack = await queue.getJob(job.id!);
    expect(await handedBack!.getState()).toBe('waiting');
    expect(handedBack!.attemptsMade).toBe(0);
    const ranBeforePreemption = steps.get(job.id!)!.length;
    expect(ranBeforePreemption).toBeGreaterThan(0);
    expect(ranBeforePreemption).toBeLessThan(30);

    const second = runtime();
    await second.start();
    await waitForState(job, 'completed');
    const finished = await queue.getJob(job.id!);
    expect(finished!.returnvalue).toEqual({ steps: 30 });
    // Each step ran exactly once across both workers.
    expect(steps.get(job.id!)).toEqual([...Array(30).keys()]);
  });

  it('spends an attempt once a job was preempted more than maxPreemptions times', async () => {
    const { queue, runtime, steps } = setup();
    const job = await enqueue(queue, stepsJob, { steps: 1000, stepMs: 20 });
    for (let round = 0; round < 2; round++) {
      steps.delete(job.id!);
      const rt = runtime({ drainTimeoutMs: 100, maxPreemptions: 1 });
      await rt.start();
      await waitForStart(steps, job);
      await rt.drain();
    }
    const after = await queue.getJob(job.id!);
    expect(after!.attemptsMade).toBe(1);
    expect(decodeFailure(after!.failedReason).code).toBe('PREEMPTED');
  });

  it('fails an invalid payload without retry', async () => {
    const { queue, runtime } = setup();
    const rt = runtime();
    await rt.start();
    // Bypasses enqueue's validation, as a foreign producer could.
    const job = await queue.add('steps', { steps: 'many' }, { attempts: 3 });
    await waitForState(job, 'failed');
    const failed = await queue.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(decodeFailure(failed!.failedReason)).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(failed!.failedReason).toContain('steps');
  });

  it('turns a non-retryable code into a single failed attempt, and retries a retryable one', async () => {
    const { queue, runtime } = setup();
    const rt = runtime();
    await rt.start();
    const fatal = await enqueue(queue, stepsJob, { steps: 1, stepMs: 0, fail: 'NO_TEXT' });
    const transient = await enqueue(queue, stepsJob, { steps: 1, stepMs: 0, fail: 'INTERNAL' });
    await waitForState(fatal, 'failed');
    await waitForState(transient, 'failed');
    expect((await queue.getJob(fatal.id!))!.attemptsMade).toBe(1);
    expect((await queue.getJob(transient.id!))!.attemptsMade).toBe(3);
    expect(decodeFailure((await queue.getJob(fatal.id!))!.failedReason).code).toBe('NO_TEXT');
  });

  it('hands a job caught by a dependency outage back without spending an attempt, and pauses the queue for every worker', async () => {
    const { queue, runtime, failedAt } = setup();
    const outage = { outageBackoffMs: 300, outageBackoffMaxMs: 300 };
    await runtime(outage).start();
    // Fails with DEPENDENCY_UNAVAILABLE on its first run only: the outage ends by itself.
    const job = await enqueue(queue, stepsJob, { steps: 1, stepMs: 0, failOnce: 'DEPENDENCY_UNAVAILABLE' });
    await waitFor(async () => failedAt.has(job.id!) && (await job.getState()) !== 'active', {
      what: 'the job handed back',
    });
    // A worker that did not see the outage, free to take the job at once, honours the pause too.
    await runtime(outage).start();
    await waitForState(job, 'completed');
    const done = (await queue.getJob(job.id!))!;
    // One finished run and no failed one: the outage cost no attempt.
    expect(done.attemptsMade).toBe(1);
    expect(done.failedReason).toBeFalsy();
    // No worker took it again before the pause was over (less the clock's granularity).
    expect(done.processedOn! - failedAt.get(job.id!)!).toBeGreaterThanOrEqual(290);
  });

  it('defers a job without spending an attempt', async () => {
    const { queue, runtime } = setup();
    const rt = runtime();
    await rt.start();
    const job = await enqueue(queue, stepsJob, { steps: 1, stepMs: 0, deferOnce: true });
    await waitForState(job, 'delayed');
    expect((await queue.getJob(job.id!))!.attemptsMade).toBe(0);
    await waitForState(job, 'completed');
    // BullMQ counts the one finished run.
    expect((await queue.getJob(job.id!))!.attemptsMade).toBe(1);
  });

  it('refuses an invalid payload at enqueue, naming the field', async () => {
    const { queue } = setup();
    await expect(enqueue(queue, stepsJob, { steps: 0, stepMs: 1 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('steps') as string,
    });
    expect(await queue.count()).toBe(0);
  });
});
