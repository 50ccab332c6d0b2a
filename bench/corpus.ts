/**
 * The ingest benchmark's input: a deterministic selection of the test corpus (Markdown pages and
 * the good PDFs), its planned chunks (through Sluice's own loaders, splitter and chunk IDs, so that
 * every contender stores the same chunk texts), and a "5 % changed" variant of it.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SluiceError, type IngestDocumentPayload } from '@sluice/core';
import {
  HashEmbedder,
  DocumentPlanner,
  ParsePool,
  loadPdf,
  loadText,
  splitDocument,
  type Chunk,
  type PlannedChunk,
} from '@sluice/ingest';
import { DirectoryUploadStore } from '@sluice/storage';
import { corpusDir, stageFile } from '../test/support/documents.js';

/** One document of the benchmark corpus. */
export interface BenchDocument {
  /** The path inside the corpus, e.g. `markdown/en/docs/concepts/_index.md`; unique. */
  docId: string;
  /** Where the bytes of this version are. */
  path: string;
  type: 'markdown' | 'pdf';
}

/** Which part of the corpus a run uses. */
export interface CorpusOptions {
  /**
   * Take every n-th Markdown file in path order (1: all 1500).
   * @defaultValue 1
   */
  markdownStride?: number;
  /**
   * At most this many Markdown files (after the stride).
   * @defaultValue all
   */
  markdownLimit?: number;
  /**
   * The good PDFs to include, by file name; `all` for every one, or a number for the n smallest.
   * @defaultValue 'all'
   */
  pdfs?: 'all' | number | readonly string[];
}

/** The splitter settings every contender uses (Sluice's defaults, restated for the report). */
export const SPLIT = { chunkSize: 1000, chunkOverlap: 200 } as const;

/** The embedder every contender uses. */
export function benchEmbedder(): HashEmbedder {
  return new HashEmbedder({ dimensions: 384 });
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}

const relativeToCorpus = (path: string) => path.slice(corpusDir.length).replace(/^\/+/, '');

/**
 * Lists the selected documents: Markdown in path order, with the PDFs spread evenly among them,
 * so that every prefix of the list (and every worker's share of it) mixes both kinds.
 */
export async function listCorpus(options: CorpusOptions = {}): Promise<BenchDocument[]> {
  const { markdownStride = 1, markdownLimit, pdfs = 'all' } = options;
  const markdown = (await walk(join(corpusDir, 'markdown')))
    .filter((p) => p.endsWith('.md'))
    .sort()
    .filter((_, i) => i % markdownStride === 0)
    .slice(0, markdownLimit);
  let pdfPaths = (await walk(join(corpusDir, 'pdf', 'good'))).filter((p) => p.endsWith('.pdf')).sort();
  if (typeof pdfs === 'number') {
    const { stat } = await import('node:fs/promises');
    const sized = await Promise.all(pdfPaths.map(async (p) => ({ p, size: (await stat(p)).size })));
    pdfPaths = sized
      .sort((a, b) => a.size - b.size)
      .slice(0, pdfs)
      .map((s) => s.p)
      .sort();
  } else if (pdfs !== 'all') {
    pdfPaths = pdfPaths.filter((p) => pdfs.some((name) => p.endsWith(`/${name}`)));
  }
  const md = markdown.map((path): BenchDocument => ({
    docId: relativeToCorpus(path),
    path,
    type: 'markdown',
  }));
  const pdf = pdfPaths.map((path): BenchDocument => ({ docId: relativeToCorpus(path), path, type: 'pdf' }));
  return interleave(md, pdf);
}

/** `many` in order with `few` spread evenly among them. */
function interleave<T>(many: readonly T[], few: readonly T[]): T[] {
  if (few.length === 0) return [...many];
  const out: T[] = [];
  const step = (many.length + few.length) / few.length;
  let next = 0;
  let m = 0;
  for (let i = 0; i < many.length + few.length; i++) {
    if (next < few.length && i >= Math.floor(step * next + step / 2)) out.push(few[next++]!);
    else if (m < many.length) out.push(many[m++]!);
    else out.push(few[next++]!);
  }
  return out;
}

/** Every `stride`-th document (a representative sample for the slow contenders). */
export function sample<T>(docs: readonly T[], stride: number): T[] {
  return docs.filter((_, i) => i % stride === 0);
}

/** Loads and splits one document exactly as Sluice's pipeline does (tutorial and LangChain use this). */
export async function loadAndSplit(doc: BenchDocument): Promise<Chunk[]> {
  const bytes = await readFile(doc.path);
  const loaded = doc.type === 'pdf' ? await loadPdf(benchParsePool, bytes) : loadText(bytes, 'markdown');
  return splitDocument(loaded, SPLIT);
}

