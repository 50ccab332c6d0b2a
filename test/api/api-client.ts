import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { waitFor } from '../support/ports.js';

/** Answers of the API: status and parsed JSON body. */
export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small client for the API under test. */
export class TestClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
  ) {}

  /** Any request; `body` objects are sent as JSON. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    { body, headers = {} }: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<JsonAnswer<T>> {
    const init: RequestInit = {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
    };
    if (body !== undefined) init.body = body instanceof FormData ? body : JSON.stringify(body);
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (the dashboard's HTML): keep the text.
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Uploads a file (a path, or bytes with a name) as multipart, with optional fields. */
  async upload<T = Record<string, unknown>>(
    collection: string,
    file: string | { name: string; bytes: Uint8Array },
    fields: Record<string, string> = {},
  ): Promise<JsonAnswer<T>> {
    const { name, bytes } =
      typeof file === 'string' ? { name: basename(file), bytes: await readFile(file) } : file;
    const form = new FormData();
    form.set('file', new Blob([bytes]), name);
    for (const [key, value] of Object.entries(fields)) form.set(key, value);
    return this.request<T>('POST', `/v1/collections/${collection}/documents`, { body: form });
  }

  /** Polls a job until it reaches `completed` or `failed`. */
  async waitForJob(jobId: string, timeoutMs = 30_000): Promise<JobAnswer> {
    return waitFor(
      async () => {
        const { status, body } = await this.request<JobAnswer>('GET', `/v1/jobs/${jobId}`);
        if (status !== 200) throw new Error(`GET /v1/jobs/${jobId} answered ${status}`);
        return body.state === 'completed' || body.state === 'failed' ? body : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `job ${jobId} to finish` },
    );
  }
}

/** `GET /v1/jobs/{jobId}` as the tests read it. */
export interface JobAnswer {
  jobId: string;
  state: string;
  attempts: number;
  result?: {
    docId: string;
    contentHash?: string;
    chunks: number;
    embedded: number;
    skipped: number;
    deleted: number;
    pages?: number;
  };
  error?: { code: string; message: string };
}

/** A fresh request ID, to find a request in the API's logs. */
export function newRequestId(label: string): string {
  return `${label}-${randomUUID()}`;
}
