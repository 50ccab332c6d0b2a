import { ERROR_CODES, SluiceError, codeForStatus, toSluiceError, type ErrorBody } from '@sluice/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { closeAfterAnswer } from './lingering-close.js';

/** Options for {@link registerErrorHandler}. */
export interface ErrorHandlerOptions {
  /**
   * Tells whether an unclassified error is likely a dependency outage (Redis not connected), so
   * that it answers 503 `DEPENDENCY_UNAVAILABLE`, which clients retry, instead of 500.
   */
  dependencyDown: () => boolean;
}

/**
 * Turns anything a route throws into a {@link SluiceError}, once:
 * - a `SluiceError` stays as it is;
 * - a zod validation failure from the type provider becomes `INVALID_REQUEST` naming the field
 *   path (`docId`, `metadata.docId`, `collection`);
 * - Fastify's and its plugins' client errors (`FST_ERR_CTP_BODY_TOO_LARGE`, unsupported media
 *   type, bad JSON, multipart limits) become the code of their status;
 * - anything else is `INTERNAL` (or `DEPENDENCY_UNAVAILABLE` while a dependency is down).
 */
export function classifyError(err: unknown, options: ErrorHandlerOptions): SluiceError {
  if (err instanceof SluiceError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issue = err.validation[0]!;
    const path = issue.instancePath.split('/').filter(Boolean).join('.');
    const field = path || String(err.validationContext ?? 'body');
    return new SluiceError('INVALID_REQUEST', `${field}: ${issue.message}`, {
      cause: err,
      details: { field },
    });
  }
  const fastifyError = err as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = codeForStatus(status);
    return new SluiceError(code, fastifyError.message ?? code, { cause: err });
  }
  const normalised = toSluiceError(err);
  if (normalised.code === 'INTERNAL' && options.dependencyDown()) {
    return new SluiceError('DEPENDENCY_UNAVAILABLE', 'Redis is not connected; try again shortly', {
      cause: err,
    });
  }
  return normalised;
}

/** The wire form of an error: `{ error: { code, message, field? } }`. */
export function errorBodyOf(error: SluiceError, requestId: string): ErrorBody {
  const field = error.details.field;
  const message =
    error.code === 'INTERNAL'
      ? `internal error; the server log has the details under request ${requestId}`
      : error.message;
  return {
    error: { code: error.code, message, ...(typeof field === 'string' ? { field } : {}) },
  };
}

/**
 * Sends an error answer. When the request body was not read to its end (a refused upload), the
 * connection is closed after the answer (see {@link closeAfterAnswer}) rather than the rest of
 * a 20 MiB body being received to keep it alive.
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: SluiceError): FastifyReply {
  if (!request.raw.complete) {
    closeAfterAnswer(request.raw);
    void reply.header('connection', 'close');
  }
  const status = ERROR_CODES[error.code].status;
  // 503s are passing (a dependency down, this instance shutting down): say when to try again.
  if (status === 503) void reply.header('retry-after', '1');
  // Serialized here, not by the route's response schema: an error may answer a status for which
  // the route documents another body (a probe's 503 while the server closes).
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(errorBodyOf(error, request.id)));
}

/**
 * The one error handler and the 404 handler of the API. Client errors are logged at `info`,
 * server errors at `error` with their stack and cause; the stack never goes to the client.
 */
export function registerErrorHandler(app: FastifyInstance, options: ErrorHandlerOptions): void {
  app.setErrorHandler((err, request, reply) => {
    const error = classifyError(err, options);
    const status = ERROR_CODES[error.code].status;
    if (status >= 500) request.log.error({ err, code: error.code }, 'request failed');
    else request.log.info({ code: error.code, message: error.message }, 'request refused');
    return sendError(request, reply, error);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new SluiceError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
    ),
  );
}
