#!/usr/bin/env node
/**
 * The `sluice` command: ingest files and folders, follow jobs, query, and mint API tokens.
 * Exit codes: 0 done, 1 a job or request failed, 2 a usage error, 130 interrupted.
 */
import { createRequire } from 'node:module';
import { SUPPORTED_EXTENSIONS } from '@sluice/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { CliEnv, ConnectionFlags, IngestFlags, SyncFlags } from './cli-commands.js';
import { EXIT, UsageError } from './cli-usage-error.js';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// The environment is read here, once, and passed down.
const env: CliEnv = {
  apiUrl: nonEmpty(process.env.SLUICE_API_URL),
  token: nonEmpty(process.env.SLUICE_TOKEN),
  redisUrl: nonEmpty(process.env.REDIS_URL),
  prefix: nonEmpty(process.env.SLUICE_PREFIX),
  redisPassword: nonEmpty(process.env.REDIS_PASSWORD),
  storageDir: nonEmpty(process.env.STORAGE_DIR),
  storageUrl: nonEmpty(process.env.STORAGE_URL),
  s3Endpoint: nonEmpty(process.env.S3_ENDPOINT),
  s3ForcePathStyle: nonEmpty(process.env.S3_FORCE_PATH_STYLE),
  secret: nonEmpty(process.env.AUTH_JWT_SECRET),
};

// Loaded when a command runs, not for --help or a usage error (it brings BullMQ and the core).
const commands = () => import('./cli-commands.js');

