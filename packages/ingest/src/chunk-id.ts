import { digestParts } from '@sluice/core';

/** The fields that identify one chunk. */
export interface ChunkIdInput {
  collection: string;
  docId: string;
  /** `pipelineFingerprint()` of the settings that produced the chunk. */
  fingerprint: string;
  /** The chunk's text, exactly as embedded. */
  text: string;
  /** 0 for the first chunk with this text in the document, 1 for the second, and so on. */
  ordinal: number;
}

/**
 * Deterministic chunk ID: the same chunk of the same document under the same pipeline always
 * gets the same ID, so an upsert can never duplicate it, and an unchanged chunk of a new
 * version keeps its ID (and its stored embedding).
 */
export function chunkId(input: ChunkIdInput): string {
  return `chk-${digestParts(['chunk', input.collection, input.docId, input.fingerprint, input.text, input.ordinal]).slice(0, 40)}`;
}

/**
 * Gives each chunk text its ordinal among equal texts in the same document, in order.
 * @returns one ordinal per input text
 */
export function ordinalsAmongEqual(texts: readonly string[]): number[] {
  const seen = new Map<string, number>();
  return texts.map((text) => {
    const ordinal = seen.get(text) ?? 0;
    seen.set(text, ordinal + 1);
    return ordinal;
  });
}
