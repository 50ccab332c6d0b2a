import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HashEmbedder } from './hash-embedder.js';

const CORPUS = new URL('../../../test/corpus/markdown/', import.meta.url);

function dot(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function norm(a: readonly number[]): number {
  return Math.sqrt(dot(a, a));
}

/** Markdown files of one language, sorted, so the sample is the same on every run. */
function markdownFiles(language: string): string[] {
  const dir = new URL(`${language}/`, CORPUS);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => fileURLToPath(new URL(name, dir)))
    .filter((path) => statSync(path).isFile());
}

/** Naive ~1000-character pieces; the second piece of a file skips most Hugo front matter. */
function samplePieces(language: string, count: number): string[] {
  const files = markdownFiles(language);
  const stride = Math.max(1, Math.floor(files.length / count));
  const pieces: string[] = [];
  for (let i = 0; i < files.length && pieces.length < count; i += stride) {
    const text = readFileSync(files[i]!, 'utf8');
    const piece = text.length > 2000 ? text.slice(1000, 2000) : text.slice(0, 1000);
    if (piece.trim().length >= 200) pieces.push(piece);
  }
  return pieces;
}

/** A small deterministic PRNG (mulberry32), so the chosen queries do not change between runs. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u;

/**
 * One sentence of the piece (at least 40 characters, 15 in CJK) that occurs in no other piece,
 * else a 100-character span. A query that also occurs verbatim elsewhere (Hugo front matter,
 * shortcodes, text shared by a page and its translation) has no single right answer.
 */
function pickSentence(piece: string, others: readonly string[], random: () => number): string {
  const minLength = CJK.test(piece) ? 15 : 40;
  const sentences = piece
    .split(/(?<=[.!?。！？])\s+|(?<=[。！？])|\n+/u)
    .map((s) => s.trim().slice(0, 300))
    .filter((s) => s.length >= minLength && others.every((other) => other === piece || !other.includes(s)));
  if (sentences.length > 0) return sentences[Math.floor(random() * sentences.length)]!;
  return pickSpan(piece, random);
}

function pickSpan(piece: string, random: () => number): string {
  const start = Math.floor(random() * Math.max(1, piece.length - 100));
  return piece.slice(start, start + 100);
}

function rankFirstRate(
  embedder: HashEmbedder,
  pieces: readonly string[],
  vectors: readonly number[][],
  pick: (piece: string) => string,
): { hits: number; total: number; misses: string[] } {
  let hits = 0;
  const misses: string[] = [];
  pieces.forEach((piece, own) => {
    const query = embedder.embedOne(pick(piece));
    const ownScore = dot(query, vectors[own]!);
    const beaten = vectors.some((vector, other) => other !== own && dot(query, vector) >= ownScore);
    if (beaten) misses.push(pick(piece).slice(0, 80));
    else hits += 1;
  });
  return { hits, total: pieces.length, misses };
}

