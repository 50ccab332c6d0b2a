import { SluiceError } from '@sluice/core';
import type { z } from 'zod';

/**
 * Parses `value` with a core schema and turns a failure into the same error the API would
 * answer: `INVALID_REQUEST` naming the field (`metadata.page`, `docId`, …).
 * @throws SluiceError `INVALID_REQUEST` with `details.field`
 */
export function validate<TSchema extends z.ZodType>(
  schema: TSchema,
  value: unknown,
  field: string,
): z.output<TSchema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [field, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  throw new SluiceError('INVALID_REQUEST', `invalid ${path}: ${issue?.message ?? 'invalid value'}`, {
    details: { field: path },
    cause: parsed.error,
  });
}

/** An `INVALID_REQUEST` error naming `field`. */
export function invalidRequest(field: string, message: string, cause?: unknown): SluiceError {
  return new SluiceError('INVALID_REQUEST', message, {
    details: { field },
    ...(cause === undefined ? {} : { cause }),
  });
}
