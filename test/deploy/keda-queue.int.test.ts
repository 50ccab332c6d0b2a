import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadKustomization, objectNamed } from './support/kubernetes.js';
import { QUEUE_NAME, deployedWorker } from './support/sluice.js';

/*
 * KEDA's `redis` scaler measures a key by its type (LLEN a list, ZCARD a sorted set, HLEN a hash),
 * and the ScaledObject's formula combines the four keys it names. This checks, with real BullMQ
 * on a real Redis, that the keys are where BullMQ keeps the workers' queue, and that the formula
 * asks for workers for waiting, prioritized and running jobs, and only for running ones while the
 * queue is paused.
 */

const { namespace, manifests } = loadKustomization();
const worker = deployedWorker(manifests, namespace);
const scaledObject = objectNamed<IScaledObject>(
  manifests,
  'keda.sh/v1alpha1',
  'ScaledObject',
  'sluice-worker',
);
const prefix = worker.config.SLUICE_PREFIX;

/** What the scaler reads from one key: its length, by the command its type calls for. */
async function scalerValue(redis: Redis, key: string): Promise<number> {
  const type = await redis.type(key);
  if (type === 'zset') return redis.zcard(key);
  if (type === 'set') return redis.scard(key);
  if (type === 'hash') return redis.hlen(key);
  return redis.llen(key);
}

/** The formula of the ScaledObject, the one expression this test knows how to evaluate. */
const FORMULA = 'meta > 2 ? active : waiting + prioritized + active';
function evaluate(values: Readonly<Record<string, number>>): number {
  const v = (name: string) => values[name] ?? Number.NaN;
  return v('meta') > 2 ? v('active') : v('waiting') + v('prioritized') + v('active');
}

describe('the ScaledObject against a real Redis and BullMQ', () => {
  const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  // Our own prefix (STYLE.md §9); the key names are built the way the triggers build theirs.
  const testPrefix = `deploy-keda-${process.pid}-${Date.now()}`;
  const queue = new Queue(QUEUE_NAME, { connection, prefix: testPrefix });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  });

  /** Every trigger's value, read from the test's queue as KEDA reads the deployed one. */
  async function triggers(): Promise<Record<string, number>> {
    const values: Record<string, number> = {};
    for (const trigger of scaledObject.spec.triggers) {
      const key = trigger.metadata.listName ?? '';
      expect(trigger.type).toBe('redis');
      expect(key.startsWith(`${prefix}:${QUEUE_NAME}:`), key).toBe(true);
      values[trigger.name ?? ''] = await scalerValue(connection, `${testPrefix}${key.slice(prefix.length)}`);
    }
    return values;
  }

  it('counts waiting, prioritized and running jobs, and only running ones while the queue is paused', async () => {
    expect(scaledObject.spec.advanced?.scalingModifiers?.formula).toBe(FORMULA);
    await queue.add('ingest-document', { n: 1 });
    await queue.add('ingest-document', { n: 2 });
    await queue.add('ingest-document', { n: 3 }, { priority: 5 });
    expect(await triggers()).toMatchObject({ waiting: 2, prioritized: 1, active: 0 });
    expect(evaluate(await triggers())).toBe(3);

    const consumerConnection = connection.duplicate();
    const consumer = new Worker(QUEUE_NAME, null, { connection: consumerConnection, prefix: testPrefix });
    try {
      await consumer.getNextJob('deploy-test-token');
      // A running job still counts, so that its worker is not scaled away while it works.
      const running = await triggers();
      expect(running.active).toBe(1);
      expect(evaluate(running)).toBe(3);

      // Paused: BullMQ leaves the jobs where they are and adds a field to the meta hash.
      await queue.pause();
      const paused = await triggers();
      expect(paused.meta).toBeGreaterThan(2);
      expect(paused).toMatchObject({ waiting: 1, prioritized: 1 });
      expect(evaluate(paused)).toBe(1);

      await queue.resume();
      const resumed = await triggers();
      expect(resumed.meta).toBeLessThanOrEqual(2);
      expect(evaluate(resumed)).toBe(3);
    } finally {
      await consumer.close();
      consumerConnection.disconnect();
    }
  });
});
