/**
 * The Redis and Chroma a benchmark runs on: the URLs it was given (the test run's shared servers
 * in the smoke test), or servers of its own, which {@link BenchServices.stop} stops.
 */
import { startChroma } from '../test/support/chroma.js';
import { startRedis } from '../test/support/redis.js';

/** A benchmark's Redis and Chroma. */
export interface BenchServices {
  readonly redisUrl: string;
  readonly chromaUrl: string;
  /** Stops the servers the benchmark started (never the given ones). */
  stop(): Promise<void>;
}

/** Uses `given.redisUrl` and `given.chromaUrl`, or starts a Redis and a dedicated Chroma for what is missing. */
export async function startBenchServices(given: {
  redisUrl?: string | undefined;
  chromaUrl?: string | undefined;
}): Promise<BenchServices> {
  const redis = given.redisUrl ? undefined : await startRedis();
  try {
    const chroma = given.chromaUrl ? undefined : await startChroma({ dedicated: true });
    return {
      redisUrl: given.redisUrl ?? redis!.url,
      chromaUrl: given.chromaUrl ?? chroma!.url,
      stop: async () => {
        await redis?.stop();
        await chroma?.stop();
      },
    };
  } catch (err) {
    await redis?.stop();
    throw err;
  }
}
