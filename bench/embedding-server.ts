/**
 * A local OpenAI-compatible embeddings endpoint that behaves like a paid provider, for the
 * rate-limited ingest benchmark (`pnpm bench embed`): `POST /v1/embeddings` answers after a
 * provider-like latency, enforces requests-per-minute and tokens-per-minute limits with 429 and
 * OpenAI's headers, rejects oversized requests with 400, and counts what it served
 * (`GET /stats`, or {@link EmbeddingServer.stats} in-process).
 *
 * Model of the provider, each part a documented choice:
 * - **Tokens** are estimated as `ceil(characters / 4)` per input (UTF-16 code units; OpenAI's
 *   rule of thumb for English, close enough for English Markdown), summed over the inputs.
 * - **Limits** (`rpm`, `tpm`) are enforced over a sliding window of `windowSeconds`, with the
 *   per-minute limits scaled to it (`tpm × windowSeconds / 60` tokens per window). At 60 s it is a
 *   plain per-minute window; shorter windows model what OpenAI documents as quantised
 *   enforcement ("60,000 requests/minute may be enforced as 1,000 requests/second"), and keep a
 *   1–2 minute benchmark from being dominated by a whole minute's burst at its start. A request
 *   is admitted only if both its one request and all its tokens fit; a rejected request still
 *   spends one request from the window when there is one left (OpenAI: unsuccessful requests
 *   count towards the per-minute limit), but no tokens.
 * - **429** carries `Retry-After` (whole seconds, rounded up, as HTTP wants), `retry-after-ms`
 *   (exact; OpenAI and Azure send it and the OpenAI SDK reads it) and the `x-ratelimit-*`
 *   headers; every answer carries the `x-ratelimit-*` headers. `x-ratelimit-limit-*` is the
 *   per-minute limit; `x-ratelimit-remaining-*` is what is left in the current window;
 *   `x-ratelimit-reset-*` is the time until the window has its whole budget back, formatted as
 *   OpenAI does (`20ms`, `1s`, `1.5s`, `6m0s`). A request larger than a whole window's token
 *   budget gets 429 without `Retry-After` ("Request too large"), as OpenAI answers it.
 * - **Latency** of an admitted request: a seeded uniform draw in `latencyMs` (deterministic in
 *   the order requests arrive) plus `perTokenMs` per token. Rejections answer after
 *   `rejectLatencyMs`. Requests are served concurrently.
 * - **Vectors** are Sluice's {@link HashEmbedder} of each input (deterministic, unit length,
 *   lexical, so retrieval over them still works), of `dimensions` or the request's own
 *   `dimensions`; `encoding_format: 'base64'` (the OpenAI SDK's default) gets little-endian
 *   float32 in base64.
 * - **Input limits** as OpenAI's: at most 2,048 inputs, 8,192 tokens per input and 300,000
 *   tokens per request, no empty input; otherwise 400. A missing `Authorization` is 401.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HashEmbedder } from '@sluice/ingest';
import { z } from 'zod';
import { seededRandom } from '../test/rollout/faults.js';
import { SlidingWindow } from './sliding-window.js';

/** Options for {@link startEmbeddingServer}. */
export interface EmbeddingServerOptions {
  /** Requests per minute. @defaultValue 3000 (OpenAI's tier 1 for `text-embedding-3-small`) */
  rpm?: number;
  /** Tokens per minute. @defaultValue 1000000 (OpenAI's tier 1 for `text-embedding-3-small`) */
  tpm?: number;
  /** The sliding window the limits are enforced over, in seconds. @defaultValue 60 */
  windowSeconds?: number;
  /** Shortest and longest latency of an admitted request before its per-token time, ms. @defaultValue [100, 300] */
  latencyMs?: readonly [number, number];
  /** Latency added per token of an admitted request, ms. @defaultValue 0.02 */
  perTokenMs?: number;
  /** Latency of a rejection (400, 401, 429), ms. @defaultValue 20 */
  rejectLatencyMs?: number;
  /** Seed of the latency draws. @defaultValue 14 */
  seed?: number;
  /** Vector length unless the request asks for `dimensions`. @defaultValue 384 */
  dimensions?: number;
  /** Port on 127.0.0.1. @defaultValue 0 (any free port) */
  port?: number;
}

/** {@link EmbeddingServerOptions} with every default applied. */
export type ResolvedEmbeddingServerOptions = Required<EmbeddingServerOptions>;

/** OpenAI's input limits for embedding models, which the server enforces with 400. */
export const INPUT_LIMITS = {
  /** Inputs per request. */
  maxInputs: 2048,
  /** Tokens per input. */
  maxInputTokens: 8192,
  /** Tokens per request, all inputs together. */
  maxRequestTokens: 300_000,
} as const;

