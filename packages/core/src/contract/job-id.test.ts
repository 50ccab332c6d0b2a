import { describe, expect, it } from 'vitest';
import { PIPELINE_VERSION, contentHash, deleteJobId, ingestJobId, pipelineFingerprint } from './job-id.js';

const doc = { collection: 'runbooks', docId: 'guide.pdf', contentHash: contentHash('hello') };

describe('ingestJobId', () => {
  it('is pinned: the same input gives the same ID on every machine and release', () => {
    expect(PIPELINE_VERSION).toBe(1);
    expect(doc.contentHash).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(ingestJobId(doc)).toBe('ing-e0a4477c7a1bab1bf3070ed8967d2f53b5ec452d');
  });

  it('changes with each part of the identity', () => {
    const base = ingestJobId(doc);
    expect(ingestJobId({ ...doc, collection: 'other' })).not.toBe(base);
    expect(ingestJobId({ ...doc, docId: 'other' })).not.toBe(base);
    expect(ingestJobId({ ...doc, contentHash: contentHash('bye') })).not.toBe(base);
    expect(ingestJobId({ ...doc, pipelineVersion: 2 })).not.toBe(base);
  });

  it('does not let parts run into each other', () => {
    expect(ingestJobId({ ...doc, collection: 'ab', docId: 'c' })).not.toBe(
      ingestJobId({ ...doc, collection: 'a', docId: 'bc' }),
    );
  });

  it('is safe as a BullMQ custom ID: no colon, never all digits', () => {
    for (let i = 0; i < 200; i++) {
      const id = ingestJobId({ ...doc, docId: `d${i}` });
      expect(id).not.toContain(':');
      expect(id).not.toMatch(/^\d+$/);
      expect(id).toMatch(/^ing-[0-9a-f]{40}$/);
    }
  });
});

describe('deleteJobId', () => {
  it('is pinned and differs from the ingest ID', () => {
    const id = deleteJobId({ collection: 'runbooks', docId: 'guide.pdf', nonce: 'n1' });
    expect(id).toBe('del-51578a67e6b8c9cf3ffa8b99837cade680946bf8');
    expect(id).not.toBe(ingestJobId(doc));
  });
});

describe('pipelineFingerprint', () => {
  it('does not depend on key order and is pinned', () => {
    const a = pipelineFingerprint({ chunkSize: 1000, overlap: 100, embedder: 'hash-v1-384' });
    const b = pipelineFingerprint({ embedder: 'hash-v1-384', overlap: 100, chunkSize: 1000 });
    expect(a).toBe(b);
    expect(a).toBe('8af42a2d89ecd68e');
    expect(pipelineFingerprint({ chunkSize: 999, overlap: 100, embedder: 'hash-v1-384' })).not.toBe(a);
  });
});
