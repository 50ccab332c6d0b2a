/**
 * The one way to start Sluice in tests and benchmarks (STYLE.md §16): a disposable stack that owns
 * a world (queue prefix, storage dir, Redis and Chroma), the environment of the API and worker
 * processes, the test secret, the processes it starts, and the clean-up of all of it.
 *
 * ```ts
 * await using stack = await startStack({ label: 'api-e2e', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
 * const api = await stack.startApi();
 * await stack.startWorker({ WORKER_CONCURRENCY: '2' });
 * ```
 */
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import { INGEST_QUEUE, isClusterUrl } from '@sluice/core';
import { createRedisConnection } from '@sluice/core/queue';
import { startChroma, type TestChroma } from './chroma.js';
import { uniqueName } from './names.js';
import { freePort } from './ports.js';
import { repoRoot, startNode, waitForHttp, type ServiceProcess } from './processes.js';
import { startRedis, type TestRedis } from './redis.js';

/** The built API entry point: processes run `dist/`, so `npx tsc -b` must have run. */
export const API_MAIN = join(repoRoot, 'services/api/dist/main.js');
/** The built worker entry point. */
export const WORKER_MAIN = join(repoRoot, 'services/worker/dist/main.js');
/** The built `sluice` CLI. */
export const CLI = join(repoRoot, 'packages/sdk/dist/cli.js');

/** The secret of every API a stack starts and of {@link mintToken} (the API wants 32 characters or more). */
export const TEST_SECRET = 'test-secret-0123456789abcdef-0123456789';

/** `LOG_LEVEL` of the processes a stack starts, unless the caller gives another. */
const DEFAULT_LOG_LEVEL = 'warn';

/**
 * Fails early, naming what is missing, when an entry point was not built.
 * @param mains - the entry points to check @defaultValue API, worker and CLI
 */
export function assertBuilt(mains: readonly string[] = [API_MAIN, WORKER_MAIN, CLI]): void {
  const missing = mains.filter((main) => !existsSync(main)).map((main) => relative(repoRoot, main));
  if (missing.length) throw new Error(`${missing.join(', ')} missing: run \`npx tsc -b\` first`);
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

/** Options for {@link startStack}. */
export interface StackOptions {
  /** Names the queue prefix (`t-<label>-<random>`), the storage dir and the collections' owner. */
  readonly label: string;
  /**
   * The Redis: a URL (the run's shared server, `inject('redisUrl')`, or one the caller runs),
   * which the stack leaves running; or `'dedicated'`, a `redis-server` process of the stack's own
   * (restartable: {@link TestStack.redisServer}), stopped at disposal. A cluster URL
   * (`redis+cluster://`) gets a `{…}` hash-tagged prefix.
   */
  readonly redis: string;
  /**
   * The Chroma: a URL (`inject('chromaUrl')`), left running; or `'dedicated'`, a server of the
   * stack's own ({@link TestStack.chromaServer}), stopped at disposal.
   */
  readonly chroma: string;
}

/** An API process a stack started, listening on 127.0.0.1. */
export interface ApiProcess extends ServiceProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<METRICS_PORT>`: `/metrics` and the detailed health report. */
  readonly metricsUrl: string;
}

/** A worker process a stack started. */
export interface WorkerProcess extends ServiceProcess {
  /** Its readiness endpoint, `http://127.0.0.1:<HEALTH_PORT>/api/health`. */
  readonly healthUrl: string;
}

/** Options for {@link TestStack.startWorker}. */
export interface StartWorkerOptions {
  /** Node flags, e.g. `--cpu-prof`. @defaultValue [] */
  readonly nodeArgs?: readonly string[];
}

/**
 * One isolated Sluice world and the processes started in it; {@link TestStack.stop} (or the end
 * of an `await using` block) removes all of it. Made by {@link startStack}.
 */
