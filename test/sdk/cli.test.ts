import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DocumentQueue, createRedisConnection } from '@sluice/core/queue';
import { createToken } from '@sluice/sdk';
import { corpusPath } from '../support/documents.js';
import { waitFor } from '../support/ports.js';
import { TEST_SECRET, startStack, type TestStack } from '../support/stack.js';
import { runCli, startCli, type CliRun } from './cli-run.js';
import { verifyHs256 } from './verify-token.js';

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');

// 28 Markdown files in nested folders, every one with text. (ru/docs has five front-matter-only
// _index.md files, which the worker rightly fails with NO_TEXT.)
const DOCS = corpusPath('markdown/en/docs/contribute');
const TUTORIALS = corpusPath('markdown/ru/docs/tutorials');
const NOT_A_PDF = corpusPath('pdf/hostile/not-a-pdf.pdf');

/** Checks the exit code, showing what the CLI printed when it is not the expected one. */
function expectExit(run: CliRun, code: number): void {
  expect(run.code, `exit code; the CLI printed:\n${run.stdout}\n${run.stderr}`).toBe(code);
}

/** No stack trace reached the user. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
}

describe('sluice CLI, --redis mode, with a real worker', () => {
  let stack: TestStack;
  let redisArgs: string[];
  beforeAll(async () => {
    stack = await startStack({ label: 'sdk-cli', redis: redisUrl, chroma: chromaUrl });
    await stack.startWorker();
    redisArgs = ['--redis', redisUrl, '--prefix', stack.prefix, '--storage-dir', stack.storageDir];
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const collection = () => stack.collection('cli');
  /** The job of a document's latest submission, as Sluice recorded it. */
  async function latestJob(collectionName: string, docId: string): Promise<string> {
    const connection = createRedisConnection({ url: redisUrl, role: 'producer' });
    const documents = new DocumentQueue({ connection, prefix: stack.prefix });
    try {
      const latest = await documents.latest(collectionName, docId);
      if (!latest) throw new Error(`no submission of ${docId}`);
      return latest.jobId;
    } finally {
      await documents.close();
      connection.disconnect();
    }
  }

  it('ingests a folder of 28 Markdown files with --wait; a second run only deduplicates', async () => {
    const docs = collection();
    const first = await runCli(['ingest', DOCS, '--collection', docs, '--wait', ...redisArgs]);
    expect(first.stderr).toBe('');
    expectExit(first, 0);
    expect(first.stdout).toContain(`28 files into "${docs}": 28 completed, 0 deduplicated, 0 failed`);
    // Plain lines (stdout is not a TTY), docIds relative to the folder.
    expect(first.stdout).toMatch(/^completed style\/style-guide\.md \(\d+ chunks, \d+ embedded\)$/m);
    expect(first.stdout.match(/^completed /gm)).toHaveLength(28);

    const second = await runCli(['ingest', DOCS, '--collection', docs, '--wait', ...redisArgs]);
    expectExit(second, 0);
    expect(second.stdout).toContain(`28 files into "${docs}": 0 completed, 28 deduplicated, 0 failed`);
  });

  it('exits 1 naming INVALID_DOCUMENT when a non-PDF sent as PDF is among the inputs; notes skipped files', async () => {
    const docs = collection();
    const run = await runCli([
      'ingest',
      `${TUTORIALS}/*.md`,
      NOT_A_PDF,
      corpusPath('MANIFEST.tsv'),
      '--collection',
      docs,
      '--wait',
      '--concurrency',
      '2',
      ...redisArgs,
    ]);
    expectExit(run, 1);
    expect(run.stderr).toContain(`note: skipping ${corpusPath('MANIFEST.tsv')}: unsupported type`);
    expect(run.stdout).toMatch(/failed by code: INVALID_DOCUMENT 1/);
    // The common base of <corpus>/markdown/ru/docs/tutorials, <corpus>/pdf/hostile and <corpus> is <corpus>.
    expect(run.stdout).toMatch(/^ {2}pdf\/hostile\/not-a-pdf\.pdf: INVALID_DOCUMENT: /m);
    expect(run.stdout).toMatch(/: \d+ completed, 0 deduplicated, 1 failed, 1 skipped \(unsupported type\)/);
    expectNoStack(run.stdout + run.stderr);

    // status shows the failed job, and exits 1 for it; a completed one exits 0.
    const failedJob = await latestJob(docs, 'pdf/hostile/not-a-pdf.pdf');
    const failed = await runCli(['status', failedJob, ...redisArgs]);
    expectExit(failed, 1);
    expect(failed.stdout).toContain(`${failedJob}: failed`);
    expect(failed.stdout).toContain('INVALID_DOCUMENT');
    const okJob = await latestJob(docs, 'markdown/ru/docs/tutorials/hello-minikube.md');
    const ok = await runCli(['status', okJob, '--json', ...redisArgs]);
    expectExit(ok, 0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ jobId: okJob, state: 'completed' });
  });

  it('without --wait reports enqueue outcomes only, and exits 0', async () => {
    const docs = collection();
    const run = await runCli(['ingest', NOT_A_PDF, '--collection', docs, ...redisArgs]);
    expectExit(run, 0);
    expect(run.stdout).toMatch(/^enqueued not-a-pdf\.pdf ing-[0-9a-f]{40}$/m);
    expect(run.stdout).toContain('1 files into');
    expect(run.stdout).toContain('1 enqueued, 0 deduplicated, 0 failed');
  });

  it('on Ctrl-C stops sending and waiting, leaves the queued jobs, and exits 130', async () => {
    // A prefix no worker serves, so that every job stays waiting.
    await using idle = await startStack({ label: 'sdk-cli-idle', redis: redisUrl, chroma: chromaUrl });
    const args = ['--redis', redisUrl, '--prefix', idle.prefix, '--storage-dir', idle.storageDir];
    const cli = startCli(['ingest', DOCS, '-c', collection(), '--wait', '--concurrency', '4', ...args]);
    await waitFor(async () => (await idle.jobCount()) >= 4, {
      timeoutMs: 20_000,
      what: 'four queued jobs',
    });
    cli.child.kill('SIGINT');
    const run = await cli.finished;
    expectExit(run, 130);
    expect(run.stderr).toContain('interrupted: stopping');
    expect(run.stdout).toMatch(
      /28 files into "[^"]+": 0 completed, 0 deduplicated, 0 failed, 4 unfinished, 24 not sent/,
    );
    expect(run.stdout).toContain('interrupted: the jobs already queued go on');
    expect(await idle.jobCount()).toBe(4);
    expectNoStack(run.stdout + run.stderr);
  });

  it('exits 2 with a one-line message on usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['ingest', DOCS, ...redisArgs], /required option '-c, --collection <name>'/],
      [['ingest', DOCS, '-c', 'docs', '--redis', redisUrl], /--storage-dir/],
      [
        ['ingest', DOCS, '-c', 'docs', '--concurrency', '0', ...redisArgs],
        /--concurrency must be a positive integer/,
      ],
      [
        ['ingest', '/nonexistent/dir', '-c', 'docs', ...redisArgs],
        /no file or folder matches "\/nonexistent\/dir"/,
      ],
      [['ingest', DOCS, '-c', 'x', ...redisArgs], /collection name must be 3–512 characters/],
      [['ingest', DOCS, '-c', 'docs', '--metadata', '{"page":1}', ...redisArgs], /--metadata: page:/],
      [['ingest', corpusPath('MANIFEST.tsv'), '-c', 'docs', ...redisArgs], /nothing to ingest/],
      [['ingest', DOCS, '-c', 'docs'], /no connection: give --api/],
      [['query', 'hello', '-c', 'docs', ...redisArgs], /query needs the API/],
      [['token', '--collections', 'docs'], /no secret/],
      [['frobnicate'], /unknown command/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
      expectNoStack(run.stderr);
    });
  });

  it('prints help for every command, exit 0', async () => {
    const commands = ['ingest', 'status', 'query', 'list', 'remove', 'token'];
    const runs = await Promise.all(commands.map((command) => runCli([command, '--help'])));
    runs.forEach((run, i) => {
      expectExit(run, 0);
      expect(run.stdout).toContain(`Usage: sluice ${commands[i]}`);
    });
  });

  it('signs a token with the secret from AUTH_JWT_SECRET', async () => {
    const run = await runCli(['token', '--collections', 'docs,kb-main', '--ttl', '2h'], {
      AUTH_JWT_SECRET: TEST_SECRET,
    });
    expectExit(run, 0);
    const { claims } = verifyHs256(run.stdout.trim(), TEST_SECRET);
    expect(claims.collections).toEqual(['docs', 'kb-main']);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(7200);
  });
});

