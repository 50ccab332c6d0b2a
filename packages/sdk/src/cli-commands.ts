import {
  SUPPORTED_EXTENSIONS,
  SluiceError,
  collectionSchema,
  commonEnvShape,
  metadataSchema,
  type JobStatus,
} from '@sluice/core';
import { expandInputs } from './file-inputs.js';
import { exitCodeOf, formatSummary, lineReporter, progressBarReporter, runIngest } from './cli-ingest.js';
import { EXIT, UsageError } from './cli-usage-error.js';
import { SluiceClient } from './sluice-client.js';
import type { SluiceClientOptions } from './sluice-client-options.js';
import { syncFolder, type SyncAction } from './sync.js';
import { createToken } from './token.js';

// The commands behind `sluice`; the entry point (cli.ts) loads this module only once a command
// runs, so that `--help` and usage errors do not pay for loading BullMQ and the core.

/** The environment, read once by the CLI's entry point and passed down. */
export interface CliEnv {
  apiUrl?: string | undefined;
  token?: string | undefined;
  redisUrl?: string | undefined;
  prefix?: string | undefined;
  redisPassword?: string | undefined;
  storageDir?: string | undefined;
  storageUrl?: string | undefined;
  s3Endpoint?: string | undefined;
  s3ForcePathStyle?: string | undefined;
  secret?: string | undefined;
}

/** Connection flags of every command but `token`. */
export interface ConnectionFlags {
  api?: string;
  token?: string;
  redis?: string;
  prefix?: string;
  storageDir?: string;
  storageUrl?: string;
}

/** Flags of `sluice ingest`. */
export interface IngestFlags extends ConnectionFlags {
  collection: string;
  wait?: boolean;
  concurrency: number;
  metadata?: string;
  timeout?: number;
}

/** Flags of `sluice sync`. */
export interface SyncFlags extends ConnectionFlags {
  collection: string;
  delete?: boolean;
  wait?: boolean;
  dryRun?: boolean;
  json?: boolean;
  source?: string;
  metadata?: string;
  concurrency: number;
  timeout?: number;
}

/** Flags are first, then the environment: `--api`/`--token`, `--redis`, then SLUICE_API_URL, REDIS_URL. */
function connectionOptions(flags: ConnectionFlags, env: CliEnv): SluiceClientOptions {
  if (flags.api !== undefined && flags.redis !== undefined) {
    throw new UsageError('give --api or --redis, not both');
  }
  const apiUrl = flags.api ?? (flags.redis === undefined ? env.apiUrl : undefined);
  if (apiUrl !== undefined) return { apiUrl, token: flags.token ?? env.token };
  const redisUrl = flags.redis ?? env.redisUrl;
  if (redisUrl !== undefined) {
    // A storage flag overrides both storage variables: the two kinds cannot be combined.
    const flagged = flags.storageDir !== undefined || flags.storageUrl !== undefined;
    return {
      redisUrl,
      prefix: flags.prefix ?? env.prefix,
      redisPassword: env.redisPassword,
      storageDir: flagged ? flags.storageDir : env.storageDir,
      storageUrl: flagged ? flags.storageUrl : env.storageUrl,
      s3Endpoint: env.s3Endpoint,
      s3ForcePathStyle: parseFlagVariable('S3_FORCE_PATH_STYLE', env.s3ForcePathStyle),
    };
  }
  throw new UsageError(
    'no connection: give --api URL and --token TOKEN (or SLUICE_API_URL and SLUICE_TOKEN), ' +
      'or --redis URL (or REDIS_URL) inside the cluster',
  );
}

/** A true/false variable of the environment, read as the workers read it. */
function parseFlagVariable(name: 'S3_FORCE_PATH_STYLE', value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const parsed = commonEnvShape[name].safeParse(value);
  if (!parsed.success) throw new UsageError(`${name} must be true or false, got "${value}"`);
  return parsed.data;
}