/** What the server has served since it started. */
export interface EmbeddingServerStats {
  /** `POST /v1/embeddings` requests received, whatever their answer. */
  requests: number;
  /** Answered 200. */
  succeeded: number;
  /** Answered 429, by the limit that refused them (`tooLarge`: more tokens than a whole window holds). */
  rateLimited: { total: number; requests: number; tokens: number; tooLarge: number };
  /** Answered 400 or 401. */
  badRequests: number;
  /** Tokens of the admitted requests. */
  tokens: number;
  /** Inputs (texts) embedded. */
  inputs: number;
  /** Tokens of the requests refused with 429. */
  refusedTokens: number;
  /** Most requests in flight at once. */
  peakInFlight: number;
  /** Largest admitted request, in inputs and in tokens. */
  largestRequest: { inputs: number; tokens: number };
}

/** A running server; {@link EmbeddingServer.close} (or `await using`) stops it. */
export interface EmbeddingServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The API root clients are given: `<url>/v1`. */
  readonly baseUrl: string;
  readonly options: ResolvedEmbeddingServerOptions;
  /** A copy of the counters now. */
  stats(): EmbeddingServerStats;
  close(): Promise<void>;
}

/** The server's token estimate of one input: `ceil(characters / 4)`. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** A duration as OpenAI writes it in `x-ratelimit-reset-*`: `0s`, `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalSeconds = Math.round(ms) / 1000;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = `${Number((totalSeconds % 60).toFixed(3))}s`;
  if (hours) return `${hours}h${minutes}m${seconds}`;
  return minutes ? `${minutes}m${seconds}` : seconds;
}

const requestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string())]),
  dimensions: z.number().int().min(1).max(8192).optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
  user: z.string().optional(),
});

/** Largest request body read, bytes (2,048 inputs of 8,192 tokens with JSON escaping fit). */
const MAX_BODY_BYTES = 256 * 2 ** 20;

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const invalid = (message: string, param: string | null = null, status = 400) =>
  new HttpAnswer(status, { error: { message, type: 'invalid_request_error', param, code: null } });

