import { ERROR_CODES, type ErrorCode } from '@sluice/core';
import type { z } from 'zod';
import { errorBody } from './http-schemas.js';

/** OpenAPI security requirement of the `/v1` routes. */
export const BEARER_SECURITY = [{ bearerAuth: [] }];

/** A JSON response with its description, in the form both Fastify and the OpenAPI document take. */
export interface JsonResponse<TSchema extends z.ZodType> {
  description: string;
  content: { 'application/json': { schema: TSchema } };
}

/** Describes a JSON response of a route. */
export function json<TSchema extends z.ZodType>(schema: TSchema, description: string): JsonResponse<TSchema> {
  return { description, content: { 'application/json': { schema } } };
}

/** What each error code means to a caller of the API, for the OpenAPI document. */
const ERROR_MEANINGS: Partial<Record<ErrorCode, string>> = {
  INVALID_REQUEST: 'a parameter, field or body failed validation; `error.field` names it',
  UNAUTHENTICATED: 'the bearer token is missing, malformed, expired or wrongly signed',
  FORBIDDEN: 'the token does not cover the collection',
  NOT_FOUND: 'no such job (finished jobs are kept a week)',
  TOO_LARGE: 'the file is larger than MAX_UPLOAD_BYTES',
  UNSUPPORTED_TYPE: 'the bytes are not a PDF, Markdown or UTF-8 text',
  NO_TEXT: 'the file is empty',
  INVALID_DOCUMENT: 'the file is an empty PDF',
  EMBEDDING_FAILED: 'the embeddings endpoint answered with an error; retry',
  DEPENDENCY_UNAVAILABLE: 'Redis or Chroma does not answer; retry',
  SHUTTING_DOWN: 'this instance is shutting down; retry (another instance answers)',
  INTERNAL: 'an unexpected error; the server log has it under the `x-request-id`',
};

/**
 * Error answers of a route, by the codes it can answer: one response per status (the status from
 * `ERROR_CODES`, the one table that maps codes to statuses), described by its codes.
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, JsonResponse<typeof errorBody>> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, sharing]) => [
      status,
      json(errorBody, sharing.map((code) => `${code}: ${ERROR_MEANINGS[code] ?? code}`).join('; ')),
    ]),
  );
}

/** Errors every `/v1` route can answer: bad input, bad token, token scope, a dependency down, shutdown. */
export const V1_ERRORS: ErrorCode[] = [
  'INVALID_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'INTERNAL',
  'DEPENDENCY_UNAVAILABLE',
  'SHUTTING_DOWN',
];
