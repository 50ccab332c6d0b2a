import { createHmac, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ChromaStore } from '@sluice/ingest';
import { freePort, waitFor } from '../support/ports.js';
import { repoRoot, startNode, waitForHttp, type ServiceProcess } from '../support/processes.js';

/** The built API entry point; tests run `dist/`, so `npx tsc -b` must have run. */
export const API_MAIN = 'services/api/dist/main.js';
/** The built worker entry point. */
export const WORKER_MAIN = 'services/worker/dist/main.js';
/** A secret of the length the API requires. */
export const TEST_SECRET = 'test-secret-0123456789abcdef-0123456789';

/** Fails early with a clear message when the services were not built. */
export function assertBuilt(): void {
  for (const main of [API_MAIN, WORKER_MAIN]) {
    if (!existsSync(join(repoRoot, main))) throw new Error(`${main} is missing: run \`npx tsc -b\` first`);
  }
}

/**
 * An HS256 JWT, built by hand with node:crypto (jose is the API's dependency, not the test's),
 * which also checks that the API accepts any standard token, not just ones its own library made.
 */
export function mintToken(
  claims: Record<string, unknown>,
  { secret = TEST_SECRET, expiresInS = 3600, alg = 'HS256' } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${encode({ alg, typ: 'JWT' })}.${encode({ iat: now, exp: now + expiresInS, ...claims })}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** A running API process and what a test needs to talk to it. */
export interface ApiUnderTest extends ServiceProcess {
  readonly url: string;
  readonly port: number;
}

/** Starts `node services/api/dist/main.js` on a free port and waits until it is live. */
export async function startApiProcess(env: Record<string, string>): Promise<ApiUnderTest> {
  const port = await freePort();
  const proc = startNode(API_MAIN, { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/api/live`, { timeoutMs: 20_000 });
  } catch (err) {
    await proc.stop();
    throw new Error(`the API did not start:\n${proc.output()}`, { cause: err });
  }
  return Object.assign(proc, { url, port });
}

/** Starts a worker process with the given environment and waits until it is ready. */
export async function startWorkerProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const healthPort = await freePort();
  const proc = startNode(WORKER_MAIN, { HEALTH_PORT: String(healthPort), LOG_LEVEL: 'warn', ...env });
  try {
    await waitForHttp(`http://127.0.0.1:${healthPort}/api/health`, { timeoutMs: 30_000 });
  } catch (err) {
    await proc.stop();
    throw new Error(`the worker did not start:\n${proc.output()}`, { cause: err });
  }
  return proc;
}

/** One test's isolated world: a queue prefix, a storage dir, collections, and their cleanup. */
export interface TestWorld {
  readonly prefix: string;
  readonly storageDir: string;
  /** The environment API and worker share. */
  readonly env: Record<string, string>;
  /** Remember a collection to drop at the end. */
  collection(name: string): string;
  /** Obliterates the queue, drops the collections, removes the storage dir. */
  cleanup(): Promise<void>;
}

/** Creates an isolated world on the shared Redis and Chroma. */
export async function createWorld(redisUrl: string, chromaUrl: string, prefix: string): Promise<TestWorld> {
  const storageDir = await mkdtemp(join(tmpdir(), 'sluice-api-test-'));
  const collections = new Set<string>();
  return {
    prefix,
    storageDir,
    env: { REDIS_URL: redisUrl, CHROMA_URL: chromaUrl, SLUICE_PREFIX: prefix, STORAGE_DIR: storageDir },
    collection(name) {
      collections.add(name);
      return name;
    },
    async cleanup() {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue('ingest', { connection: redis, prefix });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      // DocumentQueue's own keys (submission order, indexed versions) live beside the queue's.
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      const store = new ChromaStore({ url: chromaUrl });
      for (const name of collections) await store.dropCollection(name).catch(() => undefined);
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

/** Answers of the API: status and parsed JSON body. */
export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small client for the API under test. */
export class TestClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
  ) {}

  /** Any request; `body` objects are sent as JSON. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    { body, headers = {} }: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<JsonAnswer<T>> {
    const init: RequestInit = {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
    };
    if (body !== undefined) init.body = body instanceof FormData ? body : JSON.stringify(body);
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (the dashboard's HTML): keep the text.
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Uploads a file (a path, or bytes with a name) as multipart, with optional fields. */
  async upload<T = Record<string, unknown>>(
    collection: string,
    file: string | { name: string; bytes: Uint8Array },
    fields: Record<string, string> = {},
  ): Promise<JsonAnswer<T>> {
    const { name, bytes } =
      typeof file === 'string' ? { name: basename(file), bytes: await readFile(file) } : file;
    const form = new FormData();
    form.set('file', new Blob([bytes]), name);
    for (const [key, value] of Object.entries(fields)) form.set(key, value);
    return this.request<T>('POST', `/v1/collections/${collection}/documents`, { body: form });
  }

  /** Polls a job until it reaches `completed` or `failed`. */
  async waitForJob(jobId: string, timeoutMs = 30_000): Promise<JobAnswer> {
    return waitFor(
      async () => {
        const { status, body } = await this.request<JobAnswer>('GET', `/v1/jobs/${jobId}`);
        if (status !== 200) throw new Error(`GET /v1/jobs/${jobId} answered ${status}`);
        return body.state === 'completed' || body.state === 'failed' ? body : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `job ${jobId} to finish` },
    );
  }
}

/** `GET /v1/jobs/{jobId}` as the tests read it. */
export interface JobAnswer {
  jobId: string;
  state: string;
  attempts: number;
  result?: {
    docId: string;
    contentHash?: string;
    chunks: number;
    embedded: number;
    skipped: number;
    deleted: number;
    pages?: number;
  };
  error?: { code: string; message: string };
}

/** A fresh request ID, to find a request in the API's logs. */
export function newRequestId(label: string): string {
  return `${label}-${randomUUID()}`;
}
