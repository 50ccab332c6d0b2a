/**
 * Queue overhead: no-op jobs through the Sluice worker runtime vs a bare BullMQ Worker at the
 * same concurrency, same Redis, alternating contenders each round. Target: ratio ≥ 0.9.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { defineJob } from '@sluice/core';
import { createRedisConnection } from '@sluice/core/queue';
import { createLogger, createWorkerMetrics, WorkerRuntime } from '@sluice/core/process';
import { startRedis } from '../test/support/redis.js';
import { uniqueName } from '../test/support/names.js';
import { machine, median, spread, writeResult } from './stats.js';

const noopJob = defineJob({ name: 'noop', queue: 'bench', payload: z.object({ n: z.number() }) });

/** Options of the queue benchmark. */
export interface QueueBenchOptions {
  jobs: number;
  concurrency: number;
  rounds: number;
}

interface Filled {
  /** Resolves once every job is completed in Redis. */
  allCompleted(): Promise<void>;
  cleanup(): Promise<void>;
}

// Both contenders count in their processor and then wait for Redis to show every job completed,
// so the measured end is the same for both.
async function fill(redisUrl: string, prefix: string, jobs: number): Promise<Filled> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  for (let i = 0; i < jobs; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ name: 'noop', data: { n: i + k } })),
    );
  }
  return {
    allCompleted: async () => {
      while ((await queue.getJobCountByTypes('completed')) < jobs) await new Promise((r) => setTimeout(r, 2));
    },
    cleanup: async () => {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

async function timeBare(redisUrl: string, o: QueueBenchOptions): Promise<number> {
  const prefix = uniqueName('bench-bare');
  const filled = await fill(redisUrl, prefix, o.jobs);
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const started = performance.now();
  const worker = new Worker(
    'bench',
    async () => {
      if (++done === o.jobs) finish();
      return { ok: true };
    },
    { connection, prefix, concurrency: o.concurrency },
  );
  await finished;
  await filled.allCompleted();
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  connection.disconnect();
  await filled.cleanup();
  return o.jobs / seconds;
}

async function timeSluice(redisUrl: string, o: QueueBenchOptions): Promise<number> {
  const prefix = uniqueName('bench-sluice');
  const filled = await fill(redisUrl, prefix, o.jobs);
  // Production settings: info-level JSON logs (to /dev/null here) and metrics on.
  const logger = createLogger({ name: 'bench', level: 'info', destination: '/dev/null' });
  const runtime = new WorkerRuntime({
    queue: 'bench',
    prefix,
    logger,
    concurrency: o.concurrency,
    connection: createRedisConnection({ url: redisUrl, role: 'worker' }),
    metrics: createWorkerMetrics('bench'),
  });
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  runtime.register(noopJob, async () => {
    if (++done === o.jobs) finish();
    return { ok: true };
  });
  const started = performance.now();
  await runtime.start();
  await finished;
  await filled.allCompleted();
  const seconds = (performance.now() - started) / 1000;
  await runtime.drain();
  await filled.cleanup();
  return o.jobs / seconds;
}

/** Runs the queue benchmark and prints/writes its result. */
export async function runQueueBench(
  options: Partial<QueueBenchOptions> = {},
): Promise<Record<string, unknown>> {
  const o: QueueBenchOptions = { jobs: 10_000, concurrency: 16, rounds: 5, ...options };
  const redis = await startRedis();
  const bare: number[] = [];
  const sluice: number[] = [];
  try {
    // One warm-up of each, not counted.
    await timeBare(redis.url, { ...o, jobs: Math.min(o.jobs, 2000) });
    await timeSluice(redis.url, { ...o, jobs: Math.min(o.jobs, 2000) });
    for (let round = 0; round < o.rounds; round++) {
      if (round % 2 === 0) {
        bare.push(await timeBare(redis.url, o));
        sluice.push(await timeSluice(redis.url, o));
      } else {
        sluice.push(await timeSluice(redis.url, o));
        bare.push(await timeBare(redis.url, o));
      }
    }
  } finally {
    await redis.stop();
  }
  const result = {
    benchmark: 'queue-overhead',
    machine: await machine(),
    redis: redis.kind,
    options: o,
    bareJobsPerSecond: { median: median(bare), spread: spread(bare), samples: bare },
    sluiceJobsPerSecond: { median: median(sluice), spread: spread(sluice), samples: sluice },
    ratio: median(sluice) / median(bare),
    target: 0.9,
  };
  console.log(
    [
      `queue overhead (${o.jobs} no-op jobs, concurrency ${o.concurrency}, ${o.rounds} rounds, alternating)`,
      `  bare BullMQ worker : ${Math.round(result.bareJobsPerSecond.median)} jobs/s (spread ${(result.bareJobsPerSecond.spread * 100).toFixed(0)} %)`,
      `  Sluice runtime     : ${Math.round(result.sluiceJobsPerSecond.median)} jobs/s (spread ${(result.sluiceJobsPerSecond.spread * 100).toFixed(0)} %)`,
      `  ratio              : ${result.ratio.toFixed(2)} (target ≥ ${result.target})`,
    ].join('\n'),
  );
  console.log(`  written to ${await writeResult('queue', result)}`);
  return result;
}