function positiveInt(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

function withConnectionOptions(command: Command): Command {
  return command
    .option('--api <url>', 'Sluice API base URL (env SLUICE_API_URL)')
    .option('--token <token>', 'API token (env SLUICE_TOKEN)')
    .option('--redis <url>', 'enqueue straight onto Redis instead of the API (env REDIS_URL)')
    .option('--prefix <prefix>', "with --redis: the workers' SLUICE_PREFIX (env SLUICE_PREFIX)")
    .option('--storage-dir <dir>', "with --redis: the workers' STORAGE_DIR, mounted here (env STORAGE_DIR)")
    .option(
      '--storage-url <url>',
      "with --redis: the workers' STORAGE_URL, s3://bucket/prefix (env STORAGE_URL; S3_ENDPOINT, S3_FORCE_PATH_STYLE)",
    );
}

function buildProgram(setExit: (code: number) => void): Command {
  const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
  const program = new Command('sluice')
    .description('Ingest documents into Sluice, follow the jobs, query the result.')
    .version(version)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');

  withConnectionOptions(
    program
      .command('ingest')
      .description(
        `Ingest files, folders and globs (folders are walked; ${SUPPORTED_EXTENSIONS.join(' ')}). ` +
          'docIds are paths relative to the common base directory of the inputs, so a re-run is idempotent.',
      )
      .argument('<inputs...>', 'files, folders or glob patterns (quote globs)')
      .requiredOption('-c, --collection <name>', 'collection to ingest into')
      .option('-w, --wait', "wait for every job; report the jobs' own failure codes")
      .addOption(
        new Option('--concurrency <n>', 'files in flight at once')
          .default(4)
          .argParser(positiveInt('--concurrency')),
      )
      .option(
        '--metadata <json>',
        'metadata stored on every chunk: a JSON object of strings, numbers, booleans',
      )
      .addOption(
        new Option('--timeout <seconds>', 'with --wait: give up on a job after this long').argParser(
          positiveInt('--timeout'),
        ),
      ),
  ).action(async (inputs: string[], flags: IngestFlags) =>
    setExit(await (await commands()).ingestCommand(inputs, flags, env)),
  );

  withConnectionOptions(
    program
      .command('sync')
      .description(
        'Make a collection mirror a folder: new and changed files are ingested (docId = the path ' +
          'relative to the folder), and with --delete the documents whose files are gone are removed. ' +
          'Only documents this sync created are touched; running it again finishes an interrupted sync.',
      )
      .argument('<dir>', 'the folder')
      .requiredOption('-c, --collection <name>', 'collection to keep in step with the folder')
      .option('--delete', "remove this sync's documents whose files are gone")
      .option('-w, --wait', "wait for every job; report the jobs' own failure codes")
      .option('--dry-run', 'print what would be done, change nothing')
      .option(
        '--json',
        'one JSON line per document, then the summary { added, changed, deleted, unchanged, failed }',
      )
      .option('--source <name>', "this sync's name in its documents' metadata (default: the folder's name)")
      .option('--metadata <json>', 'metadata for every document: a JSON object of strings, numbers, booleans')
      .addOption(
        new Option('--concurrency <n>', 'files in flight at once')
          .default(8)
          .argParser(positiveInt('--concurrency')),
      )
      .addOption(
        new Option('--timeout <seconds>', 'with --wait: give up on a job after this long').argParser(
          positiveInt('--timeout'),
        ),
      ),
  ).action(async (dir: string, flags: SyncFlags) =>
    setExit(await (await commands()).syncCommand(dir, flags, env)),
  );

  withConnectionOptions(
    program
      .command('status')
      .description("Show a job's state, result or error (exit 1 when the job failed).")
      .argument('<jobId>', 'the job ID that ingest or remove printed')
      .option('--json', 'print the status as JSON'),
  ).action(async (jobId: string, flags: ConnectionFlags & { json?: boolean }) =>
    setExit(await (await commands()).statusCommand(jobId, flags, env)),
  );

  withConnectionOptions(
    program
      .command('query')
      .description('Find the chunks nearest to a text (needs the API).')
      .argument('<text>', 'the question or passage')
      .requiredOption('-c, --collection <name>', 'collection to search')
      .addOption(new Option('-k, --k <n>', 'matches wanted').default(5).argParser(positiveInt('-k')))
      .option('--json', 'print the matches as JSON'),
  ).action(async (text: string, flags: ConnectionFlags & { collection: string; k: number; json?: boolean }) =>
    setExit(await (await commands()).queryCommand(text, flags, env)),
  );

  withConnectionOptions(
    program
      .command('list')
      .description("List a collection's documents with their chunk counts (needs the API).")
      .requiredOption('-c, --collection <name>', 'collection to list')
      .option('--json', 'print the list as JSON'),
  ).action(async (flags: ConnectionFlags & { collection: string; json?: boolean }) =>
    setExit(await (await commands()).listCommand(flags, env)),
  );

  withConnectionOptions(
    program
      .command('progress')
      .description("Show where a collection's jobs are: queued, active, completed, failed, with an ETA.")
      .requiredOption('-c, --collection <name>', 'the collection')
      .option('--watch', 'print again every 2 s until nothing is queued or running')
      .option('--json', 'print the progress as JSON'),
  ).action(async (flags: ConnectionFlags & { collection: string; watch?: boolean; json?: boolean }) =>
    setExit(await (await commands()).progressCommand(flags, env)),
  );

  withConnectionOptions(
    program
      .command('audit')
      .description('Compare a collection with what Sluice indexed; exit 1 on drift (needs the API).')
      .requiredOption('-c, --collection <name>', 'collection to audit')
      .option('--repair', 'submit the jobs that converge the drift')
      .option('--json', 'print the report as JSON'),
  ).action(async (flags: ConnectionFlags & { collection: string; repair?: boolean; json?: boolean }) =>
    setExit(await (await commands()).auditCommand(flags, env)),
  );

  withConnectionOptions(
    program
      .command('remove')
      .description("Remove a document's chunks from a collection.")
      .argument('<docId>', 'the document to remove')
      .requiredOption('-c, --collection <name>', 'collection to remove it from')
      .option('-w, --wait', 'wait until the chunks are gone'),
  ).action(async (docId: string, flags: ConnectionFlags & { collection: string; wait?: boolean }) =>
    setExit(await (await commands()).removeCommand(docId, flags, env)),
  );

  program
    .command('token')
    .description('Sign an API token (HS256 JWT) for some collections.')
    .requiredOption('--collections <names>', 'comma-separated collection names, or "*" for all')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 7d', '1h')
    .option('--secret <secret>', "the API's AUTH_JWT_SECRET (env AUTH_JWT_SECRET)")
    .option('--subject <sub>', 'the token\'s "sub" claim, shown in the API\'s logs')
    .action(async (flags: { collections: string; ttl: string; secret?: string; subject?: string }) =>
      setExit(await (await commands()).tokenCommand(flags, env)),
    );

  return program;
}

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    // Commander has printed its message (or the help) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof UsageError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      return EXIT.usage;
    }
    const { message, exitCode: code } = (await commands()).describeFailure(err);
    process.stderr.write(`sluice: ${message}\n`);
    return code;
  }
}

process.exitCode = await main(process.argv);
// Everything is closed by now; this only guards against a handle a dependency left open.
setTimeout(() => process.exit(), 2000).unref();
