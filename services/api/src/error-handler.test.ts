import { SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { classifyError, errorBodyOf } from './error-handler.js';

const up = { dependencyDown: () => false };

describe('classifyError', () => {
  it('keeps a SluiceError as it is', () => {
    const err = new SluiceError('FORBIDDEN', 'no');
    expect(classifyError(err, up)).toBe(err);
  });

  it("maps Fastify's client errors by status", () => {
    const tooLarge = Object.assign(new RangeError('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    expect(classifyError(tooLarge, up)).toMatchObject({ code: 'TOO_LARGE' });
    const media = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415 });
    expect(classifyError(media, up)).toMatchObject({ code: 'UNSUPPORTED_TYPE' });
    const odd = Object.assign(new Error('Not Acceptable'), { statusCode: 406 });
    expect(classifyError(odd, up)).toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('names the field path of a zod validation failure', () => {
    const symbol = Symbol.for('ZodFastifySchemaValidationError');
    const err = Object.assign(new Error('bad'), {
      validationContext: 'body',
      validation: [
        { [symbol]: true, instancePath: '/metadata/docId', message: 'reserved', keyword: 'custom' },
      ],
    });
    expect(classifyError(err, up)).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'metadata.docId: reserved',
      details: { field: 'metadata.docId' },
    });
  });

  it('makes anything else INTERNAL, or DEPENDENCY_UNAVAILABLE while Redis is down', () => {
    expect(classifyError(new TypeError('x is undefined'), up)).toMatchObject({ code: 'INTERNAL' });
    expect(classifyError(new Error('Stream is not writeable'), { dependencyDown: () => true })).toMatchObject(
      {
        code: 'DEPENDENCY_UNAVAILABLE',
      },
    );
  });
});

describe('errorBodyOf', () => {
  it('never sends the message of an internal error', () => {
    const body = errorBodyOf(new SluiceError('INTERNAL', 'at secret.js:12 password=hunter2'), 'req-1');
    expect(body).toEqual({
      error: {
        code: 'INTERNAL',
        message: 'internal error; the server log has the details under request req-1',
      },
    });
  });

  it('sends the field of a 400', () => {
    const body = errorBodyOf(
      new SluiceError('INVALID_REQUEST', 'docId: empty', { details: { field: 'docId' } }),
      'r',
    );
    expect(body).toEqual({ error: { code: 'INVALID_REQUEST', message: 'docId: empty', field: 'docId' } });
  });
});