/** The parse threads of a benchmark process; {@link closeBenchParsePool} ends them. */
export const benchParsePool = new ParsePool();

/** Ends the benchmark's PDF parse threads, so that the process can exit. */
export async function closeBenchParsePool(): Promise<void> {
  await benchParsePool.close();
}

/** A corpus with the chunks Sluice would write for each document. */
export interface PlannedCorpus {
  docs: BenchDocument[];
  /** Planned chunks (ID, text, metadata as Sluice writes them), by docId. */
  chunks: Map<string, PlannedChunk[]>;
  /** Total planned chunks. */
  totalChunks: number;
  /** Documents left out because they have no text (front matter only): Sluice fails them with NO_TEXT. */
  skipped: string[];
}

/**
 * Plans every document with Sluice's `IngestPipeline.plan()` (the worker's own parse, split and
 * chunk IDs) and drops the documents that yield no chunk, so that every contender gets only
 * documents that all of them can index. Files are staged in `storageDir` as the API would.
 */
export async function planCorpus(docs: readonly BenchDocument[], storageDir: string): Promise<PlannedCorpus> {
  const pipeline = new DocumentPlanner({
    embedder: benchEmbedder(),
    parsePool: benchParsePool,
    uploads: new DirectoryUploadStore(storageDir),
    split: SPLIT,
  });
  const kept: BenchDocument[] = [];
  const skipped: string[] = [];
  const chunks = new Map<string, PlannedChunk[]>();
  let totalChunks = 0;
  for (const doc of docs) {
    const request = await stageFile(storageDir, doc.path, { collection: 'bench-plan', docId: doc.docId });
    try {
      const plan = await pipeline.plan(request as IngestDocumentPayload);
      chunks.set(doc.docId, plan.chunks);
      totalChunks += plan.chunks.length;
      kept.push(doc);
    } catch (err) {
      if (err instanceof SluiceError && err.code === 'NO_TEXT') skipped.push(doc.docId);
      else throw err;
    }
  }
  return { docs: kept, chunks, totalChunks, skipped };
}

/** The sentence appended to one paragraph of each changed document. */
export const ADDED_SENTENCE = ' This sentence was added to measure incremental re-ingest.';

/** Front matter at the start of a Markdown file (YAML `---` or TOML `+++`), which Sluice does not index. */
const FRONT_MATTER =
  /^(?:---[ \t]*\n(?:[\s\S]*?\n)?(?:---|\.\.\.)|\+\+\+[ \t]*\n(?:[\s\S]*?\n)?\+\+\+)[ \t]*(?=\n|$)/;

/**
 * A changed version of a Markdown text: {@link ADDED_SENTENCE} appended to the paragraph of the
 * body (after any front matter) that ends nearest the middle of the body, or to the body's end
 * when it has no paragraph break.
 */
export function changeText(text: string): string {
  const bodyStart = FRONT_MATTER.exec(text)?.[0].length ?? 0;
  const breaks: number[] = [];
  for (let at = text.indexOf('\n\n', bodyStart); at >= 0; at = text.indexOf('\n\n', at + 2)) {
    if (at > bodyStart && /\S/u.test(text[at - 1]!)) breaks.push(at);
  }
  if (breaks.length === 0) return text.trimEnd() + ADDED_SENTENCE + '\n';
  const middle = (bodyStart + text.length) / 2;
  const at = breaks.reduce((best, b) => (Math.abs(b - middle) < Math.abs(best - middle) ? b : best));
  return text.slice(0, at) + ADDED_SENTENCE + text.slice(at);
}

/** The documents of a corpus after some of them changed. */
export interface ChangedCorpus {
  /** Every document, the changed ones pointing at their new version. */
  docs: BenchDocument[];
  /** docIds of the changed documents. */
  changed: string[];
}

/**
 * Writes a changed version of `share` of the documents (Markdown only, evenly spaced, so the same
 * ones on every run) under `dir`, and returns the corpus with those documents pointing there.
 */
export async function writeChangedCorpus(
  docs: readonly BenchDocument[],
  dir: string,
  share = 0.05,
): Promise<ChangedCorpus> {
  const markdown = docs.filter((d) => d.type === 'markdown');
  const count = Math.max(1, Math.round(docs.length * share));
  const step = markdown.length / count;
  const chosen = new Set<string>();
  for (let i = 0; i < count && i < markdown.length; i++)
    chosen.add(markdown[Math.floor(i * step + step / 2)]!.docId);
  const out: BenchDocument[] = [];
  for (const doc of docs) {
    if (!chosen.has(doc.docId)) {
      out.push(doc);
      continue;
    }
    const path = join(dir, doc.docId);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, changeText(await readFile(doc.path, 'utf8')));
    out.push({ ...doc, path });
  }
  return { docs: out, changed: [...chosen] };
}
