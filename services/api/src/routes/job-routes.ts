import type { ServerResponse } from 'node:http';
import { SluiceError, type JobStatus, type TokenClaims } from '@sluice/core';
import { type DocumentQueue, type JobEvents } from '@sluice/core/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertCovers } from '../auth.js';
import { jobParams, jobStatus } from '../http-schemas.js';
import { BEARER_SECURITY, V1_ERRORS, errorResponses, json } from '../route-schemas.js';

/** Options of {@link jobRoutes}. */
export interface JobRoutesOptions {
  documents: DocumentQueue;
  /** The queue's events, for `GET /v1/jobs/{jobId}/events`. */
  jobEvents: JobEvents;
}

/** How often an idle event stream carries a comment, so that proxies do not time it out. */
const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/jobs/{jobId}`: a job's state, progress, attempts, result or error; and
 * `GET /v1/jobs/{jobId}/events`: the same as server-sent events while the job runs. The token
 * must cover the collection named in the job's payload.
 */
export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (app, { documents, jobEvents }) => {
  /** The job's status, once the token is checked against its collection. */
  async function visibleStatus(jobId: string, claims: TokenClaims | undefined): Promise<JobStatus> {
    const job = await documents.queue.getJob(jobId);
    if (!job) throw notFound(jobId);
    const { collection } = (job.data ?? {}) as { collection?: unknown };
    // A job without a collection in its payload is no document job: only "*" may see it.
    assertCovers(claims, typeof collection === 'string' ? collection : '*');
    const status = await documents.status(jobId);
    if (!status) throw notFound(jobId);
    return status;
  }

  app.get(
    '/v1/jobs/:jobId',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job: state, progress, attempts, result or error',
        security: BEARER_SECURITY,
        params: jobParams,
        response: { 200: json(jobStatus, 'The job'), ...errorResponses(...V1_ERRORS, 'NOT_FOUND') },
      },
    },
    async (request) => visibleStatus(request.params.jobId, request.tokenClaims),
  );

  // Streams end when the API shuts down: a client reconnects (to another instance) and goes on.
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const stream of streams) stream.end('retry: 1000\n\n');
  });

  app.get(
    '/v1/jobs/:jobId/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job as server-sent events: progress, then completed or failed',
        description:
          'A `progress` event with the job as `GET /v1/jobs/{jobId}` answers it, now and at every change ' +
          '(pages parsed, chunks written, of the total); then one `completed` or `failed` event, after ' +
          'which the stream closes. A stream that ends without either (the API shutting down) is to be ' +
          'opened again.',
        security: BEARER_SECURITY,
        params: jobParams,
        response: {
          200: {
            description: 'text/event-stream: `event: progress|completed|failed`, `data:` the job as JSON',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...errorResponses(...V1_ERRORS, 'NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      // Checked before the stream opens, so that a refusal is an ordinary JSON error.
      await visibleStatus(jobId, request.tokenClaims);
      const raw = reply.raw;
      let wake: () => void = () => undefined;
      let pending: boolean | undefined;
      const notify = () => {
        pending = true;
        wake();
      };
      // Listening first, then reading: a change between the two is seen by one or the other.
      const unsubscribe = await jobEvents.subscribe(jobId, notify);
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      streams.add(raw);
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const gone = new Promise<void>((resolve) => raw.once('close', resolve));
      try {
        let last = '';
        for (;;) {
          pending = false;
          const status = await documents.status(jobId);
          if (!status) break;
          const event = status.state === 'completed' || status.state === 'failed' ? status.state : 'progress';
          const data = JSON.stringify(status);
          if (data !== last) raw.write(`event: ${event}\ndata: ${data}\n\n`);
          last = data;
          if (event !== 'progress') break;
          if (!pending) {
            const changed = new Promise<void>((resolve) => (wake = resolve));
            await Promise.race([changed, gone]);
          }
          if (raw.destroyed || raw.writableEnded) break;
        }
      } catch (err) {
        request.log.warn({ err, jobId }, 'job event stream ended by an error');
      } finally {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(raw);
        if (!raw.writableEnded) raw.end();
      }
    },
  );
};

function notFound(jobId: string): SluiceError {
  return new SluiceError('NOT_FOUND', `no job ${jobId} (finished jobs are kept for a week)`, {
    details: { field: 'jobId' },
  });
}