function connect(options: SluiceClientOptions, needsApi?: string): SluiceClient {
  if (needsApi !== undefined && options.apiUrl === undefined) {
    throw new UsageError(
      `${needsApi} needs the API: give --api URL and --token TOKEN (or SLUICE_API_URL and SLUICE_TOKEN)`,
    );
  }
  try {
    return new SluiceClient(options);
  } catch (err) {
    // Bad options (a malformed URL or prefix) are the caller's to fix.
    if (err instanceof SluiceError) throw new UsageError(err.message);
    throw err;
  }
}

function checkCollection(name: string): string {
  const parsed = collectionSchema.safeParse(name);
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? 'invalid collection name');
  return name;
}

function parseMetadata(json: string | undefined): Record<string, string | number | boolean> {
  if (json === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new UsageError('--metadata must be a JSON object, e.g. \'{"team":"docs"}\'');
  }
  const parsed = metadataSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--metadata: ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Runs `work` with an AbortSignal that Ctrl-C aborts; a second Ctrl-C exits at once. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write('\ninterrupted: stopping (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** {@link connectionOptions} for a command that sends files: in Redis mode they need the workers' storage. */
function fileConnectionOptions(
  ...args: Parameters<typeof connectionOptions>
): ReturnType<typeof connectionOptions> {
  const options = connectionOptions(...args);
  if (
    options.redisUrl !== undefined &&
    options.storageDir === undefined &&
    options.storageUrl === undefined
  ) {
    throw new UsageError(
      "with --redis, files need the workers' storage: --storage-dir (or STORAGE_DIR) or --storage-url (or STORAGE_URL)",
    );
  }
  return options;
}

/** `sluice ingest`: expands the inputs, ingests them, prints a summary. */
export async function ingestCommand(inputs: string[], flags: IngestFlags, env: CliEnv): Promise<number> {
  const collection = checkCollection(flags.collection);
  const metadata = parseMetadata(flags.metadata);
  const options = fileConnectionOptions(flags, env);
  const expanded = await expandInputs(inputs, process.cwd());
  if (expanded.unmatched.length > 0) {
    throw new UsageError(`no file or folder matches ${expanded.unmatched.map((u) => `"${u}"`).join(', ')}`);
  }
  for (const path of expanded.skipped) {
    process.stderr.write(
      `note: skipping ${path}: unsupported type (Sluice ingests ${SUPPORTED_EXTENSIONS.join(' ')})\n`,
    );
  }
  if (expanded.files.length === 0)
    throw new UsageError('nothing to ingest: no supported files in the inputs');

  const sluice = connect(options);
  try {
    const wait = flags.wait ?? false;
    const reporter = process.stdout.isTTY
      ? progressBarReporter(process.stdout, wait)
      : lineReporter(process.stdout);
    const summary = await interruptible((signal) =>
      runIngest(
        sluice,
        expanded.files,
        {
          collection,
          wait,
          concurrency: flags.concurrency,
          metadata,
          waitTimeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
          signal,
        },
        reporter,
      ),
    );
    process.stdout.write(formatSummary(summary, { wait, skipped: expanded.skipped.length, collection }));
    return exitCodeOf(summary);
  } finally {
    await sluice.close();
  }
}

/** `sluice status`: a job's state; exit 1 when the job failed. */
export async function statusCommand(
  jobId: string,
  flags: ConnectionFlags & { json?: boolean },
  env: CliEnv,
): Promise<number> {
  const sluice = connect(connectionOptions(flags, env));
  try {
    const status = await sluice.status(jobId);
    process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(status));
    return status.state === 'failed' ? EXIT.failed : EXIT.ok;
  } finally {
    await sluice.close();
  }
}

function describeStatus(status: JobStatus): string {
  const lines = [`${status.jobId}: ${status.state} (${status.name}, ${status.attempts} attempts)`];
  if (status.result) {
    const r = status.result;
    const pages = r.pages === undefined ? '' : `, ${r.pages} pages`;
    lines.push(
      `  ${r.docId}: ${r.chunks} chunks (${r.embedded} embedded, ${r.skipped} skipped, ${r.deleted} deleted)${pages}`,
    );
  }
  if (status.error) lines.push(`  ${status.error.code}: ${status.error.message}`);
  if (status.state === 'active' && typeof status.progress === 'object') {
    lines.push(`  progress: ${JSON.stringify(status.progress)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `sluice query`: the nearest chunks, numbered, with score, docId and page. */
export async function queryCommand(
  text: string,
  flags: ConnectionFlags & { collection: string; k: number; json?: boolean },
  env: CliEnv,
): Promise<number> {
  const collection = checkCollection(flags.collection);
  const sluice = connect(connectionOptions(flags, env), 'query');
  try {
    const { matches } = await sluice.query({ collection, text, k: flags.k });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ matches }, null, 2)}\n`);
    } else if (matches.length === 0) {
      process.stdout.write('no matches\n');
    } else {
      matches.forEach((m, i) => {
        const page = m.page === undefined ? '' : ` p.${m.page}`;
        const snippet = m.text.replace(/\s+/g, ' ').trim().slice(0, 240);
        process.stdout.write(`${i + 1}. ${m.score.toFixed(4)}  ${m.docId}${page}\n   ${snippet}\n`);
      });
    }
    return EXIT.ok;
  } finally {
    await sluice.close();
  }
}

