import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../support/ports.js';
import { startNode, type ServiceProcess } from '../support/processes.js';

/** Processes whose command line mentions `needle` (the data dir is in every child's arguments or env). */
function processesMentioning(needle: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'))
    .map((line) => line.trim());
}

let stack: ServiceProcess | undefined;
let dataDir = '';
afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('pnpm start', () => {
  it(
    'brings the whole stack up from nothing, answers health, and leaves no process after Ctrl-C',
    { timeout: 120_000 },
    async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'sluice-start-'));
      const [api, metrics, w1, w2, redis, chroma] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
        freePort(),
        freePort(),
        freePort(),
      ]);
      // Without REDIS_URL / CHROMA_URL the script starts redis-server and the embedded Chroma itself.
      const env: Record<string, string> = {
        SLUICE_DATA_DIR: dataDir,
        PORT: String(api),
        METRICS_PORT: String(metrics),
        SLUICE_WORKER_PORTS: `${w1},${w2}`,
        SLUICE_REDIS_PORT: String(redis),
        SLUICE_CHROMA_PORT: String(chroma),
        LOG_LEVEL: 'warn',
      };
      stack = startNode('scripts/start.mjs', env);
      await waitFor(async () => stack!.output().includes('Sluice is running.'), {
        timeoutMs: 90_000,
        what: 'the stack',
      });
      expect((await fetch(`http://127.0.0.1:${api}/api/health`)).status).toBe(200);
      for (const port of [w1, w2])
        expect((await fetch(`http://127.0.0.1:${port}/api/health`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()).toContain(
        'sluice_build_info',
      );
      const token = /SLUICE_TOKEN=(\S+)/.exec(stack.output())?.[1];
      expect(token).toBeDefined();
      const authed = await fetch(`http://127.0.0.1:${api}/v1/collections/start-test/documents`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(authed.status).toBe(200);
      // redis-server (--dir) and Chroma (--path) carry the data dir in their arguments.
      expect(processesMentioning(dataDir).length).toBeGreaterThan(0);

      stack.signal('SIGINT');
      expect(await stack.exited).toEqual({ code: 0, signal: null });
      expect(processesMentioning(dataDir)).toEqual([]);
      for (const port of [api, metrics, w1, w2, redis, chroma]) {
        await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
      }
    },
  );
});
