import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, waitFor } from './ports.js';

/** A real Chroma server for a test. */
export interface TestChroma {
  readonly url: string;
  readonly kind: 'env' | 'process';
  stop(): Promise<void>;
  /** Stops the server, keeping its data (`process` only). */
  kill?(): Promise<void>;
  /** Starts it again on the same port and data dir (`process` only). */
  revive?(): Promise<void>;
}

/** The Chroma CLI that the `chromadb` package ships (a real server through its native binding). */
export function chromaCliPath(): string {
  // chromadb's exports map hides package.json, so walk up from its entry point to the package root.
  let dir = dirname(createRequire(import.meta.url).resolve('chromadb'));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('chromadb package root not found');
    dir = parent;
  }
  return join(dir, 'dist', 'cli.mjs');
}

/** Waits for a Chroma server's heartbeat. */
export async function waitForChroma(url: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await fetch(`${url}/api/v2/heartbeat`)).ok, {
    timeoutMs,
    what: `Chroma at ${url}`,
  });
}

/**
 * Gives a test a real Chroma: CHROMA_URL when set (unless `dedicated`), else the server the
 * `chromadb` package ships, on a free port with a temp data dir.
 */
export async function startChroma(options: { dedicated?: boolean } = {}): Promise<TestChroma> {
  if (process.env.CHROMA_URL && !options.dedicated) {
    return { url: process.env.CHROMA_URL, kind: 'env', stop: async () => undefined };
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-chroma-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      process.execPath,
      [chromaCliPath(), 'run', '--path', dir, '--port', String(port), '--host', '127.0.0.1'],
      {
        stdio: 'ignore',
      },
    );
    await waitForChroma(url);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
      setTimeout(() => running.kill('SIGKILL'), 5000).unref();
    });
  };
  await launch();
  return {
    url,
    kind: 'process',
    kill,
    revive: launch,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