describe('sluice CLI, --api mode, with the real API and worker', () => {
  let stack: TestStack;
  let apiUrl: string;
  let apiArgs: string[];
  beforeAll(async () => {
    stack = await startStack({ label: 'sdk-cli-api', redis: redisUrl, chroma: chromaUrl });
    await stack.startWorker();
    apiUrl = (await stack.startApi()).url;
    apiArgs = ['--api', apiUrl, '--token', await createToken({ secret: TEST_SECRET, collections: '*' })];
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('ingests a folder with --wait, re-runs as deduplicated, queries and lists it', async () => {
    const docs = stack.collection('cli-api');
    const first = await runCli(['ingest', DOCS, '-c', docs, '--wait', ...apiArgs]);
    expectExit(first, 0);
    expect(first.stdout).toContain('28 completed, 0 deduplicated, 0 failed');
    const second = await runCli(['ingest', DOCS, '-c', docs, '--wait', ...apiArgs]);
    expectExit(second, 0);
    expect(second.stdout).toContain('0 completed, 28 deduplicated, 0 failed');

    const query = await runCli([
      'query',
      'style guide for code blocks',
      '-c',
      docs,
      '-k',
      '3',
      '--json',
      ...apiArgs,
    ]);
    expectExit(query, 0);
    const { matches } = JSON.parse(query.stdout) as { matches: { docId: string }[] };
    expect(matches).toHaveLength(3);
    const list = await runCli(['list', '-c', docs, '--json', ...apiArgs]);
    expectExit(list, 0);
    expect((JSON.parse(list.stdout) as { documents: unknown[] }).documents).toHaveLength(28);
  });

  it('exits 1 naming INVALID_DOCUMENT for a non-PDF sent as PDF', async () => {
    const docs = stack.collection('cli-api-bad');
    const run = await runCli([
      'ingest',
      NOT_A_PDF,
      `${TUTORIALS}/hello-minikube.md`,
      '-c',
      docs,
      '--wait',
      ...apiArgs,
    ]);
    expectExit(run, 1);
    expect(run.stdout).toMatch(/failed by code: INVALID_DOCUMENT 1/);
  });

  it('stops early and exits 1 when the token is refused', async () => {
    const run = await runCli(['ingest', DOCS, '-c', 'docs', '--api', apiUrl, '--token', 'not-a-jwt']);
    expectExit(run, 1);
    expect(run.stdout).toMatch(/stopped early: UNAUTHENTICATED/);
    expectNoStack(run.stdout + run.stderr);
  });
});