describe('HashEmbedder', () => {
  const embedder = new HashEmbedder();

  it('names its algorithm and size', () => {
    expect(embedder.id).toBe('hash-v1-384');
    expect(embedder.dimensions).toBe(384);
    const small = new HashEmbedder({ dimensions: 64 });
    expect(small.id).toBe('hash-v1-64');
    expect(small.embedOne('hello world')).toHaveLength(64);
    expect(() => new HashEmbedder({ dimensions: 0 })).toThrow(RangeError);
  });

  it('gives the same text the identical vector, across calls and instances', async () => {
    const text = 'Pods are the smallest deployable units of computing in Kubernetes.';
    const [first, second] = await embedder.embed([text, text]);
    expect(second).toEqual(first);
    expect(new HashEmbedder().embedOne(text)).toEqual(first);
  });

  it('is pinned: the vector does not change between releases of hash-v1', () => {
    const vector = embedder.embedOne('Kubernetes ポッド 容器 Под');
    const entries = vector.flatMap((v, i) => (v === 0 ? [] : [`${i}:${v.toFixed(6)}`]));
    expect(entries.slice(0, 6)).toMatchInlineSnapshot(`
      [
        "9:0.176604",
        "29:-0.103019",
        "47:-0.103019",
        "59:0.176604",
        "60:0.103019",
        "67:-0.103019",
      ]
    `);
  });

  it('returns unit vectors, also for empty, punctuation-only and very long texts', async () => {
    const texts = ['', '   \n', '---', '| --- | --- |', 'a', '数', 'word '.repeat(20_000), '🙂🙂'];
    for (const vector of await embedder.embed(texts)) {
      expect(vector).toHaveLength(384);
      expect(norm(vector)).toBeCloseTo(1, 10);
      expect(vector.every(Number.isFinite)).toBe(true);
    }
  });

  it('normalises Unicode and case before hashing', () => {
    expect(embedder.embedOne('ＫＵＢＥＲＮＥＴＥＳ Pods')).toEqual(embedder.embedOne('kubernetes pods'));
    expect(embedder.embedOne('Cafe\u0301')).toEqual(embedder.embedOne('Café'));
  });

  it('gives different texts different vectors, closer when they share words', () => {
    const pods = embedder.embedOne('How to restart a pod in a deployment');
    const pods2 = embedder.embedOne('Restarting pods of a deployment');
    const dns = embedder.embedOne('Configure DNS resolution for services');
    expect(pods).not.toEqual(dns);
    expect(dot(pods, pods2)).toBeGreaterThan(dot(pods, dns));
    // Character n-grams connect inflections.
    expect(dot(embedder.embedOne('restarting'), embedder.embedOne('restart'))).toBeGreaterThan(0.3);
  });

  it('retrieves CJK text by its characters', () => {
    const docs = [
      'ポッドはKubernetesの最小単位です',
      '服务是将运行在一组 Pods 上的应用程序公开为网络服务的抽象方法',
      '节点是集群中的工作机器',
    ];
    const vectors = docs.map((d) => embedder.embedOne(d));
    const query = embedder.embedOne('网络服务的抽象方法');
    const scores = vectors.map((v) => dot(query, v));
    expect(scores.indexOf(Math.max(...scores))).toBe(1);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(embedder.embed(['a', 'b'], controller.signal)).rejects.toThrow('stop');
  });

  it('ranks a chunk first for one of its own sentences (Markdown corpus, en/ja/zh-cn/ru)', async () => {
    const pieces = [
      ...new Set([
        ...samplePieces('en', 200),
        ...samplePieces('ja', 25),
        ...samplePieces('zh-cn', 25),
        ...samplePieces('ru', 25),
      ]),
    ];
    expect(pieces.length).toBeGreaterThanOrEqual(200);

    const started = performance.now();
    const vectors = await embedder.embed(pieces);
    const seconds = (performance.now() - started) / 1000;

    const bySentence = rankFirstRate(embedder, pieces, vectors, (piece) =>
      pickSentence(piece, pieces, prng(piece.length)),
    );
    const bySpan = rankFirstRate(embedder, pieces, vectors, (piece) => pickSpan(piece, prng(piece.length)));
    console.log(
      `hash retrieval on ${pieces.length} chunks: sentence queries ${bySentence.hits}/${bySentence.total} ` +
        `(${((100 * bySentence.hits) / bySentence.total).toFixed(1)} %), 100-char span queries ` +
        `${bySpan.hits}/${bySpan.total} (${((100 * bySpan.hits) / bySpan.total).toFixed(1)} %); ` +
        `embedded at ${(pieces.length / seconds).toFixed(0)} chunks/s (cold)`,
    );
    console.log('missed sentence queries:', bySentence.misses, 'missed span queries:', bySpan.misses);
    expect(bySentence.hits / bySentence.total).toBeGreaterThanOrEqual(0.9);
    // Random spans often fall into Hugo front matter that many pages share nearly verbatim, which
    // a lexical embedder without corpus statistics cannot tell apart: a regression floor only.
    expect(bySpan.hits / bySpan.total).toBeGreaterThanOrEqual(0.7);
  });

  it('embeds 1,000-character chunks quickly (measured, not asserted)', async () => {
    const pieces: string[] = [];
    for (const file of markdownFiles('en')) {
      const text = readFileSync(file, 'utf8');
      for (let at = 0; at + 1000 <= text.length && pieces.length < 3000; at += 1000) {
        pieces.push(text.slice(at, at + 1000));
      }
    }
    await embedder.embed(pieces.slice(0, 200));
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await embedder.embed(pieces);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    // CPU time as well as wall time: on a shared machine the wall clock also counts other work.
    console.log(
      `hash embed: ${pieces.length} chunks of 1,000 characters: ${(pieces.length / seconds).toFixed(0)} chunks/s ` +
        `wall, ${(pieces.length / cpuSeconds).toFixed(0)} chunks per CPU second`,
    );
    expect(seconds).toBeGreaterThan(0);
  });
});