/** `sluice list`: a collection's documents with chunk counts and versions. */
export async function listCommand(
  flags: ConnectionFlags & { collection: string; json?: boolean },
  env: CliEnv,
): Promise<number> {
  const collection = checkCollection(flags.collection);
  const sluice = connect(connectionOptions(flags, env), 'list');
  try {
    const { documents } = await sluice.list({ collection });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ documents }, null, 2)}\n`);
    } else {
      for (const d of documents) {
        process.stdout.write(`${d.docId}  ${d.chunks} chunks  ${d.contentHash?.slice(0, 12) ?? '-'}\n`);
      }
      process.stdout.write(`${documents.length} documents\n`);
    }
    return EXIT.ok;
  } finally {
    await sluice.close();
  }
}

/** `sluice progress`: where a collection's jobs are; with `--watch`, until none is left. */
export async function progressCommand(
  flags: ConnectionFlags & { collection: string; watch?: boolean; json?: boolean },
  env: CliEnv,
): Promise<number> {
  const collection = checkCollection(flags.collection);
  const sluice = connect(connectionOptions(flags, env));
  try {
    return await interruptible(async (signal) => {
      for (;;) {
        const p = await sluice.progress({ collection, signal });
        if (flags.json) process.stdout.write(`${JSON.stringify(p)}\n`);
        else {
          const eta = p.etaSeconds === null ? '' : `, about ${formatDuration(p.etaSeconds)} left`;
          process.stdout.write(
            `${collection}: ${p.queued} queued, ${p.active} active, ${p.completed} completed, ${p.failed} failed` +
              ` (${p.perMinute.toFixed(1)}/min${eta})\n`,
          );
        }
        if (!flags.watch || p.queued + p.active === 0 || signal.aborted) return EXIT.ok;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    });
  } finally {
    await sluice.close();
  }
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * `sluice audit`: compares a collection with what Sluice indexed; with `--repair`, submits the
 * jobs that converge it. Exits 1 when drift was found (and not repaired).
 */
export async function auditCommand(
  flags: ConnectionFlags & { collection: string; repair?: boolean; json?: boolean },
  env: CliEnv,
): Promise<number> {
  const collection = checkCollection(flags.collection);
  const sluice = connect(connectionOptions(flags, env), 'audit');
  try {
    const report = await sluice.audit({ collection, repair: flags.repair ?? false });
    const drift = report.missing + report.orphans + report.stale + report.duplicates;
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      process.stdout.write(
        `${collection}: ${report.documents} documents, ${report.chunks} chunks; ` +
          `missing ${report.missing}, orphans ${report.orphans}, stale ${report.stale}, duplicates ${report.duplicates}` +
          (report.inFlight ? `; ${report.inFlight} documents still settling` : '') +
          '\n',
      );
      if (report.repairJobs.length) process.stdout.write(`repair jobs: ${report.repairJobs.join(' ')}\n`);
    }
    return drift === 0 || report.repairJobs.length > 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await sluice.close();
  }
}

/** `sluice remove`: submits a document's removal; with `--wait`, follows it. */
export async function removeCommand(
  docId: string,
  flags: ConnectionFlags & { collection: string; wait?: boolean },
  env: CliEnv,
): Promise<number> {
  const collection = checkCollection(flags.collection);
  const sluice = connect(connectionOptions(flags, env));
  try {
    const { jobId } = await sluice.remove({ collection, docId });
    if (flags.wait) {
      const result = await interruptible((signal) => sluice.wait(jobId, { signal }));
      process.stdout.write(`removed ${docId}: ${result.deleted} chunks deleted (${jobId})\n`);
    } else {
      process.stdout.write(`${jobId}\n`);
    }
    return EXIT.ok;
  } finally {
    await sluice.close();
  }
}

/** `sluice token`: prints a signed API token. */
export async function tokenCommand(
  flags: { collections: string; ttl: string; secret?: string; subject?: string },
  env: CliEnv,
): Promise<number> {
  const secret = flags.secret ?? env.secret;
  if (secret === undefined) throw new UsageError('no secret: give --secret or set AUTH_JWT_SECRET');
  const names = flags.collections
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UsageError('--collections needs at least one name, or "*"');
  try {
    const token = await createToken({
      secret,
      collections: names.length === 1 && names[0] === '*' ? '*' : names,
      ttl: flags.ttl,
      ...(flags.subject === undefined ? {} : { subject: flags.subject }),
    });
    process.stdout.write(`${token}\n`);
  } catch (err) {
    if (err instanceof SluiceError && err.code === 'INVALID_REQUEST') throw new UsageError(err.message);
    throw err;
  }
  return EXIT.ok;
}

/** One line for a failure that ended a command: the code for Sluice errors, no stack trace. */
export function describeFailure(err: unknown): { message: string; exitCode: number } {
  if (err instanceof SluiceError) return { message: `${err.code}: ${err.message}`, exitCode: EXIT.failed };
  if (err instanceof Error && err.name === 'AbortError') {
    return { message: 'interrupted', exitCode: EXIT.interrupted };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT.failed };
}

/** `sluice sync`: a collection mirrors a folder; one line per document, then a summary. */
export async function syncCommand(dir: string, flags: SyncFlags, env: CliEnv): Promise<number> {
  const collection = checkCollection(flags.collection);
  const metadata = parseMetadata(flags.metadata);
  const options = fileConnectionOptions(flags, env);
  const client = connect(options);
  const out = process.stdout;
  const print = (action: SyncAction) => {
    if (flags.json) {
      out.write(`${JSON.stringify(action)}\n`);
      return;
    }
    if (action.kind === 'unchanged') return;
    const verb = flags.dryRun ? `would ${action.kind}` : action.kind;
    const why = action.error ? `: ${action.error.code}: ${action.error.message}` : '';
    out.write(`${verb} ${action.docId}${action.jobId ? ` ${action.jobId}` : ''}${why}\n`);
  };
  try {
    const summary = await interruptible(async (signal) =>
      syncFolder(client, {
        collection,
        dir,
        delete: flags.delete ?? false,
        dryRun: flags.dryRun ?? false,
        wait: flags.wait ?? false,
        metadata,
        concurrency: flags.concurrency,
        signal,
        onAction: print,
        ...(flags.source === undefined ? {} : { source: flags.source }),
        ...(flags.timeout === undefined ? {} : { waitTimeoutMs: flags.timeout * 1000 }),
      }).catch((err: unknown) => {
        if (signal.aborted) return undefined;
        throw err;
      }),
    );
    if (!summary) {
      process.stderr.write('sync interrupted: what was sent goes on; run the same sync again to finish\n');
      return EXIT.interrupted;
    }
    if (flags.json) out.write(`${JSON.stringify(summary)}\n`);
    else {
      const parts = Object.entries(summary).map(([kind, n]) => `${n} ${kind}`);
      out.write(`${flags.dryRun ? 'dry run: ' : ''}"${collection}" from ${dir}: ${parts.join(', ')}\n`);
    }
    return summary.failed > 0 ? EXIT.failed : EXIT.ok;
  } catch (err) {
    if (err instanceof SluiceError && err.details.field === 'dir') throw new UsageError(err.message);
    throw err;
  } finally {
    await client.close();
  }
}
