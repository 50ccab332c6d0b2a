import type { TestProject } from 'vitest/node';
import { startChroma } from './chroma.js';
import { startRedis } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    chromaUrl: string;
  }
}

/** Starts the Redis and Chroma that the whole test run shares. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, chroma] = await Promise.all([startRedis(), startChroma()]);
  project.provide('redisUrl', redis.url);
  project.provide('chromaUrl', chroma.url);
  return async () => {
    await Promise.all([redis.stop(), chroma.stop()]);
  };
}
