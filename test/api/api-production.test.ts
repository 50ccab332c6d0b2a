import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { contentHash } from '@sluice/core';
import { S3UploadStore } from '@sluice/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { corpusPath } from '../support/documents.js';
import { freePort } from '../support/ports.js';
import { S3_CREDENTIALS, startS3, type TestS3 } from '../support/s3.js';
import { mintToken, startStack, type TestStack } from '../support/stack.js';
import { TestClient } from './api-client.js';

/*
 * The settings a production deployment uses, each against the real thing: uploads in S3 (a real
 * S3-protocol server), tokens from an identity provider's JWK set (served here), the per-token rate
 * limit, the caps on metadata, and an API that stays in its Service while Chroma is down.
 */

const PDF = corpusPath('pdf/good/bitcoin.pdf');

describe('uploads in S3-compatible object storage (STORAGE_URL)', () => {
  let stack: TestStack;
  let s3: TestS3;

  beforeAll(async () => {
    s3 = await startS3();
    stack = await startStack({ label: 's3', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
    stack.defer(() => s3.stop());
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('stores an upload in the bucket under its sha256, and a worker ingests it from there', async () => {
    const prefix = `uploads/${stack.name}`;
    const env = s3.env(prefix);
    const [api] = await Promise.all([stack.startApi(env), stack.startWorker(env)]);
    const collection = stack.collection('s3');
    const client = new TestClient(api.url, mintToken({ collections: [collection] }));
    const bytes = await readFile(PDF);
    const answer = await client.upload(collection, PDF);
    expect(answer.status).toBe(202);
    const job = await client.waitForJob((answer.body as { jobId: string }).jobId, 60_000);
    expect(job.state).toBe('completed');
    expect(job.result?.chunks).toBeGreaterThan(0);
    const query = await client.request<{ matches: { docId: string }[] }>(
      'POST',
      `/v1/collections/${collection}/query`,
      { body: { text: 'a peer-to-peer electronic cash system', k: 3 } },
    );
    expect(query.body.matches[0]?.docId).toBe('bitcoin.pdf');

    // In the bucket: the upload under its content address and nothing else; nothing on disk.
    const store = new S3UploadStore({
      bucket: s3.bucket,
      prefix: `${prefix}/`,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      client: { credentials: S3_CREDENTIALS },
    });
    const keys = [];
    for await (const upload of store.list()) keys.push(upload.key);
    expect(keys).toEqual([contentHash(bytes)]);
    expect(Buffer.from(await store.read(contentHash(bytes)))).toEqual(bytes);
    expect(await store.removeStaleTemporaries(0)).toBe(0);
    expect(await readdir(stack.storageDir).catch(() => [])).toEqual([]);
  });
});

/** An identity provider's signing keys, served as a JWK set the way one publishes them. */
class TestIdentityProvider {
  readonly issuer = 'https://idp.example.test/';
  readonly #keys = new Map<string, KeyObject>();
  readonly #server: Server;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = randomUUID();
    this.#keys.set(kid, privateKey);
    const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
    this.#server = createServer((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)),
    );
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  /** An RS256 token signed with the published key, with `exp` unless `claims` removes it. */
  token(claims: Record<string, unknown>): string {
    const [kid, key] = [...this.#keys][0]!;
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const payload = Object.fromEntries(
      Object.entries({ iss: this.issuer, aud: 'sluice', iat: now, exp: now + 600, ...claims }).filter(
        ([, value]) => value !== undefined,
      ),
    );
    const signed = `${encode({ alg: 'RS256', typ: 'JWT', kid })}.${encode(payload)}`;
    return `${signed}.${createSign('RSA-SHA256').update(signed).sign(key, 'base64url')}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('the API in production settings', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ label: 'prod', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("accepts an identity provider's RS256 tokens (AUTH_JWKS_URL), checking issuer, audience and exp", async () => {
    const idp = new TestIdentityProvider();
    const jwksUrl = await idp.start();
    stack.defer(() => idp.close());
    const api = await stack.startApi({
      AUTH_JWT_SECRET: '',
      AUTH_JWKS_URL: jwksUrl,
      AUTH_ISSUER: idp.issuer,
      AUTH_AUDIENCE: 'sluice',
    });
    const collection = stack.collection('jwks');
    const list = (token: string) =>
      new TestClient(api.url, token).request('GET', `/v1/collections/${collection}/documents`);
    expect((await list(idp.token({ collections: [collection] }))).status).toBe(200);
    for (const wrong of [
      idp.token({ collections: [collection], exp: undefined }),
      idp.token({ collections: [collection], aud: 'another-service' }),
      idp.token({ collections: [collection], iss: 'https://elsewhere.example.test/' }),
      idp.token({ collections: ['another-collection'] }),
      // A token signed with a shared secret: this API has none, it trusts the JWK set only.
      mintToken({ collections: [collection] }),
    ]) {
      const answer = await list(wrong);
      expect([401, 403], JSON.stringify(answer.body)).toContain(answer.status);
    }
  });

  it('limits each token to RATE_LIMIT_PER_MINUTE requests, across API replicas, with 429 and Retry-After', async () => {
    const env = { RATE_LIMIT_PER_MINUTE: '5' };
    const [one, two] = await Promise.all([stack.startApi(env), stack.startApi(env)]);
    const collection = stack.collection('limited');
    const token = mintToken({ collections: [collection], jti: randomUUID() });
    const path = `/v1/collections/${collection}/documents`;
    // Five requests spread over two replicas: the budget is the token's, kept in Redis.
    for (const api of [one, two, one, two, one]) {
      expect((await new TestClient(api.url, token).request('GET', path)).status).toBe(200);
    }
    const refused = await new TestClient(two.url, token).request<{ error: { code: string } }>('GET', path);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another token has a budget of its own; probes are never limited.
    const other = mintToken({ collections: [collection], jti: randomUUID() });
    expect((await new TestClient(one.url, other).request('GET', path)).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await fetch(`${one.url}/api/health`)).status).toBe(200);
  });

  it('marks the dashboard cookie Secure behind a TLS-terminating proxy it trusts (TRUST_PROXY), and only then', async () => {
    const [trusting, direct] = await Promise.all([stack.startApi({ TRUST_PROXY: '1' }), stack.startApi()]);
    const token = mintToken({ collections: '*' });
    const cookieOf = async (url: string) => {
      const answer = await fetch(`${url}/admin/queues?token=${token}`, {
        headers: { 'x-forwarded-proto': 'https' },
        redirect: 'manual',
      });
      expect(answer.status).toBe(303);
      return answer.headers.get('set-cookie') ?? '';
    };
    expect(await cookieOf(trusting.url)).toMatch(/; Secure$/);
    // Without TRUST_PROXY the header is anyone's to send: it changes nothing.
    const plain = await cookieOf(direct.url);
    expect(plain).toMatch(/^sluice_admin_token=.*; HttpOnly; SameSite=Strict$/);
  });

  it('refuses metadata over the documented caps with a 400 naming the field', async () => {
    const api = await stack.startApi();
    const collection = stack.collection('metadata');
    const client = new TestClient(api.url, mintToken({ collections: [collection] }));
    const tooMany = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`key${i}`, `value ${i}`]));
    const tooLarge = { notes: 'x'.repeat(9000) };
    for (const metadata of [tooMany, tooLarge]) {
      const json = await client.request<{ error: { code: string; message: string } }>(
        'POST',
        `/v1/collections/${collection}/documents`,
        { body: { docId: 'a.md', text: '# A\n\nSome text.', metadata } },
      );
      expect(json.status).toBe(400);
      expect(json.body.error.code).toBe('INVALID_REQUEST');
      expect(json.body.error.message).toContain('metadata');
      const form = await client.upload<{ error: { code: string; message: string } }>(
        collection,
        { name: 'a.md', bytes: Buffer.from('# A\n\nSome text.') },
        { metadata: JSON.stringify(metadata) },
      );
      expect(form.status).toBe(400);
      expect(form.body.error.message).toContain('metadata');
    }
    // Nothing was accepted.
    expect(await stack.jobCount()).toBe(0);
  });

  it('stays ready while Chroma is down: uploads and job status work, query and list answer 503', async () => {
    // A Chroma nobody answers at: a port that was free a moment ago.
    const down = `http://127.0.0.1:${await freePort()}`;
    const api = await stack.startApi({ CHROMA_URL: down });
    const collection = stack.collection('no-chroma');
    const client = new TestClient(api.url, mintToken({ collections: [collection] }));
    expect((await fetch(`${api.url}/api/health`)).status).toBe(200);
    const accepted = await client.request<{ jobId: string }>(
      'POST',
      `/v1/collections/${collection}/documents`,
      {
        body: { docId: 'a.md', text: '# A\n\nAccepted while Chroma is down.' },
      },
    );
    expect(accepted.status).toBe(202);
    expect((await client.request('GET', `/v1/jobs/${accepted.body.jobId}`)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', `/v1/collections/${collection}/query`, { text: 'anything', k: 1 }],
      ['GET', `/v1/collections/${collection}/documents`, undefined],
    ] as const) {
      const answer = await client.request<{ error: { code: string } }>(method, path, body ? { body } : {});
      expect(answer.status, path).toBe(503);
      expect(answer.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    }
    // The metrics port's report says which dependency is down.
    const report = await fetch(`${api.metricsUrl}/api/health`);
    expect(report.status).toBe(503);
    const { checks } = (await report.json()) as { checks: Record<string, string> };
    expect(checks.redis).toBe('ok');
    expect(checks.chroma).not.toBe('ok');
  });
});
