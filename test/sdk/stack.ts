import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INGEST_QUEUE } from '@sluice/core';
import { createRedisConnection } from '@sluice/core/queue';
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { uniqueName } from '../support/names.js';
import { freePort } from '../support/ports.js';
import { repoRoot, startNode, waitForHttp, type ServiceProcess } from '../support/processes.js';

/** The API's entry point; the HTTP-mode tests run once it is built. */
export const API_MAIN = join(repoRoot, 'services/api/dist/main.js');
/** The worker's entry point. */
export const WORKER_MAIN = join(repoRoot, 'services/worker/dist/main.js');
/** The built CLI. */
export const CLI = join(repoRoot, 'packages/sdk/dist/cli.js');

/** Whether `services/api` has been built (it is written alongside the SDK). */
export const apiBuilt = existsSync(API_MAIN);

/** A secret for test tokens (the API wants at least 32 characters). */
export const TEST_SECRET = 'sdk-test-secret-0123456789abcdef-0123456789';

/** A queue prefix, a storage dir and the processes of one test file's Sluice. */
export interface TestStack {
  readonly prefix: string;
  readonly storageDir: string;
  readonly redisUrl: string;
  readonly chromaUrl: string;
  /** Base URL of the API, when started. */
  apiUrl?: string;
  readonly processes: ServiceProcess[];
  /** Starts a real worker process and waits for its readiness. */
  startWorker(env?: Record<string, string>): Promise<ServiceProcess>;
  /** Starts the real API process and waits for its readiness. */
  startApi(env?: Record<string, string>): Promise<string>;
  /** Number of jobs in the queue, any state. */
  jobCount(): Promise<number>;
  /** Stops the processes, empties the queue, removes the storage dir and the given collections. */
  stop(collections?: readonly string[]): Promise<void>;
}

/** Prepares an isolated Sluice (own prefix and storage dir) on the shared Redis and Chroma. */
export async function createStack(label: string, redisUrl: string, chromaUrl: string): Promise<TestStack> {
  const prefix = uniqueName(label);
  const storageDir = await mkdtemp(join(tmpdir(), 'sluice-sdk-storage-'));
  const processes: ServiceProcess[] = [];
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
  const queue = new Queue(INGEST_QUEUE, { connection, prefix });
  const common = {
    REDIS_URL: redisUrl,
    CHROMA_URL: chromaUrl,
    SLUICE_PREFIX: prefix,
    STORAGE_DIR: storageDir,
    LOG_LEVEL: 'warn',
  };
  const stack: TestStack = {
    prefix,
    storageDir,
    redisUrl,
    chromaUrl,
    processes,
    async startWorker(env = {}) {
      const port = await freePort();
      const worker = startNode(WORKER_MAIN, { ...common, HEALTH_PORT: String(port), ...env });
      processes.push(worker);
      await waitForHttp(`http://127.0.0.1:${port}/api/health`).catch((err: unknown) => {
        throw new Error(`worker did not become ready:\n${worker.output()}`, { cause: err });
      });
      return worker;
    },
    async startApi(env = {}) {
      const port = await freePort();
      const api = startNode(API_MAIN, {
        ...common,
        PORT: String(port),
        HOST: '127.0.0.1',
        AUTH_JWT_SECRET: TEST_SECRET,
        SHUTDOWN_DELAY_MS: '0',
        ...env,
      });
      processes.push(api);
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(`${url}/api/health`).catch((err: unknown) => {
        throw new Error(`API did not become ready:\n${api.output()}`, { cause: err });
      });
      stack.apiUrl = url;
      return url;
    },
    async jobCount() {
      const counts = await queue.getJobCounts();
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    },
    async stop(collections = []) {
      await Promise.all(processes.map((p) => p.stop()));
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      connection.disconnect();
      await rm(storageDir, { recursive: true, force: true });
      await Promise.all(collections.map((name) => dropCollection(chromaUrl, name)));
    },
  };
  return stack;
}

/** Removes a Chroma collection (best effort: it may never have been created). */
export async function dropCollection(chromaUrl: string, name: string): Promise<void> {
  await fetch(
    `${chromaUrl}/api/v2/tenants/default_tenant/databases/default_database/collections/${encodeURIComponent(name)}`,
    { method: 'DELETE' },
  ).catch(() => undefined);
}

/** Removes every key of a queue prefix that a test used without a stack. */
export async function obliterate(redisUrl: string, prefix: string): Promise<void> {
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
  const queue = new Queue(INGEST_QUEUE, { connection, prefix });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Checks an HS256 JWT with node:crypto (an implementation independent of jose) and returns its parts. */
export function verifyHs256(
  token: string,
  secret: string,
): { header: unknown; claims: Record<string, unknown> } {
  const [header, payload, signature] = token.split('.');
  expect(signature).toBe(createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url'));
  const decode = (part: string | undefined) =>
    JSON.parse(Buffer.from(part ?? '', 'base64url').toString()) as unknown;
  return { header: decode(header), claims: decode(payload) as Record<string, unknown> };
}