export class TestStack implements AsyncDisposable {
  /** The unique name of this world, `t-<label>-<random>`: the prefix without its hash tag. */
  readonly name: string;
  /** `SLUICE_PREFIX`: {@link TestStack.name}, in `{…}` on a Redis Cluster. */
  readonly prefix: string;
  /** `STORAGE_DIR`: where the API stores uploads and the workers read them. */
  readonly storageDir: string;
  /** `REDIS_URL`: the given one, or the dedicated server's. */
  readonly redisUrl: string;
  /** `CHROMA_URL`: the given one, or the dedicated server's. */
  readonly chromaUrl: string;
  /** The Redis this stack started (`redis: 'dedicated'`), for fault tests; undefined otherwise. */
  readonly redisServer: TestRedis | undefined;
  /** The Chroma this stack started (`chroma: 'dedicated'`); undefined otherwise. */
  readonly chromaServer: TestChroma | undefined;
  /** The ingest queue under {@link TestStack.prefix}, e.g. to count its jobs. */
  readonly queue: Queue;
  readonly #connection: Redis | Cluster;
  /** Every process started by {@link TestStack.startApi} and {@link TestStack.startWorker}. */
  readonly #processes: ServiceProcess[] = [];
  readonly #collections = new Set<string>();
  readonly #cleanups: (() => Promise<unknown>)[] = [];
  #stopped: Promise<void> | undefined;

  /** @internal use {@link startStack} */
  constructor(world: {
    name: string;
    prefix: string;
    storageDir: string;
    redisUrl: string;
    chromaUrl: string;
    redisServer: TestRedis | undefined;
    chromaServer: TestChroma | undefined;
    connection: Redis | Cluster;
  }) {
    this.name = world.name;
    this.prefix = world.prefix;
    this.storageDir = world.storageDir;
    this.redisUrl = world.redisUrl;
    this.chromaUrl = world.chromaUrl;
    this.redisServer = world.redisServer;
    this.chromaServer = world.chromaServer;
    this.#connection = world.connection;
    this.queue = new Queue(INGEST_QUEUE, { connection: world.connection, prefix: world.prefix });
    // Refused commands surface where they are called; the queue's own copy is noise.
    this.queue.on('error', () => undefined);
  }

