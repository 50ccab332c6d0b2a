import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';

/** The header a request ID is taken from and answered in. */
export const REQUEST_ID_HEADER = 'x-request-id';

// Short and plain, so that a caller cannot stuff log lines with whatever it likes.
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The ID of a request: the caller's `x-request-id` when it is a plain token of at most 128
 * characters (a load balancer's or client's trace ID), otherwise a fresh UUID.
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTED_REQUEST_ID.test(given) ? given : randomUUID();
}

/** A URL with the value of any `token` query parameter replaced, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

/**
 * The `req` serializer of the API's log lines: Fastify's fields, with the URL redacted (the
 * dashboard accepts a token in `?token=`). Headers, and so `Authorization`, are never logged.
 */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
