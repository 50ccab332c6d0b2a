import { SluiceError } from './errors.js';
import { describe, expect, it } from 'vitest';
import { validateCollectionName, validateDocId } from './collection-name.js';

function failure(run: () => void): SluiceError {
  try {
    run();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

describe('validateCollectionName', () => {
  it.each(['abc', 'runbooks', 'a_b', 'Team-42.docs', '1.2.3', '01.2.3.4', '256.1.1.1', 'a'.repeat(512)])(
    'accepts %s',
    (name) => {
      expect(() => validateCollectionName(name)).not.toThrow();
    },
  );

  it.each([
    ['', /3–512 characters/],
    ['ab', /3–512 characters/],
    ['a'.repeat(513), /3–512 characters/],
    ['ab c', /only letters/],
    ['äbc', /only letters/],
    ['a/bc', /only letters/],
    ['-abc', /start and end with a letter or digit/],
    ['abc_', /start and end with a letter or digit/],
    ['.abc', /start and end with a letter or digit/],
    ['a..b', /two consecutive periods/],
    ['192.168.1.1', /IPv4/],
    ['0.0.0.0', /IPv4/],
    ['255.255.255.255', /IPv4/],
  ])('rejects %j, naming the rule', (name, rule) => {
    const error = failure(() => validateCollectionName(name));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.details).toEqual({ field: 'collection' });
    expect(error.message).toMatch(rule);
  });

  it('rejects a value that is not a string', () => {
    const error = failure(() => validateCollectionName(42));
    expect(error.message).toMatch(/must be a string/);
    expect(error.details).toEqual({ field: 'collection' });
  });
});

describe('validateDocId', () => {
  it.each(['a', 'guides/setup.md', 'Größe der Pods.pdf', 'ポッド', 'x'.repeat(512)])(
    'accepts %s',
    (docId) => {
      expect(() => validateDocId(docId)).not.toThrow();
    },
  );

  it.each([
    ['', /must not be empty/],
    ['x'.repeat(513), /at most 512 characters/],
    ['a\nb', /control characters/],
    ['a\u0000b', /control characters/],
    ['tab\there', /control characters/],
    ['del\u007f', /control characters/],
    ['c1\u0085', /control characters/],
  ])('rejects %j, naming the rule', (docId, rule) => {
    const error = failure(() => validateDocId(docId));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.details).toEqual({ field: 'docId' });
    expect(error.message).toMatch(rule);
  });

  it('rejects a value that is not a string', () => {
    expect(failure(() => validateDocId(undefined)).details).toEqual({ field: 'docId' });
  });
});
