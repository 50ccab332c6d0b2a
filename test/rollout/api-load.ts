import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CorpusFile } from './workload.js';

/** One request of the load that did not get the answer it should have. */
export interface LoadFailure {
  readonly at: number;
  readonly kind: 'upload' | 'status' | 'query';
  readonly status: number | undefined;
  readonly error: string | undefined;
}

/** What the load's clients saw. */
export interface LoadStats {
  readonly sent: number;
  readonly failed: number;
  readonly worstLatencyMs: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly failures: readonly LoadFailure[];
  /** Uploads the API accepted: docId → job ID (the last one per docId). */
  readonly accepted: ReadonlyMap<string, string>;
}

/** Options for {@link startApiLoad}. */
export interface ApiLoadOptions {
  /** The Service's URL (the front proxy). */
  url: string;
  token: string;
  collection: string;
  /** Files uploaded in turn, each under `docId`. */
  files: readonly CorpusFile[];
  /** Clients running at once. @defaultValue 4 */
  clients?: number;
  /** Pause between one client's requests. @defaultValue 20 */
  thinkMs?: number;
}

function causeCode(err: unknown): string {
  let current: unknown = err;
  while (current && typeof current === 'object') {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    current = cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Steady HTTP load on the API as its clients make it: each client uploads a file (multipart),
 * asks for the status of the last job it got, and queries the collection, in turn, over
 * keep-alive connections. Any network error, or an answer other than the route's success
 * status, counts as failed. Stop it with the returned function.
 */
export function startApiLoad(options: ApiLoadOptions): () => Promise<LoadStats> {
  let stopped = false;
  let sent = 0;
  let worst = 0;
  let next = 0;
  const byKind: Record<string, number> = {};
  const failures: LoadFailure[] = [];
  const accepted = new Map<string, string>();
  const jobs: string[] = [];
  const auth = { authorization: `Bearer ${options.token}` };
  const base = `${options.url}/v1`;

  async function request(kind: LoadFailure['kind'], expected: number, send: () => Promise<Response>) {
    const at = Date.now();
    sent += 1;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    try {
      const res = await send();
      const body = await res.text();
      worst = Math.max(worst, Date.now() - at);
      if (res.status !== expected) {
        failures.push({ at, kind, status: res.status, error: body.slice(0, 200) });
        return undefined;
      }
      return JSON.parse(body) as Record<string, unknown>;
    } catch (err) {
      worst = Math.max(worst, Date.now() - at);
      failures.push({ at, kind, status: undefined, error: causeCode(err) });
      return undefined;
    }
  }

  async function client(): Promise<void> {
    while (!stopped) {
      const file = options.files[next++ % options.files.length];
      if (!file) return;
      const form = new FormData();
      form.set('file', new Blob([await readFile(file.path)]), basename(file.path));
      form.set('docId', file.docId);
      const upload = await request('upload', 202, () =>
        fetch(`${base}/collections/${options.collection}/documents`, {
          method: 'POST',
          headers: auth,
          body: form,
        }),
      );
      if (typeof upload?.jobId === 'string') {
        accepted.set(file.docId, upload.jobId);
        jobs.push(upload.jobId);
      }
      await sleep(options.thinkMs ?? 20);
      const jobId = jobs[Math.floor(Math.random() * jobs.length)];
      if (jobId) await request('status', 200, () => fetch(`${base}/jobs/${jobId}`, { headers: auth }));
      await sleep(options.thinkMs ?? 20);
      await request('query', 200, () =>
        fetch(`${base}/collections/${options.collection}/query`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'how does a rolling update replace pods', k: 3 }),
        }),
      );
      await sleep(options.thinkMs ?? 20);
    }
  }

  const running = Array.from({ length: options.clients ?? 4 }, () => client());
  return async () => {
    stopped = true;
    await Promise.all(running);
    return { sent, failed: failures.length, worstLatencyMs: worst, byKind, failures, accepted };
  };
}
