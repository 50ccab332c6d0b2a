import type { Embedder } from './types.js';

/** Options for {@link HashEmbedder}. */
export interface HashEmbedderOptions {
  /**
   * Length of every vector. More dimensions mean fewer hash collisions (better ranking) and more
   * bytes per chunk in Chroma.
   * @defaultValue 384
   */
  dimensions?: number;
}

/** How often {@link HashEmbedder.embed} yields to the event loop, in texts. */
const YIELD_EVERY = 64;

// Feature kinds: each has its own hash seed (so the word "the" and the trigram "the" are
// different features) and its own weight.
const WORD = 0;
const BIGRAM = 1;
const GRAM = 2;
const CJK_CHAR = 3;
const CJK_BIGRAM = 4;
const SEEDS: readonly [number, number, number, number, number] = [
  0x811c9dc5, 0x050c5d1f, 0x2c6fe996, 0x6b43a9b5, 0x1b873593,
];
// Whole words and word pairs say the most; the many character n-grams add robustness to
// inflection and compounds without drowning the words. CJK has no word boundaries, so its
// character bigrams play the part of words.
const WEIGHTS = new Float64Array([1, 1, 0.35, 0.6, 1]);

const FNV_PRIME = 0x01000193;
const BOW = 0x02; // virtual start-of-word marker for character n-grams
const EOW = 0x03; // virtual end-of-word marker
const MIN_GRAM = 3;
const MAX_GRAM = 5;

const WORD_PATTERN = /\p{L}[\p{L}\p{M}\p{N}]*|\p{N}+/gu;
const CJK_RUN = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]+/gu;
/** Below this code unit there is no Han, kana or Hangul (Hangul Jamo start at U+1100). */
const FIRST_CJK_UNIT = 0x1100;

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Counts distinct features of one text in an open-addressing table of 32-bit keys (with a `Map`,
 * the whole embedder was about three times slower). Insertion order is kept, so the vector is
 * summed in the same order on every run.
 */
class FeatureCounts {
  keys = new Int32Array(0);
  counts = new Int32Array(0);
  kinds = new Uint8Array(0);
  order = new Int32Array(0);
  size = 0;
  mask = 0;

  reset(capacityHint: number): void {
    let capacity = 1024;
    while (capacity < capacityHint * 2) capacity *= 2;
    if (capacity > this.keys.length) {
      this.keys = new Int32Array(capacity);
      this.counts = new Int32Array(capacity);
      this.kinds = new Uint8Array(capacity);
      this.order = new Int32Array(capacity);
    } else {
      for (let i = 0; i < this.size; i++) this.counts[this.order[i]!] = 0;
    }
    this.mask = Math.min(capacity, this.keys.length) - 1;
    this.size = 0;
  }

  add(key: number, kind: number): void {
    const { keys, counts, mask } = this;
    let slot = key & mask;
    for (;;) {
      const count = counts[slot]!;
      if (count === 0) {
        keys[slot] = key;
        counts[slot] = 1;
        this.kinds[slot] = kind;
        this.order[this.size++] = slot;
        // Texts are measured up front, so the table only fills this far on pathological input.
        if (this.size * 2 > mask) this.grow();
        return;
      }
      if (keys[slot] === key) {
        counts[slot] = count + 1;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const { keys, counts, kinds, order, size } = this;
    const capacity = (this.mask + 1) * 2;
    this.keys = new Int32Array(capacity);
    this.counts = new Int32Array(capacity);
    this.kinds = new Uint8Array(capacity);
    this.order = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.size = 0;
    for (let i = 0; i < size; i++) {
      const old = order[i]!;
      const key = keys[old]!;
      let slot = key & this.mask;
      while (this.counts[slot] !== 0) slot = (slot + 1) & this.mask;
      this.keys[slot] = key;
      this.counts[slot] = counts[old]!;
      this.kinds[slot] = kinds[old]!;
      this.order[this.size++] = slot;
    }
  }
}

/**
 * Sluice's built-in embedder: offline, dependency-free and deterministic, and **lexical, not
 * semantic**. It hashes the words of a text into a fixed-length vector (feature hashing), so two
 * texts are close when they share words, word pairs and word pieces, not when they mean the same
 * thing in different words: "car" and "automobile" are unrelated to it. Use it for development,
 * tests, benchmarks and keyword-like retrieval; use `OpenAiEmbedder` with a real model for
 * semantic search.
 *
 * Features, after NFKC normalisation and lower-casing:
 * - words (`\p{L}[\p{L}\p{M}\p{N}]*` or `\p{N}+`), pairs of adjacent words, and character 3- to
 *   5-grams of each word with start and end markers (so "pods" still meets "pod");
 * - in Han, Hiragana, Katakana and Hangul runs, which have no spaces between words, single
 *   characters and character pairs;
 * - text with no word at all (a Markdown rule, a table border) falls back to the character
 *   n-grams of the whole text.
 *
 * Each distinct feature is hashed (32-bit FNV-1a, murmur3-finalised) to a dimension and a sign
 * (signed hashing, so collisions cancel out on average instead of piling up), weighted by kind
 * and by sublinear term frequency `1 + ln(tf)`, and the vector is L2-normalised. Cosine
 * similarity is therefore the dot product. A text that yields no feature (empty or whitespace)
 * gets the unit vector along the first dimension, so that every vector is a valid unit vector.
 *
 * Guarantees: the same text and `dimensions` give the identical vector on every run and machine
 * (the algorithm is versioned by {@link HashEmbedder.id}); every vector has length `dimensions`
 * and norm 1. Speed: measured at 5,000–9,000 chunks of 1,000 characters per second on one core.
 */
export class HashEmbedder implements Embedder {
  /** `hash-v1-<dimensions>`; part of the pipeline fingerprint, so changing the algorithm bumps it. */
  readonly id: string;
  /** Length of every vector. */
  readonly dimensions: number;
  readonly #features = new FeatureCounts();

  constructor(options: HashEmbedderOptions = {}) {
    const dimensions = options.dimensions ?? 384;
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 65_536) {
      throw new RangeError(`HashEmbedder dimensions must be an integer 1–65536, got ${dimensions}`);
    }
    this.dimensions = dimensions;
    this.id = `hash-v1-${dimensions}`;
  }

  /**
   * Embeds texts, one vector per text, in order. Yields to the event loop every 64 texts and
   * stops with the signal's reason when `signal` aborts.
   */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
      vectors.push(this.embedOne(texts[i]!));
    }
    return vectors;
  }

  /** Embeds one text synchronously (for queries and tests); same vector as {@link embed}. */
  embedOne(text: string): number[] {
    const normalized = text.normalize('NFKC').toLowerCase();
    const features = this.#features;
    // At most about four features per character (three n-grams, a word or pair), so the table
    // never has to grow.
    features.reset(normalized.length * 4 + 16);
    const hasWords = collectFeatures(normalized, features);
    if (!hasWords) {
      const compact = normalized.replace(/\s+/gu, ' ').trim();
      if (compact.length > 0) addGrams(compact, 0, compact.length, features);
    }
    return this.#project(features);
  }

  #project(features: FeatureCounts): number[] {
    const dims = this.dimensions;
    const vector = new Float64Array(dims);
    const { keys, counts, kinds, order, size } = features;
    for (let i = 0; i < size; i++) {
      const slot = order[i]!;
      const key = keys[slot]!;
      const weight = WEIGHTS[kinds[slot]!]! * (1 + Math.log(counts[slot]!));
      // Low 31 bits pick the dimension, the top bit the sign: independent after fmix32.
      vector[(key & 0x7fffffff) % dims]! += key < 0 ? -weight : weight;
    }
    let norm = 0;
    for (let d = 0; d < dims; d++) norm += vector[d]! * vector[d]!;
    const result = new Array<number>(dims);
    if (norm === 0) {
      result.fill(0);
      result[0] = 1;
      return result;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < dims; d++) result[d] = vector[d]! * scale;
    return result;
  }
}

