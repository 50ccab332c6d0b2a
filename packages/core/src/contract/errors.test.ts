import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SluiceError, decodeFailure, encodeFailure, toSluiceError } from './errors.js';

describe('SluiceError', () => {
  it('takes retryability and status from the one table', () => {
    expect(new SluiceError('NO_TEXT', 'x').retryable).toBe(false);
    expect(new SluiceError('DEPENDENCY_UNAVAILABLE', 'x').retryable).toBe(true);
    expect(new SluiceError('TOO_LARGE', 'x').status).toBe(413);
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(typeof entry.retryable, code).toBe('boolean');
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
    }
  });

  it('keeps its cause', () => {
    const cause = new Error('inner');
    expect(new SluiceError('INTERNAL', 'outer', { cause }).cause).toBe(cause);
  });
});

describe('toSluiceError', () => {
  it('returns Sluice errors unchanged', () => {
    const err = new SluiceError('NO_TEXT', 'empty');
    expect(toSluiceError(err)).toBe(err);
  });

  it('keeps a code that crossed a thread as a plain object', () => {
    const err = toSluiceError({ code: 'ENCRYPTED_DOCUMENT', message: 'needs a password' });
    expect(err.code).toBe('ENCRYPTED_DOCUMENT');
    expect(err.message).toBe('needs a password');
  });

  it('classifies refused connections, also when wrapped by fetch, as a dependency outage', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toSluiceError(refused).code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(toSluiceError(new TypeError('fetch failed', { cause: refused })).code).toBe(
      'DEPENDENCY_UNAVAILABLE',
    );
  });

  it('turns anything else into a retryable INTERNAL error with the original as cause', () => {
    const original = new RangeError('boom');
    const err = toSluiceError(original);
    expect(err.code).toBe('INTERNAL');
    expect(err.retryable).toBe(true);
    expect(err.cause).toBe(original);
    expect(toSluiceError('text').message).toBe('text');
  });
});

describe('failure encoding', () => {
  it('round-trips the code through a BullMQ failure reason', () => {
    const reason = encodeFailure(new SluiceError('PARSE_TIMEOUT', 'took: too long'));
    expect(decodeFailure(reason)).toEqual({ code: 'PARSE_TIMEOUT', message: 'took: too long' });
  });

  it('reads foreign reasons as INTERNAL', () => {
    expect(decodeFailure('job stalled more than allowable limit')).toEqual({
      code: 'INTERNAL',
      message: 'job stalled more than allowable limit',
    });
    expect(decodeFailure('NOT_A_CODE: x').code).toBe('INTERNAL');
  });
});
