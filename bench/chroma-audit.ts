/**
 * What a contender left in Chroma, compared with the chunks a clean single run stores: duplicates
 * (a chunk text stored more often than the document holds it), missing chunks, and stale chunks
 * (texts the document no longer has).
 */
import { ChromaClient, type Collection } from 'chromadb';

/** The outcome of {@link auditCollection}. */
export interface AuditResult {
  /** Records in the collection. */
  records: number;
  /** Records a clean single run stores (the planned chunks). */
  expected: number;
  /**
   * Extra copies: for every document and chunk text, the records beyond the number of times the
   * document holds that text (the same text stored under several IDs).
   */
  duplicates: number;
  /** Planned chunks with no record. */
  missing: number;
  /** Records whose text the document does not hold (left over from another version). */
  stale: number;
  /** Records without a `docId` in their metadata. */
  orphans: number;
}

/** A Chroma client for a `http://host:port` URL. */
export function chromaClient(url: string): ChromaClient {
  const u = new URL(url);
  return new ChromaClient({ host: u.hostname, port: Number(u.port), ssl: u.protocol === 'https:' });
}

/**
 * Creates a collection the way Sluice's store does (cosine space, no embedding function), so that
 * every contender writes into the same kind of index.
 */
export async function createBenchCollection(client: ChromaClient, name: string): Promise<Collection> {
  return client.getOrCreateCollection({
    name,
    embeddingFunction: null,
    configuration: { hnsw: { space: 'cosine' } },
  });
}

/** Deletes a collection if it exists. */
export async function dropCollection(client: ChromaClient, name: string): Promise<void> {
  await client.deleteCollection({ name }).catch(() => undefined);
}

/** Records in a collection (0 when it does not exist). */
export async function countRecords(client: ChromaClient, name: string): Promise<number> {
  try {
    const collection = await client.getCollection({ name });
    return await collection.count();
  } catch {
    return 0;
  }
}

/**
 * Reads every record of a collection (page by page) and compares it with the expected chunk texts
 * per document. Every contender stores the document's ID in its records' `docId` metadata.
 */
export async function auditCollection(
  client: ChromaClient,
  name: string,
  expected: ReadonlyMap<string, readonly string[]>,
): Promise<AuditResult> {
  const stored = new Map<string, Map<string, number>>();
  let records = 0;
  let orphans = 0;
  const pageSize = 1000;
  const collection = await client.getCollection({ name }).catch(() => undefined);
  for (let offset = 0; collection; offset += pageSize) {
    const page = await collection.get({ include: ['documents', 'metadatas'], limit: pageSize, offset });
    page.ids.forEach((_, i) => {
      records++;
      const docId = page.metadatas[i]?.docId;
      if (typeof docId !== 'string') {
        orphans++;
        return;
      }
      const texts = stored.get(docId) ?? new Map<string, number>();
      const text = page.documents[i] ?? '';
      texts.set(text, (texts.get(text) ?? 0) + 1);
      stored.set(docId, texts);
    });
    if (page.ids.length < pageSize) break;
  }
  let duplicates = 0;
  let missing = 0;
  let stale = 0;
  let expectedTotal = 0;
  for (const [docId, texts] of expected) {
    expectedTotal += texts.length;
    const want = new Map<string, number>();
    for (const t of texts) want.set(t, (want.get(t) ?? 0) + 1);
    const have = stored.get(docId) ?? new Map<string, number>();
    for (const [t, n] of want) missing += Math.max(0, n - (have.get(t) ?? 0));
    for (const [t, n] of have) {
      const w = want.get(t);
      if (w === undefined) stale += n;
      else duplicates += Math.max(0, n - w);
    }
  }
  for (const [docId, texts] of stored) {
    if (!expected.has(docId)) for (const n of texts.values()) stale += n;
  }
  return { records, expected: expectedTotal, duplicates, missing, stale, orphans };
}
