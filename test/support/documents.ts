import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentHash } from '@sluice/core';
import { type IngestRequest } from '@sluice/core/queue';

/** The test corpus (real PDFs and Markdown no one here wrote; licences in test/corpus/NOTICE). */
export const corpusDir = fileURLToPath(new URL('../corpus/', import.meta.url));

/** A corpus file's absolute path. */
export function corpusPath(relative: string): string {
  return join(corpusDir, relative);
}

/**
 * Puts a file where workers read uploads (`STORAGE_DIR/<sha256>`), as the API does, and returns
 * the ingest request for it.
 */
export async function stageFile(
  storageDir: string,
  path: string,
  request: { collection: string; docId?: string; metadata?: Record<string, string | number | boolean> },
): Promise<IngestRequest> {
  const bytes = await readFile(path);
  const hash = contentHash(bytes);
  await mkdir(storageDir, { recursive: true });
  await copyFile(path, join(storageDir, hash));
  return {
    collection: request.collection,
    docId: request.docId ?? basename(path),
    contentHash: hash,
    source: basename(path),
    storageKey: hash,
    metadata: request.metadata ?? {},
  };
}

/** An ingest request carrying its text inline. */
export function inlineText(collection: string, docId: string, text: string): IngestRequest {
  return { collection, docId, source: docId, text, contentHash: contentHash(text), metadata: {} };
}
