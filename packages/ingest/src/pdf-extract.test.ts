import { describe, expect, it } from 'vitest';
import { classifyPdfError } from './pdf-extract.js';

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

describe('classifyPdfError', () => {
  it.each([
    [
      named('PasswordException', 'No password given'),
      'ENCRYPTED_DOCUMENT',
      'PasswordException: No password given',
    ],
    [
      named('InvalidPDFException', 'Invalid PDF structure.'),
      'INVALID_DOCUMENT',
      'InvalidPDFException: Invalid PDF structure.',
    ],
    [
      named('UnknownErrorException', 'Bad XRef entry'),
      'INVALID_DOCUMENT',
      'UnknownErrorException: Bad XRef entry',
    ],
    [named('FormatError', 'Unknown filter'), 'INVALID_DOCUMENT', 'FormatError: Unknown filter'],
    [
      new RangeError('Maximum call stack size exceeded'),
      'INVALID_DOCUMENT',
      'RangeError: Maximum call stack size exceeded',
    ],
    [new TypeError('x is undefined'), 'INVALID_DOCUMENT', 'TypeError: x is undefined'],
    [
      { name: 'PasswordException', message: 'Incorrect Password' },
      'ENCRYPTED_DOCUMENT',
      'PasswordException: Incorrect Password',
    ],
    ['a string', 'INVALID_DOCUMENT', 'string: a string'],
  ])('classifies %o by name', (err, code, message) => {
    const result = classifyPdfError(err);
    expect(result.code).toBe(code);
    expect(result.message).toContain(message);
  });
});
