/**
 * The alternatives Sluice is measured against, each as a user would write it, on the same chunks
 * (Sluice's loaders and `splitDocument`), the same embedder (Sluice's `HashEmbedder`, 384
 * dimensions) and the same Chroma:
 *
 * - the Chroma ceiling: one process upserting pre-split, pre-embedded batches of 250;
 * - the tutorial loop: parse, split, then one embedding call and one `collection.add` per chunk,
 *   with a random UUID per chunk as the getting-started examples do;
 * - the expert script: one process, parse → split → embed → upsert in batches of 250 with
 *   deterministic IDs, no queue ({@link runScript});
 * - LangChain's `index()` with its in-memory record manager and LangChain's Chroma vector store,
 *   `cleanup: 'incremental'`, `sourceIdKey: 'docId'`.
 *
 * They run in the benchmark's process ({@link runContenderPhases}), and in a child process of
 * their own ({@link runContenderProcess}) for the run that the crash-and-rerun test SIGKILLs
 * halfway, as it does Sluice's workers.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InMemoryRecordManager } from '@langchain/community/indexes/memory';
import { Chroma } from '@langchain/community/vectorstores/chroma';
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { index } from '@langchain/core/indexing';
import type { Collection } from 'chromadb';
import { chromaClient, createBenchCollection } from './chroma-audit.js';
import { benchEmbedder, closeBenchParsePool, loadAndSplit, type BenchDocument } from './corpus.js';
import { HashEmbeddings } from './hash-embeddings.js';

/** One record, ready to write. */
export interface CeilingRecord {
  id: string;
  embedding: number[];
  document: string;
  metadata: Record<string, string | number | boolean>;
}

/** What one timed phase of a contender did. */
export interface PhaseResult {
  phase: string;
  seconds: number;
  /** Chunks the phase produced from its documents (after splitting). */
  chunks: number;
  /** Texts embedded. */
  embedded: number;
  /** Records written to Chroma. */
  written: number;
  /** Records deleted from Chroma. */
  deleted: number;
  /** Contender-specific counters (LangChain's `index()` result). */
  details?: Record<string, number>;
}

/**
 * The Chroma ceiling: upserts pre-computed records in batches of `batchSize`, one request at a
 * time, into a fresh collection.
 */
export async function runCeiling(
  chromaUrl: string,
  collectionName: string,
  records: readonly CeilingRecord[],
  batchSize = 250,
): Promise<PhaseResult> {
  const client = chromaClient(chromaUrl);
  const collection = await createBenchCollection(client, collectionName);
  const started = performance.now();
  for (let start = 0; start < records.length; start += batchSize) {
    const batch = records.slice(start, start + batchSize);
    await collection.upsert({
      ids: batch.map((r) => r.id),
      embeddings: batch.map((r) => r.embedding),
      documents: batch.map((r) => r.document),
      metadatas: batch.map((r) => r.metadata),
    });
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    phase: 'first',
    seconds,
    chunks: records.length,
    embedded: 0,
    written: records.length,
    deleted: 0,
  };
}

/** Metadata the tutorial and LangChain store with each chunk. */
function chunkMetadata(doc: BenchDocument, chunkIndex: number, page: number | undefined) {
  return {
    docId: doc.docId,
    source: basename(doc.path),
    chunkIndex,
    ...(page === undefined ? {} : { page }),
  };
}

/** Embeds one text: how the tutorial loop asks for each chunk's vector. */
export type EmbedOne = (text: string) => Promise<number[]>;

/**
 * The tutorial loop over `docs`: parse, split, then for each chunk one embedding call and one
 * `add`. `embedOne` is the bench's hash embedder unless given (the embedding-endpoint benchmark
 * passes the OpenAI SDK's call).
 */
