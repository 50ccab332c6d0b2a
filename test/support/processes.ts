import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { waitFor } from './ports.js';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** A Node process started by a test, with its output kept for assertions. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything it printed on stdout and stderr so far. */
  output(): string;
  /** Structured log lines (JSON) it printed so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal. */
  signal(signal: NodeJS.Signals): void;
  /** Sends SIGKILL if still running and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node [nodeArgs] <script> [args]` with the given environment (added to this process's).
 */
export function startNode(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
  nodeArgs: string[] = [],
): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  // 'exit' can come before the last lines are read from the pipes: wait for both to end too
  // (bounded, in case a grandchild holds them open).
  const drained = Promise.all(
    [child.stdout, child.stderr].map((stream) => new Promise((resolve) => stream.once('close', resolve))),
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      void Promise.race([drained, sleep(2000, undefined, { ref: false })]).then(() =>
        resolve({ code, signal }),
      );
    }),
  );
  return {
    child,
    output: () => output,
    logs: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    exited,
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Fetches `url` until it answers `status` (200 by default). */
export async function waitForHttp(url: string, { status = 200, timeoutMs = 20_000 } = {}): Promise<void> {
  await waitFor(async () => (await fetch(url)).status === status, { timeoutMs, what: `${url} → ${status}` });
}
