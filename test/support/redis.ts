import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';

/** A Redis server a test can use, and stop when done. */
export interface TestRedis {
  readonly url: string;
  /** Where it came from: `env` (REDIS_URL), `container` (Testcontainers) or `process` (redis-server). */
  readonly kind: 'env' | 'container' | 'process';
  /** Stops the server (a no-op for `env`). */
  stop(): Promise<void>;
  /** Restarts the server on the same port, keeping its AOF data (`process` only). */
  restart?(options?: { downMs?: number }): Promise<void>;
  /** Stops the server without restarting it (`process` only). */
  kill?(): Promise<void>;
  /** Starts it again after {@link kill} (`process` only). */
  revive?(): Promise<void>;
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Always start a server of our own (ignore REDIS_URL), e.g. to restart it in a fault test. */
  dedicated?: boolean;
}

async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives a test a real Redis: REDIS_URL when set; else a Testcontainers Redis when a Docker
 * engine answers and can start one; else (no engine, or one that cannot pull the image) a
 * `redis-server` binary on a free port with its data in a temp dir.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  if (process.env.REDIS_URL && !options.dedicated) {
    return { url: process.env.REDIS_URL, kind: 'env', stop: async () => undefined };
  }
  if (!options.dedicated && (await dockerAnswers())) {
    const container = await startRedisContainer();
    if (container) return container;
  }
  return startRedisProcess();
}

/** The Redis image tests use in a container: a patched 7.4 (SPEC's minimum for deployments). */
const REDIS_IMAGE = 'redis:7.4.6-alpine';

/**
 * A Testcontainers Redis, or undefined when the engine answers but cannot give one (no registry
 * to pull from, no room): the caller then falls back to a `redis-server` process.
 */
async function startRedisContainer(): Promise<TestRedis | undefined> {
  const { GenericContainer, Wait } = await import('testcontainers');
  try {
    const container = await new GenericContainer(REDIS_IMAGE)
      .withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .withStartupTimeout(60_000)
      .start();
    return {
      url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
      kind: 'container',
      stop: async () => {
        await container.stop();
      },
    };
  } catch (err) {
    console.warn(
      `a Docker engine answers but ${REDIS_IMAGE} did not start (${err instanceof Error ? err.message : String(err)}); ` +
        'using a redis-server process instead',
    );
    return undefined;
  }
}

/** Starts a `redis-server` process with AOF on, in a temp dir, on a free port. */
export async function startRedisProcess(extraArgs: string[] = []): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        '--save',
        '',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    const started = child;
    await new Promise<void>((resolve, reject) => {
      started.once('error', (err) =>
        reject(
          new Error(
            'redis-server is not on PATH: install it (apt-get install redis-server) or set REDIS_URL',
            { cause: err },
          ),
        ),
      );
      started.once('spawn', () => resolve());
    });
    await waitFor(
      async () => {
        const client = new Redis({
          port,
          host: '127.0.0.1',
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      { what: `redis-server on port ${port}` },
    );
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };
  await launch();
  return {
    url,
    kind: 'process',
    kill,
    revive: launch,
    restart: async ({ downMs = 0 } = {}) => {
      await kill();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