/** Starts an embeddings server on 127.0.0.1 (see the module comment for what it models). */
export async function startEmbeddingServer(options: EmbeddingServerOptions = {}): Promise<EmbeddingServer> {
  const o: ResolvedEmbeddingServerOptions = {
    rpm: 3000,
    tpm: 1_000_000,
    windowSeconds: 60,
    latencyMs: [100, 300],
    perTokenMs: 0.02,
    rejectLatencyMs: 20,
    seed: 14,
    dimensions: 384,
    port: 0,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const windowMs = o.windowSeconds * 1000;
  const requestWindow = new SlidingWindow(Math.max(1, Math.floor((o.rpm * o.windowSeconds) / 60)), windowMs);
  const tokenWindow = new SlidingWindow(Math.max(1, Math.floor((o.tpm * o.windowSeconds) / 60)), windowMs);
  const random = seededRandom(o.seed);
  const embedders = new Map<number, HashEmbedder>();
  const embedderOf = (dimensions: number) => {
    let embedder = embedders.get(dimensions);
    if (!embedder) embedders.set(dimensions, (embedder = new HashEmbedder({ dimensions })));
    return embedder;
  };
  const stats: EmbeddingServerStats = {
    requests: 0,
    succeeded: 0,
    rateLimited: { total: 0, requests: 0, tokens: 0, tooLarge: 0 },
    badRequests: 0,
    tokens: 0,
    inputs: 0,
    refusedTokens: 0,
    peakInFlight: 0,
    largestRequest: { inputs: 0, tokens: 0 },
  };
  let inFlight = 0;

  const limitHeaders = (now: number): Record<string, string> => ({
    'x-ratelimit-limit-requests': String(o.rpm),
    'x-ratelimit-limit-tokens': String(o.tpm),
    'x-ratelimit-remaining-requests': String(Math.floor(requestWindow.remaining(now))),
    'x-ratelimit-remaining-tokens': String(Math.floor(tokenWindow.remaining(now))),
    'x-ratelimit-reset-requests': formatResetDuration(requestWindow.resetIn(now)),
    'x-ratelimit-reset-tokens': formatResetDuration(tokenWindow.resetIn(now)),
  });

  /** Validates, applies the limits, embeds; the answer and how long to hold it back. */
  function answer(req: IncomingMessage, raw: string): { answer: HttpAnswer; delayMs: number } {
    const reject = (a: HttpAnswer) => {
      stats.badRequests++;
      return { answer: a, delayMs: o.rejectLatencyMs };
    };
    if (!/^Bearer \S/.test(req.headers.authorization ?? '')) {
      return reject(invalid("You didn't provide an API key (Authorization: Bearer <key>).", null, 401));
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return reject(invalid('We could not parse the JSON body of your request.'));
    }
    const parsed = requestSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return reject(invalid(`Invalid request: ${issue.message}`, issue.path.join('.') || null));
    }
    const body = parsed.data;
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (inputs.length === 0 || inputs.length > INPUT_LIMITS.maxInputs) {
      return reject(
        invalid(`'input' must hold 1 to ${INPUT_LIMITS.maxInputs} items, got ${inputs.length}.`, 'input'),
      );
    }
    let tokens = 0;
    for (const [i, text] of inputs.entries()) {
      const n = estimateTokens(text);
      if (n === 0) return reject(invalid(`'input[${i}]' is empty.`, 'input'));
      if (n > INPUT_LIMITS.maxInputTokens) {
        return reject(
          invalid(
            `This model's maximum context length is ${INPUT_LIMITS.maxInputTokens} tokens, however input[${i}] has ${n} tokens.`,
            'input',
          ),
        );
      }
      tokens += n;
    }
    if (tokens > INPUT_LIMITS.maxRequestTokens) {
      return reject(
        invalid(
          `Requested ${tokens} tokens, max ${INPUT_LIMITS.maxRequestTokens} tokens per request.`,
          'input',
        ),
      );
    }

    const now = performance.now();
    const requestWait = requestWindow.waitFor(1, now);
    const tokenWait = tokenWindow.waitFor(tokens, now);
    if (requestWait > 0 || tokenWait > 0) {
      // A refused request still counts against the requests limit, when there is room for it.
      if (requestWait === 0) requestWindow.spend(1, now);
      stats.rateLimited.total++;
      stats.refusedTokens += tokens;
      const headers = limitHeaders(now);
      if (tokenWait === Infinity) {
        stats.rateLimited.tooLarge++;
        const message = `Request too large for ${body.model} on tokens per min (TPM): Limit ${tokenWindow.budget}, Requested ${tokens}.`;
        return {
          answer: new HttpAnswer(
            429,
            { error: { message, type: 'tokens', param: null, code: 'rate_limit_exceeded' } },
            headers,
          ),
          delayMs: o.rejectLatencyMs,
        };
      }
      const tokensBind = tokenWait >= requestWait;
      if (tokensBind) stats.rateLimited.tokens++;
      else stats.rateLimited.requests++;
      const waitMs = Math.max(requestWait, tokenWait);
      const message = tokensBind
        ? `Rate limit reached for ${body.model} on tokens per min (TPM): Limit ${o.tpm}, Used ${tokenWindow.used(now)}, Requested ${tokens}. Please try again in ${formatResetDuration(waitMs)}.`
        : `Rate limit reached for ${body.model} on requests per min (RPM): Limit ${o.rpm}, Used ${requestWindow.used(now)}, Requested 1. Please try again in ${formatResetDuration(waitMs)}.`;
      return {
        answer: new HttpAnswer(
          429,
          {
            error: {
              message,
              type: tokensBind ? 'tokens' : 'requests',
              param: null,
              code: 'rate_limit_exceeded',
            },
          },
          {
            ...headers,
            'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
            'retry-after-ms': String(Math.ceil(waitMs)),
          },
        ),
        delayMs: o.rejectLatencyMs,
      };
    }
    requestWindow.spend(1, now);
    tokenWindow.spend(tokens, now);
    stats.succeeded++;
    stats.tokens += tokens;
    stats.inputs += inputs.length;
    if (tokens > stats.largestRequest.tokens) stats.largestRequest = { inputs: inputs.length, tokens };

    const embedder = embedderOf(body.dimensions ?? o.dimensions);
    const data = inputs.map((text, index) => {
      const vector = embedder.embedOne(text);
      return {
        object: 'embedding',
        index,
        embedding:
          body.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
            : vector,
      };
    });
    const [min, max] = o.latencyMs;
    return {
      answer: new HttpAnswer(
        200,
        { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } },
        limitHeaders(now),
      ),
      delayMs: min + (max - min) * random() + tokens * o.perTokenMs,
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (a: HttpAnswer) => {
      const text = JSON.stringify(a.body);
      res.writeHead(a.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...a.headers,
      });
      res.end(text);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/stats') return send(new HttpAnswer(200, stats));
    if (req.method !== 'POST' || path !== '/v1/embeddings') {
      return send(invalid(`Unknown request URL: ${req.method} ${path}.`, null, 404));
    }
    stats.requests++;
    inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, inFlight);
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          stats.badRequests++;
          return send(invalid('Request body too large.', null, 413));
        }
        chunks.push(chunk);
      }
      const { answer: a, delayMs } = answer(req, Buffer.concat(chunks).toString('utf8'));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      send(a);
    } finally {
      inFlight--;
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return {
    url,
    baseUrl: `${url}/v1`,
    options: o,
    stats: () => structuredClone(stats),
    close,
    [Symbol.asyncDispose]: close,
  };
}