export async function runTutorial(
  collection: Collection,
  docs: readonly BenchDocument[],
  embedOne?: EmbedOne,
): Promise<PhaseResult> {
  const embed = embedOne ?? hashEmbedOne();
  const started = performance.now();
  let chunks = 0;
  for (const doc of docs) {
    for (const chunk of await loadAndSplit(doc)) {
      await collection.add({
        ids: [randomUUID()],
        embeddings: [await embed(chunk.text)],
        documents: [chunk.text],
        metadatas: [chunkMetadata(doc, chunk.index, chunk.page)],
      });
      chunks++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { phase: 'first', seconds, chunks, embedded: chunks, written: chunks, deleted: 0 };
}

function hashEmbedOne(): EmbedOne {
  const embedder = benchEmbedder();
  return async (text) => embedder.embedOne(text);
}

/**
 * The expert script: what a careful engineer writes by hand without a queue. One process parses
 * and splits the documents in order, gathers their chunks into batches of `batchSize`, embeds each
 * batch in one call and upserts it with deterministic IDs (`<docId>#<chunk index>`, so a rerun
 * overwrites instead of duplicating), keeping one upsert in flight while it prepares the next
 * batch.
 */
export async function runScript(
  chromaUrl: string,
  collectionName: string,
  docs: readonly BenchDocument[],
  batchSize = 250,
): Promise<PhaseResult> {
  const collection = await createBenchCollection(chromaClient(chromaUrl), collectionName);
  const embedder = benchEmbedder();
  const started = performance.now();
  let chunks = 0;
  let pending: { id: string; text: string; metadata: ReturnType<typeof chunkMetadata> }[] = [];
  let inFlight: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    const batch = pending;
    pending = [];
    const embeddings = await embedder.embed(batch.map((c) => c.text));
    await inFlight;
    inFlight = collection.upsert({
      ids: batch.map((c) => c.id),
      embeddings,
      documents: batch.map((c) => c.text),
      metadatas: batch.map((c) => c.metadata),
    });
    // Awaited before the next upsert; until then a failure must not count as unhandled.
    inFlight.catch(() => undefined);
  };
  for (const doc of docs) {
    for (const chunk of await loadAndSplit(doc)) {
      pending.push({
        id: `${doc.docId}#${chunk.index}`,
        text: chunk.text,
        metadata: chunkMetadata(doc, chunk.index, chunk.page),
      });
      chunks++;
      if (pending.length === batchSize) await flush();
    }
  }
  if (pending.length) await flush();
  await inFlight;
  const seconds = (performance.now() - started) / 1000;
  return { phase: 'first', seconds, chunks, embedded: chunks, written: chunks, deleted: 0 };
}

/** A LangChain `Embeddings` that counts the texts it is asked to embed (what `index()` re-embeds is part of the comparison). */
class CountedEmbeddings extends Embeddings {
  embedded = 0;
  readonly #inner: Embeddings;

  constructor(inner: Embeddings) {
    super({});
    this.#inner = inner;
  }

  override async embedDocuments(texts: string[]): Promise<number[][]> {
    this.embedded += texts.length;
    return this.#inner.embedDocuments(texts);
  }

  override async embedQuery(text: string): Promise<number[]> {
    return this.#inner.embedQuery(text);
  }
}

/** LangChain's `index()` over one collection, keeping its in-memory record manager between phases. */
export class LangChainIndexer {
  readonly #embeddings: CountedEmbeddings;
  readonly #recordManager = new InMemoryRecordManager();
  readonly #store: Chroma;

  /** `embeddings`: the bench's hash embedder (as a LangChain `Embeddings`) unless given. */
  constructor(chromaUrl: string, collectionName: string, embeddings?: Embeddings) {
    this.#embeddings = new CountedEmbeddings(embeddings ?? new HashEmbeddings(benchEmbedder()));
    this.#store = new Chroma(this.#embeddings, { index: chromaClient(chromaUrl), collectionName });
  }

  /** Loads, splits and indexes `docs` (end to end, as a LangChain user's script does). */
  async run(phase: string, docs: readonly BenchDocument[]): Promise<PhaseResult> {
    const embeddedBefore = this.#embeddings.embedded;
    const started = performance.now();
    const documents: Document[] = [];
    for (const doc of docs) {
      for (const chunk of await loadAndSplit(doc)) {
        documents.push(
          new Document({ pageContent: chunk.text, metadata: chunkMetadata(doc, chunk.index, chunk.page) }),
        );
      }
    }
    const result = await index({
      docsSource: documents,
      recordManager: this.#recordManager,
      vectorStore: this.#store,
      options: { cleanup: 'incremental', sourceIdKey: 'docId' },
    });
    const seconds = (performance.now() - started) / 1000;
    const embedded = this.#embeddings.embedded - embeddedBefore;
    return {
      phase,
      seconds,
      chunks: documents.length,
      embedded,
      written: embedded,
      deleted: result.numDeleted,
      details: { ...result },
    };
  }
}

/** What {@link runContenderProcess} reads from its spec file. */
export interface ContenderSpec {
  contender: 'tutorial' | 'langchain';
  chromaUrl: string;
  collection: string;
  /** The phases to run in order, each over its own list of documents. */
  phases: { name: string; docs: BenchDocument[] }[];
}

/** Runs a spec's phases in this process, in order; `onPhase` hears each result as it comes. */
export async function runContenderPhases(
  spec: ContenderSpec,
  onPhase: (result: PhaseResult) => void = () => undefined,
): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  const collection = await createBenchCollection(chromaClient(spec.chromaUrl), spec.collection);
  const indexer =
    spec.contender === 'langchain' ? new LangChainIndexer(spec.chromaUrl, spec.collection) : undefined;
  for (const phase of spec.phases) {
    const result = indexer
      ? await indexer.run(phase.name, phase.docs)
      : { ...(await runTutorial(collection, phase.docs)), phase: phase.name };
    results.push(result);
    onPhase(result);
  }
  return results;
}

/**
 * Entry of the contender child process: runs the spec's phases and prints one JSON line per phase
 * (`{"phase": …}`) on stdout.
 */
export async function runContenderProcess(specPath: string): Promise<void> {
  const spec = JSON.parse(await readFile(specPath, 'utf8')) as ContenderSpec;
  await runContenderPhases(spec, (result) => console.log(JSON.stringify(result)));
  await closeBenchParsePool();
}
