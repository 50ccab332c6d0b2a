/**
 * The alternatives Sluice is measured against, each as a user would write it, on the same chunks
 * (Sluice's loaders and `splitDocument`), the same embedder (Sluice's `HashEmbedder`, 384
 * dimensions) and the same Chroma:
 *
 * - the Chroma ceiling: one process upserting pre-split, pre-embedded batches of 250;
 * - the tutorial loop: parse, split, then `collection.add` of one chunk per call, with a random
 *   UUID per chunk as the getting-started examples do;
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

/** The tutorial loop over `docs`: parse, split, embed, then one `add` per chunk. */
export async function runTutorial(
  collection: Collection,
  docs: readonly BenchDocument[],
): Promise<PhaseResult> {
  const embedder = benchEmbedder();
  const started = performance.now();
  let chunks = 0;
  for (const doc of docs) {
    const split = await loadAndSplit(doc);
    const vectors = await embedder.embed(split.map((c) => c.text));
    for (const [i, chunk] of split.entries()) {
      await collection.add({
        ids: [randomUUID()],
        embeddings: [vectors[i]!],
        documents: [chunk.text],
        metadatas: [chunkMetadata(doc, chunk.index, chunk.page)],
      });
      chunks++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { phase: 'first', seconds, chunks, embedded: chunks, written: chunks, deleted: 0 };
}

/** LangChain's `index()` over one collection, keeping its in-memory record manager between phases. */
export class LangChainIndexer {
  readonly #embeddings = new HashEmbeddings(benchEmbedder());
  readonly #recordManager = new InMemoryRecordManager();
  readonly #store: Chroma;

  constructor(chromaUrl: string, collectionName: string) {
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
