import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, parseEnv, workerEnvSchema } from '@sluice/core';
import { type DocumentQueue, type IngestRequest } from '@sluice/core/queue';
import { DocumentPlanner, ParsePool, chunkId, createEmbedder, ordinalsAmongEqual } from '@sluice/ingest';
import { DirectoryUploadStore } from '@sluice/storage';
import { corpusDir, stageFile } from '../support/documents.js';
import type { ExpectedDocument } from './evidence.js';

/** One corpus file the lab ingests. */
export interface CorpusFile {
  /** Absolute path. */
  readonly path: string;
  /** Its path inside the corpus, used as the docId. */
  readonly docId: string;
}

async function filesUnder(dir: string, extension: string): Promise<CorpusFile[]> {
  const entries = await readdir(join(corpusDir, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(extension))
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path, docId: relative(corpusDir, path) };
    })
    .sort((a, b) => (a.docId < b.docId ? -1 : 1));
}

/** Which part of the corpus a scenario ingests. */
export interface CorpusSelection {
  /** Directories under `corpus/` whose Markdown files are taken; `all` for the whole corpus. */
  readonly markdown: readonly string[] | 'all';
  /** File names under `corpus/pdf/good`; `all` for every good PDF. */
  readonly pdfs: readonly string[] | 'all';
  /** Take every n-th Markdown file (in path order). @defaultValue 1 */
  readonly markdownEvery?: number;
}

/** The Markdown and good PDFs of a selection, Markdown first, each list sorted by path. */
export async function corpusFiles(selection: CorpusSelection): Promise<CorpusFile[]> {
  const every = selection.markdownEvery ?? 1;
  const markdown = (
    selection.markdown === 'all'
      ? await filesUnder('markdown', '.md')
      : (await Promise.all(selection.markdown.map((dir) => filesUnder(dir, '.md')))).flat()
  ).filter((_, i) => i % every === 0);
  const goodPdfs = await filesUnder('pdf/good', '.pdf');
  const pdfs =
    selection.pdfs === 'all'
      ? goodPdfs
      : selection.pdfs.map((name) => {
          const file = goodPdfs.find((f) => f.docId === `pdf/good/${name}`);
          if (!file) throw new Error(`no good PDF named ${name} in the corpus`);
          return file;
        });
  return [...markdown, ...pdfs];
}

/**
 * Interleaves `b` into `a` evenly, so that PDFs arrive spread over a stream of Markdown instead
 * of all at its end.
 */
export function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  if (b.length === 0) return [...a];
  const out: T[] = [];
  const step = (a.length + 1) / (b.length + 1);
  let next = step;
  let j = 0;
  a.forEach((item, i) => {
    while (j < b.length && i + 1 >= next) {
      out.push(b[j++] as T);
      next += step;
    }
    out.push(item);
  });
  while (j < b.length) out.push(b[j++] as T);
  return out;
}

/** Copies the files where workers read uploads and returns their ingest requests. */
export async function stageFiles(
  storageDir: string,
  collection: string,
  files: readonly CorpusFile[],
): Promise<IngestRequest[]> {
  const requests: IngestRequest[] = [];
  for (const file of files)
    requests.push(await stageFile(storageDir, file.path, { collection, docId: file.docId }));
  return requests;
}

/**
 * The chunks a clean run produces, from `DocumentPlanner.plan()` configured as the worker is (its
 * manifest environment through the worker's config schema: splitter, embedder). A file's texts
 * are planned once per content and run; its IDs for another collection or docId are derived with
 * the same `chunkId` the pipeline uses, after checking on the first document that both agree.
 */
export class ExpectedChunks {
  /** Chunk texts by pipeline fingerprint and content, shared by every scenario of a run. */
  static readonly #texts = new Map<string, Promise<string[]>>();
  /** The PDF parse threads of every planner of a run; {@link ExpectedChunks.close} ends them. */
  static readonly #parsePool = new ParsePool();
  readonly #planner: DocumentPlanner;

  /** Ends the PDF parse threads (at the end of a run). */
  static async close(): Promise<void> {
    await ExpectedChunks.#parsePool.close();
  }