  /**
   * A worker's environment, which every Sluice process of this world shares: `REDIS_URL`,
   * `CHROMA_URL`, `SLUICE_PREFIX`, `STORAGE_DIR` and `LOG_LEVEL` (`warn`), then `extra`.
   */
  workerEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      REDIS_URL: this.redisUrl,
      CHROMA_URL: this.chromaUrl,
      SLUICE_PREFIX: this.prefix,
      STORAGE_DIR: this.storageDir,
      LOG_LEVEL: DEFAULT_LOG_LEVEL,
      ...extra,
    };
  }

  /**
   * An API's environment: {@link TestStack.workerEnv}'s, `AUTH_JWT_SECRET` = {@link TEST_SECRET}
   * and `METRICS_PORT` = 0 (any free port, so that several APIs can run), then `extra`.
   */
  apiEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return this.workerEnv({ AUTH_JWT_SECRET: TEST_SECRET, METRICS_PORT: '0', ...extra });
  }

  /** A unique collection name (`t-<label>-<random>`), dropped from Chroma at disposal. */
  collection(label: string): string {
    const name = uniqueName(label);
    this.#collections.add(name);
    return name;
  }

  /** Runs `cleanup` at disposal, once the processes are gone and the world is emptied (last registered first). */
  defer(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(cleanup);
  }

  /** Starts `services/api/dist/main.js` on a free port and waits until it answers readiness. */
  async startApi(env: Readonly<Record<string, string>> = {}): Promise<ApiProcess> {
    assertBuilt([API_MAIN]);
    const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
    const url = `http://127.0.0.1:${port}`;
    const proc = this.#track(
      startNode(
        API_MAIN,
        this.apiEnv({ HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: String(metricsPort), ...env }),
      ),
    );
    await this.#ready(proc, `${url}/api/health`, 'the API', 20_000);
    return Object.assign(proc, { url, port, metricsUrl: `http://127.0.0.1:${metricsPort}` });
  }

  /** Starts `services/worker/dist/main.js` with a free health port and waits until it is ready. */
  async startWorker(
    env: Readonly<Record<string, string>> = {},
    options: StartWorkerOptions = {},
  ): Promise<WorkerProcess> {
    assertBuilt([WORKER_MAIN]);
    const port = await freePort();
    const healthUrl = `http://127.0.0.1:${port}/api/health`;
    const proc = this.#track(
      startNode(
        WORKER_MAIN,
        this.workerEnv({ HEALTH_PORT: String(port), ...env }),
        [],
        [...(options.nodeArgs ?? [])],
      ),
    );
    await this.#ready(proc, healthUrl, 'a worker', 30_000);
    return Object.assign(proc, { healthUrl });
  }

  /** Jobs in the queue, in any state. */
  async jobCount(): Promise<number> {
    const counts = await this.queue.getJobCounts();
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /**
   * Kills the processes, obliterates the queue and deletes every other key under the prefix,
   * drops the collections, removes the storage dir, runs the deferred clean-ups and stops the
   * dedicated servers. Best effort throughout; calling it again waits for the first call.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  /** {@link TestStack.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(): Promise<void> {
    await Promise.allSettled(this.#processes.map((p) => p.stop()));
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    // DocumentQueue's own keys (submission order, indexed versions) live beside the queue's.
    const nodes = this.#connection instanceof Cluster ? this.#connection.nodes('master') : [this.#connection];
    for (const node of nodes) {
      const keys = await node.keys(`${this.prefix}:*`).catch(() => [] as string[]);
      if (keys.length) await node.del(...keys).catch(() => undefined);
    }
    this.#connection.disconnect();
    await Promise.allSettled([...this.#collections].map((name) => dropCollection(this.chromaUrl, name)));
    await rm(this.storageDir, { recursive: true, force: true });
    while (this.#cleanups.length)
      await this.#cleanups
        .pop()?.()
        .catch(() => undefined);
    await Promise.allSettled([this.redisServer?.stop(), this.chromaServer?.stop()]);
  }

  #track(proc: ServiceProcess): ServiceProcess {
    this.#processes.push(proc);
    return proc;
  }

  async #ready(proc: ServiceProcess, url: string, what: string, timeoutMs: number): Promise<void> {
    try {
      await waitForHttp(url, { timeoutMs });
    } catch (err) {
      await proc.stop();
      throw new Error(`${what} did not get ready:\n${proc.output()}`, { cause: err });
    }
  }
}

/**
 * Prepares an isolated Sluice world: a unique queue prefix, a fresh storage dir, and the Redis and
 * Chroma of the options (started here when `'dedicated'`). Nothing runs yet; start processes with
 * {@link TestStack.startApi} and {@link TestStack.startWorker}, and dispose of the stack when done.
 */
export async function startStack(options: StackOptions): Promise<TestStack> {
  const name = uniqueName(options.label);
  const started: { stop(): Promise<void> }[] = [];
  let connection: Redis | Cluster | undefined;
  let storageDir: string | undefined;
  try {
    const [redisServer, chromaServer] = await Promise.all([
      options.redis === 'dedicated' ? startRedis({ dedicated: true }) : undefined,
      options.chroma === 'dedicated' ? startChroma({ dedicated: true }) : undefined,
    ]);
    if (redisServer) started.push(redisServer);
    if (chromaServer) started.push(chromaServer);
    const redisUrl = redisServer?.url ?? options.redis;
    const chromaUrl = chromaServer?.url ?? options.chroma;
    storageDir = await mkdtemp(join(tmpdir(), `sluice-${name}-`));
    // A producer connection: its commands fail fast when Redis is away, so clean-up cannot hang.
    connection = createRedisConnection({ url: redisUrl, role: 'producer', connectionName: name });
    connection.on('error', () => undefined);
    await ready(connection, redisUrl);
    return new TestStack({
      name,
      prefix: isClusterUrl(redisUrl) ? `{${name}}` : name,
      storageDir,
      redisUrl,
      chromaUrl,
      redisServer,
      chromaServer,
      connection,
    });
  } catch (err) {
    connection?.disconnect();
    if (storageDir) await rm(storageDir, { recursive: true, force: true });
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
}

/** Waits until a connection is ready (a producer connection refuses commands before). */
async function ready(connection: Redis | Cluster, url: string, timeoutMs = 10_000): Promise<void> {
  if (connection.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    connection.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Removes a Chroma collection (best effort: it may never have been created, or Chroma be away). */
async function dropCollection(chromaUrl: string, name: string): Promise<void> {
  await fetch(
    `${chromaUrl}/api/v2/tenants/default_tenant/databases/default_database/collections/${encodeURIComponent(name)}`,
    { method: 'DELETE', signal: AbortSignal.timeout(10_000) },
  ).catch(() => undefined);
}
