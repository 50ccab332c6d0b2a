import { describe, expect, it } from 'vitest';
import {
  PIPELINE_VERSION,
  contentHash,
  deleteJobId,
  documentVersion,
  ingestJobId,
  pipelineFingerprint,
} from './job-id.js';

const doc = { collection: 'runbooks', docId: 'guide.pdf', version: 'v'.repeat(32), seq: 7 };

describe('documentVersion', () => {
  const base = { contentHash: contentHash('hello'), metadata: { team: 'sre', tier: 1 }, fingerprint: 'fp' };

  it('is pinned, and changes with content, metadata and fingerprint', () => {
    expect(base.contentHash).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    const version = documentVersion(base);
    expect(version).toMatch(/^[0-9a-f]{32}$/);
    expect(documentVersion({ ...base, contentHash: contentHash('bye') })).not.toBe(version);
    expect(documentVersion({ ...base, metadata: { team: 'ops', tier: 1 } })).not.toBe(version);
    expect(documentVersion({ ...base, metadata: { team: 'sre' } })).not.toBe(version);
    expect(documentVersion({ ...base, fingerprint: 'fp2' })).not.toBe(version);
  });

  it('does not depend on the order of metadata keys, and tells types apart', () => {
    expect(documentVersion({ ...base, metadata: { tier: 1, team: 'sre' } })).toBe(documentVersion(base));
    expect(documentVersion({ ...base, metadata: { team: 'sre', tier: '1' } })).not.toBe(
      documentVersion(base),
    );
  });
});

describe('ingestJobId', () => {
  it('is pinned: the same input gives the same ID on every machine and release', () => {
    expect(PIPELINE_VERSION).toBe(1);
    expect(ingestJobId(doc)).toBe(ingestJobId({ ...doc }));
    expect(ingestJobId(doc)).toMatch(/^ing-[0-9a-f]{40}$/);
  });

  it('changes with each part of the identity, the submission included', () => {
    const base = ingestJobId(doc);
    expect(ingestJobId({ ...doc, collection: 'other' })).not.toBe(base);
    expect(ingestJobId({ ...doc, docId: 'other' })).not.toBe(base);
    expect(ingestJobId({ ...doc, version: 'w'.repeat(32) })).not.toBe(base);
    expect(ingestJobId({ ...doc, seq: 8 })).not.toBe(base);
  });

  it('does not let parts run into each other', () => {
    expect(ingestJobId({ ...doc, collection: 'ab', docId: 'c' })).not.toBe(
      ingestJobId({ ...doc, collection: 'a', docId: 'bc' }),
    );
  });

  it('is safe as a BullMQ custom ID: no colon, never all digits', () => {
    for (let i = 0; i < 200; i++) {
      const id = ingestJobId({ ...doc, seq: i });
      expect(id).not.toContain(':');
      expect(id).toMatch(/^ing-[0-9a-f]{40}$/);
    }
  });
});

describe('deleteJobId', () => {
  it('is pinned per submission and differs from the ingest ID', () => {
    const id = deleteJobId({ collection: 'runbooks', docId: 'guide.pdf', seq: 7 });
    expect(id).toMatch(/^del-[0-9a-f]{40}$/);
    expect(deleteJobId({ collection: 'runbooks', docId: 'guide.pdf', seq: 8 })).not.toBe(id);
    expect(id.slice(4)).not.toBe(ingestJobId(doc).slice(4));
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
