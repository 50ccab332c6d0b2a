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
      json(errorBody, sharing.map((code) => `${code}: ${ERROR_CODES[code].description}`).join('; ')),
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
  'RATE_LIMITED',
];
