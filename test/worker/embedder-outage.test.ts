import { afterAll, describe, expect, inject, it } from 'vitest';
import { type JobStatus } from '@sluice/core';
import { DocumentQueue, createRedisConnection } from '@sluice/core/queue';
import { startEmbeddingServer, type EmbeddingServer } from '../../bench/embedding-server.js';
import { inlineText } from '../support/documents.js';
import { waitFor } from '../support/ports.js';
import { startStack } from '../support/stack.js';

const connection = createRedisConnection({ url: inject('redisUrl'), role: 'worker' });
afterAll(() => {
  connection.disconnect();
});

/** What a worker logs (warn) when it hands a job back for a dependency's outage. */
const OUTAGE = 'dependency outage: job handed back, queue paused';

/** A small Markdown page of its own (distinct texts: nothing is shared between documents). */
const page = (n: number) =>
  `# Page ${n}\n\n` +
  Array.from({ length: 6 }, (_, p) => `Paragraph ${p} of page ${n}: ${'lorem ipsum dolor '.repeat(20)}`).join(
    '\n\n',
  );

describe('a worker against an OpenAI-compatible endpoint that refuses and goes away (G9)', () => {
  it(
    'fails no job and spends no attempt on 429s or on the endpoint being down',
    { timeout: 180_000 },
    async () => {
      // One request per 4 s window: most requests of four concurrent jobs are refused with 429.
      const limits = { rpm: 15, windowSeconds: 4, latencyMs: [20, 50] as const };
      let server: EmbeddingServer = await startEmbeddingServer(limits);
      const port = Number(new URL(server.url).port);
      await using stack = await startStack({
        label: 'embedder-outage',
        redis: inject('redisUrl'),
        chroma: inject('chromaUrl'),
      });
      const documents = new DocumentQueue({ connection, prefix: stack.prefix });
      const collection = stack.collection('outage');
      try {
        const worker = await stack.startWorker({
          WORKER_CONCURRENCY: '4',
          EMBEDDINGS: 'openai',
          EMBEDDINGS_URL: server.baseUrl,
          EMBEDDINGS_MODEL: 'text-embedding-3-small',
          EMBEDDINGS_API_KEY: 'test-key',
          // Each job's texts in requests of their own, so that the jobs compete for the window.
          EMBEDDINGS_BATCH_SIZE: '8',
        });
        const submit = async (from: number, count: number) =>
          Promise.all(
            Array.from({ length: count }, async (_, i) => {
              const n = from + i;
              return (await documents.ingest(inlineText(collection, `page-${n}.md`, page(n)))).jobId;
            }),
          );
        const settled = (jobIds: string[]) =>
          Promise.all(
            jobIds.map((jobId) =>
              waitFor(
                async () => {
                  const s = await documents.status(jobId);
                  return s && (s.state === 'completed' || s.state === 'failed') ? s : undefined;
                },
                { timeoutMs: 150_000, intervalMs: 200, what: `job ${jobId}` },
              ),
            ),
          );
        const expectDoneInOneAttempt = (statuses: JobStatus[]) => {
          for (const status of statuses) {
            expect(status.state, JSON.stringify(status)).toBe('completed');
            expect(status.attempts, JSON.stringify(status)).toBe(1);
          }
        };

        // Rate limited: refused requests, then every job completes in its one attempt.
        const limited = await submit(0, 6);
        expectDoneInOneAttempt(await settled(limited));
        const refused = server.stats().rateLimited.total;
        expect(refused).toBeGreaterThan(0);

        // Down: the endpoint goes away with jobs queued, for longer than a request's own retries
        // last (5, about 15 s), so that the worker hands the jobs back; then it comes back on the
        // same address.
        await server.close();
        const whileDown = await submit(100, 3);
        await waitFor(async () => worker.logs().some((l) => l.msg === OUTAGE), {
          timeoutMs: 60_000,
          what: 'a job handed back for the outage',
        });
        for (const jobId of whileDown) {
          expect((await documents.status(jobId))?.state, jobId).not.toBe('failed');
        }
        server = await startEmbeddingServer({ ...limits, port });
        expectDoneInOneAttempt(await settled(whileDown));
        expect(server.stats().succeeded).toBeGreaterThan(0);
      } finally {
        await documents.close();
        await server.close();
      }
    },
  );
});
