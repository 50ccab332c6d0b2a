import { describe, expect, it } from 'vitest';
import { MAX_METADATA_BYTES, MAX_METADATA_KEYS, metadataSchema } from './document-jobs.js';

describe('metadataSchema', () => {
  it('takes flat scalars', () => {
    expect(metadataSchema.parse({ team: 'sre', year: 2024, public: true })).toEqual({
      team: 'sre',
      year: 2024,
      public: true,
    });
  });

  it(`refuses more than ${MAX_METADATA_KEYS} keys: the metadata is copied onto every chunk`, () => {
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 'v'.repeat(90)]));
    const result = metadataSchema.safeParse(many);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/at most 64 keys/);
    expect(
      metadataSchema.safeParse(
        Object.fromEntries(Array.from({ length: MAX_METADATA_KEYS }, (_, i) => [`k${i}`, i])),
      ).success,
    ).toBe(true);
  });

  it(`refuses more than ${MAX_METADATA_BYTES} bytes of JSON`, () => {
    const big = { a: 'x'.repeat(4000), b: 'y'.repeat(4000), c: 'z'.repeat(400) };
    expect(metadataSchema.safeParse(big).error?.issues[0]?.message).toMatch(/bytes as JSON/);
  });

  it('refuses keys Sluice sets itself, naming the key', () => {
    expect(metadataSchema.safeParse({ docId: 'spoof' }).error?.issues[0]?.path).toEqual(['docId']);
  });
});
