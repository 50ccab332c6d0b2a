import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadKustomization, objectNamed } from './support/kubernetes.js';
import { QUEUE_NAME, deployedWorker } from './support/sluice.js';

/*
 * KEDA counts jobs by the length of two Redis lists. This checks, with real BullMQ on a real
 * Redis, that the lists the ScaledObject names are the ones where BullMQ keeps waiting and
 * running jobs of the workers' queue.
 */

const { namespace, manifests } = loadKustomization();
const worker = deployedWorker(manifests, namespace);
const scaledObject = objectNamed<IScaledObject>(
  manifests,
  'keda.sh/v1alpha1',
  'ScaledObject',
  'sluice-worker',
);
const redisTriggers = scaledObject.spec.triggers.filter((t) => t.type === 'redis');
const prefix = worker.config.SLUICE_PREFIX;

describe('the ScaledObject against a real Redis', () => {
  const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  // Our own prefix (STYLE.md §9); the list names are built the way the triggers build theirs.
  const testPrefix = `deploy-keda-${process.pid}-${Date.now()}`;
  const queue = new Queue(QUEUE_NAME, { connection, prefix: testPrefix });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  });

  it('finds a waiting job in <prefix>:ingest:wait and a running one in <prefix>:ingest:active', async () => {
    // The trigger's list name with the test's prefix in place of the deployed one.
    const listOf = (state: string) => {
      const name =
        redisTriggers.find((t) => t.metadata.listName?.endsWith(`:${state}`))?.metadata.listName ?? '';
      expect(name.startsWith(`${prefix}:`), name).toBe(true);
      return `${testPrefix}${name.slice(prefix.length)}`;
    };
    await queue.add('ingest-document', { n: 1 });
    await queue.add('ingest-document', { n: 2 });
    expect(await connection.llen(listOf('wait'))).toBe(2);
    const consumerConnection = connection.duplicate();
    const consumer = new Worker(QUEUE_NAME, null, { connection: consumerConnection, prefix: testPrefix });
    try {
      await consumer.getNextJob('deploy-test-token');
      expect(await connection.llen(listOf('wait'))).toBe(1);
      expect(await connection.llen(listOf('active'))).toBe(1);
    } finally {
      await consumer.close();
      consumerConnection.disconnect();
    }
  });
});
