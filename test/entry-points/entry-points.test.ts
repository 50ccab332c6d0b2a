import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes.js';

/**
 * What an entry point loads, seen from a fresh Node process: a module hook records every module
 * resolved while the script runs, and the packages they belong to are returned. Runs the built
 * `dist/` (what users import), so `tsc -b` must have run.
 */
async function packagesLoaded(script: string): Promise<string[]> {
  const hooked = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({
      resolve(specifier, context, next) {
        const result = next(specifier, context);
        seen.add(result.url);
        return result;
      },
    });
    ${script}
    const packages = new Set();
    let own;
    for (const url of seen) {
      // The package a module belongs to: the path segment(s) after the last node_modules/.
      const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/(?!.*node_modules\\/)/.exec(decodeURIComponent(url));
      if (match) packages.add(match[1]);
      // Workspace packages resolve to their real path: packages/<name>/dist or services/<name>/dist.
      else if ((own = /\\/(?:packages|services)\\/([^/]+)\\/dist\\//.exec(url))) packages.add('@sluice/' + own[1]);
    }
    console.log(JSON.stringify([...packages].sort()));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', hooked], {
    cwd: repoRoot,
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as string[];
}

/** What no light entry point may load: servers, the queue, the logger, the store, the parsers, S3. */
const HEAVY = [
  'fastify',
  'prom-client',
  'bullmq',
  'ioredis',
  'pino',
  'chromadb',
  'pdf-parse',
  'pdfjs-dist',
  'mammoth',
  'yauzl',
  'linkedom',
  '@mozilla/readability',
  '@aws-sdk/client-s3',
];

describe('entry points load only what their callers need', () => {
  it('@sluice/sdk (the HTTP client, used for real) loads none of the server, queue, parser or store', async () => {
    const loaded = await packagesLoaded(`
      const { SluiceClient, createToken } = await import('@sluice/sdk');
      const client = new SluiceClient({ apiUrl: 'http://127.0.0.1:9', token: await createToken({ secret: 'x'.repeat(32), collections: '*' }) });
      await client.status('some-job', { signal: AbortSignal.timeout(200) }).catch(() => undefined);
      await client.close();
    `);
    expect(loaded).toContain('@sluice/sdk');
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  it('@sluice/core (the contract) loads zod and nothing else', async () => {
    const loaded = await packagesLoaded(`await import('@sluice/core');`);
    expect(loaded.filter((name) => !name.startsWith('@sluice/'))).toEqual(['zod']);
  });

  it('the check itself sees heavy modules where they are used: the SDK in Redis mode loads bullmq', async () => {
    const loaded = await packagesLoaded(`
      const { SluiceClient } = await import('@sluice/sdk');
      const client = new SluiceClient({ redisUrl: 'redis://127.0.0.1:9', requestTimeoutMs: 200 });
      await client.close().catch(() => undefined);
    `);
    expect(loaded).toEqual(expect.arrayContaining(['bullmq', 'ioredis']));
  });
});
