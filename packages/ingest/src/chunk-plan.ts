import { digestParts, type IngestDocumentPayload } from '@sluice/core';
import { chunkId, ordinalsAmongEqual } from './chunk-id.js';
import { toChunkMetadata, type ChunkMetadata, type ChunkRecord, type StoredChunk } from './chunk-store.js';
import type { Chunk } from './types.js';

/** One chunk with everything needed to write it, but its vector. */
export interface PlannedChunk {
  id: string;
  text: string;
  metadata: ChunkRecord['metadata'];
}

/** The chunks a document version yields, before anything is written. */
export interface DocumentPlan {
  /** Page count (PDF). */
  pages?: number;
  chunks: PlannedChunk[];
}

/** How a planned version differs from what is stored for its document. */
export interface ChunkDiff {
  /** Planned chunks not stored yet: to embed and write, in plan order. */
  missing: PlannedChunk[];
  /** Planned chunks stored with other metadata (an earlier version's page, lines, source, caller metadata): to update in place. */
  changed: { chunk: PlannedChunk; previous: ChunkMetadata }[];
  /** Planned chunks already stored as planned. */
  kept: number;
  /** Stored chunk IDs the plan does not hold: to delete once the version is written. */
  stale: string[];
}

/**
 * The chunks of one document version, with their deterministic IDs and metadata. Pure: the same
 * payload, chunks and fingerprint always give the same plan.
 */
export function planChunks(
  payload: IngestDocumentPayload,
  chunks: readonly Chunk[],
  fingerprint: string,
): PlannedChunk[] {
  const ordinals = ordinalsAmongEqual(chunks.map((c) => c.text));
  return chunks.map((chunk, i) => ({
    id: chunkId({
      collection: payload.collection,
      docId: payload.docId,
      fingerprint,
      text: chunk.text,
      ordinal: ordinals[i]!,
    }),
    text: chunk.text,
    metadata: chunkMetadata(payload, chunk),
  }));
}

/** What a plan needs written, updated and deleted, given what is stored for its document. Pure. */
export function diffChunks(
  planned: readonly PlannedChunk[],
  stored: ReadonlyMap<string, StoredChunk>,
): ChunkDiff {
  const keep = new Set(planned.map((c) => c.id));
  const missing: PlannedChunk[] = [];
  const changed: ChunkDiff['changed'] = [];
  for (const chunk of planned) {
    const existing = stored.get(chunk.id);
    if (!existing) missing.push(chunk);
    else if (metadataDigest(existing.metadata) !== metadataDigest(chunk.metadata)) {
      changed.push({ chunk, previous: existing.metadata });
    }
  }
  return {
    missing,
    changed,
    kept: planned.length - missing.length - changed.length,
    stale: [...stored.keys()].filter((id) => !keep.has(id)),
  };
}

/**
 * A digest of a chunk's metadata, independent of key order: what Sluice's record keeps per chunk,
 * so that an audit can tell a chunk whose metadata drifted. 16 hex digits.
 */
export function metadataDigest(metadata: Readonly<ChunkMetadata>): string {
  const entries = Object.entries(metadata)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${typeof value}:${String(value)}`);
  return digestParts(entries).slice(0, 16);
}

/** A chunk's metadata: the caller's, then Sluice's own keys (which callers may not set). */
function chunkMetadata(payload: IngestDocumentPayload, chunk: Chunk): ChunkRecord['metadata'] {
  return {
    ...toChunkMetadata(payload.metadata),
    ...toChunkMetadata({
      collection: payload.collection,
      contentHash: payload.contentHash,
      source: payload.source,
      chunkIndex: chunk.index,
      page: chunk.page,
      headingPath: chunk.headingPath,
      lineStart: chunk.lineStart,
      lineEnd: chunk.lineEnd,
    }),
    docId: payload.docId,
  };
}