  constructor(storageDir: string, workerEnv: Readonly<Record<string, string>>) {
    const config = parseEnv(workerEnvSchema, { ...workerEnv, STORAGE_DIR: storageDir });
    this.#planner = new DocumentPlanner({
      embedder: createEmbedder(config),
      parsePool: ExpectedChunks.#parsePool,
      uploads: new DirectoryUploadStore(storageDir),
      split: { chunkSize: config.CHUNK_SIZE, chunkOverlap: config.CHUNK_OVERLAP },
      parse: { timeoutMs: config.PARSE_TIMEOUT_MS, maxMemoryMb: config.PARSE_MAX_MEMORY_MB },
    });
  }

  /**
   * The expected chunks of one request (IDs and texts), or the code a clean run fails with when
   * the document cannot be indexed (a non-retryable {@link SluiceError}).
   */
  async of(request: IngestRequest): Promise<ExpectedDocument> {
    const key = `${this.#planner.fingerprint}:${request.contentHash}`;
    let texts = ExpectedChunks.#texts.get(key);
    if (!texts) {
      const planned = this.#planner.plan({ metadata: {}, ...request }).then((plan) => {
        const derived = this.#ids(
          request,
          plan.chunks.map((c) => c.text),
        );
        if (derived.some((id, i) => id !== plan.chunks[i]?.id)) {
          throw new Error(`chunk IDs derived for ${request.docId} differ from DocumentPlanner.plan()`);
        }
        return plan.chunks.map((c) => c.text);
      });
      ExpectedChunks.#texts.set(key, planned);
      texts = planned;
    }
    let resolved: string[];
    try {
      resolved = await texts;
    } catch (err) {
      if (err instanceof SluiceError && !err.retryable) {
        return { docId: request.docId, ids: [], texts: [], failure: err.code };
      }
      throw err;
    }
    return { docId: request.docId, ids: this.#ids(request, resolved), texts: resolved };
  }

  /** The expected chunks of many requests, in order. */
  async ofAll(requests: readonly IngestRequest[]): Promise<ExpectedDocument[]> {
    const out: ExpectedDocument[] = [];
    for (const request of requests) out.push(await this.of(request));
    return out;
  }

  #ids(request: IngestRequest, texts: readonly string[]): string[] {
    const ordinals = ordinalsAmongEqual([...texts]);
    return texts.map((text, i) =>
      chunkId({
        collection: request.collection,
        docId: request.docId,
        fingerprint: this.#planner.fingerprint,
        text,
        ordinal: ordinals[i] ?? 0,
      }),
    );
  }
}

/** A request the queue accepted. */
export interface Submission {
  readonly request: IngestRequest;
  readonly jobId: string;
  readonly acceptedAt: number;
}

/** Options for {@link submitSpread}. */
export interface SubmitOptions {
  /** Spread the submissions evenly over this long. @defaultValue 0 (all at once) */
  spreadMs?: number;
  /** Give up on one submission after this long. @defaultValue 120000 */
  retryForMs?: number;
}

/**
 * Submits requests one after the other, spread over `spreadMs`, as a client that retries: a
 * refused submission (Redis away) is tried again with back-off until accepted. Counts refusals.
 */
export async function submitSpread(
  documents: DocumentQueue,
  requests: readonly IngestRequest[],
  options: SubmitOptions = {},
): Promise<{ accepted: Submission[]; refused: number }> {
  const accepted: Submission[] = [];
  let refused = 0;
  const started = Date.now();
  const gap = requests.length > 1 ? (options.spreadMs ?? 0) / requests.length : 0;
  for (const [i, request] of requests.entries()) {
    const due = started + i * gap;
    if (due > Date.now()) await sleep(due - Date.now());
    const deadline = Date.now() + (options.retryForMs ?? 120_000);
    for (let attempt = 0; ; attempt++) {
      try {
        const { jobId } = await documents.ingest(request);
        accepted.push({ request, jobId, acceptedAt: Date.now() });
        break;
      } catch (err) {
        refused += 1;
        if (Date.now() > deadline) throw new Error(`could not submit ${request.docId}`, { cause: err });
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }
  return { accepted, refused };
}

/** Options for {@link feed}. */
export interface FeedOptions {
  /** Jobs kept unfinished at once: enough to keep workers busy without a long backlog. */
  outstanding: number;
  /**
   * Feeding goes on until this settles and every request was submitted once; past the end of
   * the list it starts over under new docIds (`docId~1`, `docId~2`, …), which is new work.
   */
  until: Promise<unknown>;
  /** How often unfinished jobs are checked. @defaultValue 100 */
  pollMs?: number;
  /** Give up on one submission after this long. @defaultValue 120000 */
  retryForMs?: number;
}

/**
 * A closed-loop producer: keeps `outstanding` jobs unfinished until `until` settles, so that
 * ingestion is under way for as long as a rollout or a fault sequence takes, whatever the
 * machine's speed. Retries refused submissions like {@link submitSpread}.
 */
export async function feed(
  documents: DocumentQueue,
  requests: readonly IngestRequest[],
  options: FeedOptions,
): Promise<{ accepted: Submission[]; refused: number }> {
  let done = false;
  options.until.then(
    () => (done = true),
    () => (done = true),
  );
  const accepted: Submission[] = [];
  const pending = new Set<string>();
  let refused = 0;
  let next = 0;
  if (requests.length === 0) return { accepted, refused };
  for (;;) {
    for (const jobId of pending) {
      const status = await documents.status(jobId).catch(() => undefined);
      if (status?.state === 'completed' || status?.state === 'failed') pending.delete(jobId);
    }
    while (pending.size < options.outstanding && (next < requests.length || !done)) {
      const base = requests[next % requests.length] as IngestRequest;
      const cycle = Math.floor(next / requests.length);
      const request = cycle === 0 ? base : { ...base, docId: `${base.docId}~${cycle}` };
      const deadline = Date.now() + (options.retryForMs ?? 120_000);
      for (let attempt = 0; ; attempt++) {
        try {
          const { jobId } = await documents.ingest(request);
          accepted.push({ request, jobId, acceptedAt: Date.now() });
          pending.add(jobId);
          break;
        } catch (err) {
          refused += 1;
          if (Date.now() > deadline) throw new Error(`could not submit ${request.docId}`, { cause: err });
          await sleep(Math.min(2000, 100 * 2 ** attempt));
        }
      }
      next += 1;
    }
    if (done && next >= requests.length) return { accepted, refused };
    await sleep(options.pollMs ?? 100);
  }
}
