import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../support/processes.js';
import { CLI } from '../support/stack.js';

/** What one CLI run printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Connection variables a developer's shell may have set; each run states its own.
const CLEARED = {
  SLUICE_API_URL: '',
  SLUICE_TOKEN: '',
  REDIS_URL: '',
  SLUICE_PREFIX: '',
  STORAGE_DIR: '',
  AUTH_JWT_SECRET: '',
};

/** A CLI run in progress. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly finished: Promise<CliRun>;
}

/** Starts `node packages/sdk/dist/cli.js …args` as a real child process (stdout is a pipe, not a TTY). */
export function startCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 45_000,
): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...CLEARED, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const finished = new Promise<CliRun>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, finished };
}

/** Runs the CLI to its end. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 45_000,
): Promise<CliRun> {
  return startCli(args, env, timeoutMs).finished;
}
