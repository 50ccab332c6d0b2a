import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { enqueue } from '@sluice/core/queue';
import { stepsJob } from '../fixtures/steps-job.js';
import { uniqueName } from '../support/names.js';
import { freePort, waitFor } from '../support/ports.js';
import { startNode, waitForHttp, type ServiceProcess } from '../support/processes.js';

// The fixture is TypeScript; node runs it through tsx.
const FIXTURE = 'test/fixtures/steps-worker.ts';
const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function setup() {
  const prefix = uniqueName('proc');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(stepsJob.queue, { connection: redis, prefix });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });
  const worker = async (env: Record<string, string> = {}): Promise<ServiceProcess & { health: string }> => {
    const healthPort = await freePort();
    const proc = startNode(
      FIXTURE,
      {
        REDIS_URL: redisUrl,
        SLUICE_PREFIX: prefix,
        HEALTH_PORT: String(healthPort),
        DRAIN_TIMEOUT_MS: '1500',
        LOCK_DURATION_MS: '2000',
        STALLED_INTERVAL_MS: '500',
        WORKER_CONCURRENCY: '2',
        ...env,
      },
      [],
      ['--import', 'tsx'],
    );
    cleanups.push(() => proc.stop());
    const health = `http://127.0.0.1:${healthPort}/api/health`;
    await waitForHttp(health);
    return Object.assign(proc, { health });
  };
  const steps = async (job: Job) => redis.lrange(`${prefix}:test-steps:${job.id}`, 0, -1);
  const waitForSteps = (job: Job, n: number) =>
    waitFor(async () => (await steps(job)).length >= n, { what: `${n} steps of ${job.id}` });
  const state = (job: Job, wanted: string, timeoutMs = 20_000) =>
    waitFor(async () => (await job.getState()) === wanted, { timeoutMs, what: `job ${job.id} ${wanted}` });
  return { queue, worker, steps, waitForSteps, state };
}

async function statusOf(url: string): Promise<number> {
  return (await fetch(url)).status;
}

describe('a worker process', () => {
  it('on SIGTERM turns readiness 503 at once, finishes its job within the deadline and exits 0', async () => {
    const { queue, worker, waitForSteps, state } = setup();
    const w = await worker({ DRAIN_TIMEOUT_MS: '5000' });
    const job = await enqueue(queue, stepsJob, { steps: 30, stepMs: 100 });
    await waitForSteps(job, 1);
    w.signal('SIGTERM');
    // The drain takes ~3 s; readiness must say 503 well before it ends.
    await waitFor(async () => (await statusOf(w.health)) === 503, { timeoutMs: 1500, what: 'readiness 503' });
    // Liveness keeps answering while the drain runs.
    expect(await statusOf(w.health.replace('health', 'live'))).toBe(200);
    expect(await w.exited).toEqual({ code: 0, signal: null });
    await state(job, 'completed');
  });

  it('on SIGTERM with a job past the deadline hands it back; another worker completes it', async () => {
    const { queue, worker, steps, waitForSteps, state } = setup();
    const first = await worker();
    const job = await enqueue(queue, stepsJob, { steps: 40, stepMs: 100 });
    await waitForSteps(job, 2);
    const signalled = Date.now();
    first.signal('SIGTERM');
    await waitFor(async () => (await statusOf(first.health)) === 503, {
      timeoutMs: 1000,
      what: 'readiness 503',
    });
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(1500 + 2000);
    const handedBack = (await queue.getJob(job.id!))!;
    expect(await handedBack.getState()).toBe('waiting');
    expect(handedBack.attemptsMade).toBe(0);
    expect(first.logs().some((l) => l.msg === 'job preempted and returned to wait')).toBe(true);

    const second = await worker();
    await state(job, 'completed');
    const done = (await queue.getJob(job.id!))!;
    expect(done.returnvalue).toEqual({ pid: second.child.pid });
    const recorded = await steps(job);
    // Every step ran exactly once, split between the two processes.
    expect(recorded.map((s) => Number(s.split(':')[1]))).toEqual([...Array(40).keys()]);
    expect(new Set(recorded.map((s) => s.split(':')[0]))).toEqual(
      new Set([String(first.child.pid), String(second.child.pid)]),
    );
  });

  it('SIGKILLed mid-job: another worker takes the job once its lock expires and completes it', async () => {
    const { queue, worker, waitForSteps, state } = setup();
    const victim = await worker();
    const job = await enqueue(queue, stepsJob, { steps: 30, stepMs: 100 });
    await waitForSteps(job, 2);
    victim.signal('SIGKILL');
    await victim.exited;
    const rescuer = await worker();
    // From the rescuer's readiness (its start-up under load is not what is measured): at most the
    // lock's 2 s + the stalled check's 0.5 s, then the job's remaining steps.
    const readyAt = Date.now();
    await state(job, 'completed');
    expect(Date.now() - readyAt).toBeLessThan(2000 + 500 + 30 * 100 + 3000);
    const done = (await queue.getJob(job.id!))!;
    expect(done.returnvalue).toEqual({ pid: rescuer.child.pid });
    expect(done.attemptsMade).toBe(1);
  });

  it('exits within drain timeout + abort grace + its margin when shutting down hangs', async () => {
    const { worker } = setup();
    const w = await worker({ DRAIN_TIMEOUT_MS: '500', TEST_HANG_ON_CLOSE: 'true' });
    const started = performance.now();
    w.signal('SIGTERM');
    const exit = await w.exited;
    const took = performance.now() - started;
    // Drain 0.5 s (nothing running), then the close hangs: the 5 s abort grace is not even needed,
    // the 2 s margin after drain + grace is the most it may take.
    expect(exit.code).toBe(1);
    expect(took).toBeLessThan(500 + 5000 + 2000 + 1000);
    expect(w.output()).toContain('shutdown did not finish in time');
  });

  it('exits at once with a non-zero code on a second signal', async () => {
    const { queue, worker, waitForSteps } = setup();
    const w = await worker({ DRAIN_TIMEOUT_MS: '30000' });
    const job = await enqueue(queue, stepsJob, { steps: 100, stepMs: 100 });
    await waitForSteps(job, 1);
    w.signal('SIGTERM');
    // The first signal has been handled (two signals sent back to back could arrive as one).
    await waitFor(async () => (await statusOf(w.health)) === 503, { timeoutMs: 5000, what: 'readiness 503' });
    const second = Date.now();
    w.signal('SIGTERM');
    expect(await w.exited).toEqual({ code: 143, signal: null });
    // Against the 30 s drain it would otherwise wait for.
    expect(Date.now() - second).toBeLessThan(3000);
  });

  it('refuses a bad environment value before starting, naming the variable', async () => {
    const proc = startNode(
      FIXTURE,
      { REDIS_URL: redisUrl, WORKER_CONCURRENCY: 'lots' },
      [],
      ['--import', 'tsx'],
    );
    const { code } = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.output()).toContain('WORKER_CONCURRENCY');
  });
});
