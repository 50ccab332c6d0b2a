import { SluiceError } from '@sluice/core';
import { type DocumentQueue } from '@sluice/core/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { assertCovers } from '../auth.js';
import { jobParams, jobStatus } from '../http-schemas.js';
import { BEARER_SECURITY, V1_ERRORS, errorResponses, json } from '../route-schemas.js';

/** Options of {@link jobRoutes}. */
export interface JobRoutesOptions {
  documents: DocumentQueue;
}

/**
 * `GET /v1/jobs/{jobId}`: a job's state, progress, attempts, result or error. The token must
 * cover the collection named in the job's payload.
 */
export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (app, { documents }) => {
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
    async (request) => {
      const { jobId } = request.params;
      const job = await documents.queue.getJob(jobId);
      if (!job) throw notFound(jobId);
      const { collection } = (job.data ?? {}) as { collection?: unknown };
      // A job without a collection in its payload is no document job: only "*" may see it.
      assertCovers(request.tokenClaims, typeof collection === 'string' ? collection : '*');
      const status = await documents.status(jobId);
      if (!status) throw notFound(jobId);
      return status;
    },
  );
};

function notFound(jobId: string): SluiceError {
  return new SluiceError('NOT_FOUND', `no job ${jobId} (finished jobs are kept for a week)`, {
    details: { field: 'jobId' },
  });
}
