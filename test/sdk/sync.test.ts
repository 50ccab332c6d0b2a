import { appendFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SYNC_METADATA_KEY,
  SluiceClient,
  createToken,
  syncFolder,
  type SyncAction,
  type SyncOptions,
} from '@sluice/sdk';
import { corpusPath } from '../support/documents.js';
import { TEST_SECRET, startStack, type TestStack } from '../support/stack.js';
import { runCli } from './cli-run.js';

/*
 * `syncFolder` and `sluice sync` against the real API and a worker: a collection mirrors a folder
 * through add, change, delete, no-op and an interruption, and never touches what it did not create.
 */

const CONCEPTS = corpusPath('markdown/en/docs/concepts/workloads/controllers');

describe('sync: a collection mirrors a folder', () => {
  let stack: TestStack;
  let sluice: SluiceClient;
  let apiArgs: string[];
  const dirs: string[] = [];

  /** A fresh folder holding a copy of some corpus pages, in a nested layout. */
  async function folder(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sync-'));
    dirs.push(dir);
    await mkdir(join(dir, 'controllers'));
    for (const name of ['job.md', 'cron-jobs.md', 'daemonset.md'])
      await cp(join(CONCEPTS, name), join(dir, 'controllers', name));
    await cp(join(CONCEPTS, 'deployment.md'), join(dir, 'deployment.md'));
    // Not a supported type: left out, never a document.
    await writeFile(join(dir, 'notes.xlsx'), 'not ingested');
    return dir;
  }

  const docIds = async (collection: string) =>
    (await sluice.list({ collection })).documents.map((d) => d.docId);

  beforeAll(async () => {
    stack = await startStack({ label: 'sync', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
    const [api] = await Promise.all([stack.startApi(), stack.startWorker()]);
    const token = await createToken({ secret: TEST_SECRET, collections: '*' });
    sluice = new SluiceClient({ apiUrl: api.url, token });
    apiArgs = ['--api', api.url, '--token', token];
  });
  afterAll(async () => {
    await sluice?.close();
    await stack?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('adds, then does nothing when nothing changed, then applies a change, an addition and a deletion', async () => {
    const collection = stack.collection('sync');
    const dir = await folder();
    const sync = (extra: Partial<SyncOptions> = {}) =>
      syncFolder(sluice, { collection, dir, wait: true, ...extra });

    expect(await sync()).toEqual({ added: 4, changed: 0, deleted: 0, unchanged: 0, failed: 0 });
    expect(await docIds(collection)).toEqual([
      'controllers/cron-jobs.md',
      'controllers/daemonset.md',
      'controllers/job.md',
      'deployment.md',
    ]);
    const listed = await sluice.list({ collection });
    const source = dir.split('/').pop()!;
    for (const document of listed.documents) expect(document.metadata?.[SYNC_METADATA_KEY]).toBe(source);

    // Nothing changed: nothing is sent.
    const jobs = await stack.jobCount();
    expect(await sync()).toEqual({ added: 0, changed: 0, deleted: 0, unchanged: 4, failed: 0 });
    expect(await stack.jobCount()).toBe(jobs);

    // One file edited, one added, one removed.
    await appendFile(join(dir, 'deployment.md'), '\nA sentence added to the deployment page.\n');
    await cp(join(CONCEPTS, 'statefulset.md'), join(dir, 'controllers', 'statefulset.md'));
    await rm(join(dir, 'controllers', 'daemonset.md'));
    // Without --delete the gone file's document stays.
    expect(await sync()).toEqual({ added: 1, changed: 1, deleted: 0, unchanged: 2, failed: 0 });
    expect(await docIds(collection)).toContain('controllers/daemonset.md');
    expect(await sync({ delete: true })).toEqual({
      added: 0,
      changed: 0,
      deleted: 1,
      unchanged: 4,
      failed: 0,
    });
    expect(await docIds(collection)).toEqual([
      'controllers/cron-jobs.md',
      'controllers/job.md',
      'controllers/statefulset.md',
      'deployment.md',
    ]);
    const query = await sluice.query({ collection, text: 'A sentence added to the deployment page', k: 1 });
    expect(query.matches[0]?.docId).toBe('deployment.md');
  });

  it('never touches a document it did not create, and a dry run changes nothing', async () => {
    const collection = stack.collection('sync-foreign');
    const dir = await folder();
    // Someone else's documents: one at a path the folder also has, one elsewhere.
    for (const docId of ['deployment.md', 'elsewhere.md']) {
      const job = await sluice.ingest({ collection, docId, text: `# Not from the folder\n\n${docId}` });
      await sluice.wait(job.jobId, { timeoutMs: 30_000 });
    }
    const jobs = await stack.jobCount();
    const planned: SyncAction[] = [];
    const dry = await syncFolder(sluice, {
      collection,
      dir,
      delete: true,
      dryRun: true,
      onAction: (a) => planned.push(a),
    });
    expect(dry).toEqual({ added: 3, changed: 0, deleted: 0, unchanged: 0, failed: 1 });
    expect(planned.filter((a) => a.kind === 'add').every((a) => a.planned)).toBe(true);
    expect(planned.find((a) => a.kind === 'failed')).toMatchObject({ docId: 'deployment.md' });
    expect(await stack.jobCount()).toBe(jobs);

    expect(await syncFolder(sluice, { collection, dir, delete: true, wait: true })).toEqual({
      added: 3,
      changed: 0,
      deleted: 0,
      unchanged: 0,
      failed: 1,
    });
    const listed = await sluice.list({ collection });
    const foreign = listed.documents
      .filter((d) => d.metadata?.[SYNC_METADATA_KEY] === undefined)
      .map((d) => d.docId);
    expect(foreign).toEqual(['deployment.md', 'elsewhere.md']);
  });

  it('finishes an interrupted sync when run again', async () => {
    const collection = stack.collection('sync-resume');
    const dir = await folder();
    const controller = new AbortController();
    const interrupted = syncFolder(sluice, {
      collection,
      dir,
      concurrency: 1,
      signal: controller.signal,
      // Stopped right after its first document was sent.
      onAction: () => controller.abort(new Error('Ctrl-C')),
    });
    await expect(interrupted).rejects.toThrow('Ctrl-C');
    // Run again: it sends what is left and joins what is still queued; then all is there.
    const actions: SyncAction[] = [];
    const again = await syncFolder(sluice, { collection, dir, wait: true, onAction: (a) => actions.push(a) });
    expect(again.added + again.unchanged, JSON.stringify(actions)).toBe(4);
    expect(again.failed).toBe(0);
    expect(await docIds(collection)).toHaveLength(4);
    expect(await syncFolder(sluice, { collection, dir })).toEqual({
      added: 0,
      changed: 0,
      deleted: 0,
      unchanged: 4,
      failed: 0,
    });
  });

  it('reports a file that failed for good as failed on every run, with its code, and queues nothing new for it', async () => {
    const collection = stack.collection('sync-failing');
    const dir = await folder();
    // Owner password only, one blank page: NO_TEXT, which no retry changes.
    await cp(corpusPath('pdf/hostile/empty_protected.pdf'), join(dir, 'blank.pdf'));
    const actions: SyncAction[] = [];
    const first = await syncFolder(sluice, { collection, dir, wait: true, onAction: (a) => actions.push(a) });
    expect(first).toMatchObject({ added: 4, failed: 1 });
    const failedJob = actions.find((a) => a.docId === 'blank.pdf');
    expect(failedJob).toMatchObject({ kind: 'failed', error: { code: 'NO_TEXT' } });

    // Again, without waiting: the four are unchanged, and the blank page is failed again, by
    // the same job (its version was not queued a second time), not "added".
    actions.length = 0;
    expect(await syncFolder(sluice, { collection, dir, onAction: (a) => actions.push(a) })).toEqual({
      added: 0,
      changed: 0,
      deleted: 0,
      unchanged: 4,
      failed: 1,
    });
    expect(actions.find((a) => a.docId === 'blank.pdf')).toMatchObject({
      kind: 'failed',
      jobId: failedJob!.jobId,
      error: { code: 'NO_TEXT' },
    });
  });

  it('sluice sync --json prints a line per document and the summary last', async () => {
    const collection = stack.collection('sync-cli');
    const dir = await folder();
    const run = await runCli(['sync', dir, '--collection', collection, '--wait', '--json', ...apiArgs]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ added: 4, changed: 0, deleted: 0, unchanged: 0, failed: 0 });
    expect(lines.slice(0, -1).map((l) => l.kind)).toEqual(['add', 'add', 'add', 'add']);
    // The workers counted every job's end: the collection's progress view shows them done.
    const progress = await runCli(['progress', '--collection', collection, '--json', ...apiArgs]);
    expect(progress.code, progress.stderr).toBe(0);
    expect(JSON.parse(progress.stdout)).toMatchObject({
      collection,
      queued: 0,
      active: 0,
      completed: 4,
      failed: 0,
    });
    expect(await sluice.progress({ collection })).toMatchObject({ completed: 4, etaSeconds: null });
    const dry = await runCli(['sync', dir, '--collection', collection, '--delete', '--dry-run', ...apiArgs]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/dry run: .* 0 added, 0 changed, 0 deleted, 4 unchanged, 0 failed/);
    const missing = await runCli(['sync', join(dir, 'nowhere'), '--collection', collection, ...apiArgs]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nowhere is not a folder/);
  });
});