/** Adds the features of every word and CJK run of `text`; tells whether there was any. */
function collectFeatures(text: string, features: FeatureCounts): boolean {
  let previous: number | undefined;
  let any = false;
  WORD_PATTERN.lastIndex = 0;
  for (let match = WORD_PATTERN.exec(text); match !== null; match = WORD_PATTERN.exec(text)) {
    any = true;
    const start = match.index;
    const end = start + match[0].length;
    if (!mayHoldCjk(text, start, end)) {
      previous = addWord(text, start, end, previous, features);
      continue;
    }
    // A letter run mixing scripts, e.g. "podを": words outside the CJK runs, characters inside.
    let cursor = start;
    CJK_RUN.lastIndex = 0;
    const word = match[0];
    for (let run = CJK_RUN.exec(word); run !== null; run = CJK_RUN.exec(word)) {
      const runStart = start + run.index;
      // A CJK run breaks the chain of word pairs, so the word before it pairs with nothing after.
      if (runStart > cursor) addWord(text, cursor, runStart, previous, features);
      addCjkRun(text, runStart, runStart + run[0].length, features);
      previous = undefined;
      cursor = runStart + run[0].length;
    }
    if (cursor < end) previous = addWord(text, cursor, end, previous, features);
  }
  return any;
}

function mayHoldCjk(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) >= FIRST_CJK_UNIT) return true;
  return false;
}

/** Adds a word, its pair with the previous word and its character n-grams; returns its key. */
function addWord(
  text: string,
  start: number,
  end: number,
  previous: number | undefined,
  features: FeatureCounts,
): number {
  let h = SEEDS[WORD];
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  const key = fmix32(h);
  features.add(key, WORD);
  if (previous !== undefined) {
    features.add(fmix32(Math.imul(previous ^ SEEDS[BIGRAM], FNV_PRIME) ^ key), BIGRAM);
  }
  addGrams(text, start, end, features);
  return key;
}

/** Adds the 3- to 5-grams of `text[start, end)` framed by start and end markers. */
function addGrams(text: string, start: number, end: number, features: FeatureCounts): void {
  // Positions 0 and length + 1 are the virtual markers around the word.
  const last = end - start + 1;
  for (let p = 0; p + MIN_GRAM - 1 <= last; p++) {
    let h = SEEDS[GRAM];
    const stop = Math.min(last, p + MAX_GRAM - 1);
    for (let q = p; q <= stop; q++) {
      const unit = q === 0 ? BOW : q === last ? EOW : text.charCodeAt(start + q - 1);
      h = Math.imul(h ^ unit, FNV_PRIME);
      if (q - p + 1 >= MIN_GRAM) features.add(fmix32(h), GRAM);
    }
  }
}

/** Adds each character and each pair of adjacent characters of a Han/kana/Hangul run. */
function addCjkRun(text: string, start: number, end: number, features: FeatureCounts): void {
  let previous = -1;
  for (let i = start; i < end;) {
    const point = text.codePointAt(i)!;
    i += point > 0xffff ? 2 : 1;
    features.add(fmix32(Math.imul(SEEDS[CJK_CHAR] ^ point, FNV_PRIME)), CJK_CHAR);
    if (previous >= 0) {
      const h = Math.imul(Math.imul(SEEDS[CJK_BIGRAM] ^ previous, FNV_PRIME) ^ point, FNV_PRIME);
      features.add(fmix32(h), CJK_BIGRAM);
    }
    previous = point;
  }
}
