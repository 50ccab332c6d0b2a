import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiEnvSchema, parseEnv } from '@sluice/core';
import { createLogger } from '@sluice/core/process';
import { ApiLifecycle, createApiServer, openApiDependencies, type ApiDependencies } from '@sluice/api';
import { startStack, type TestStack } from '../support/stack.js';

interface RegisteredRoute {
  method: string;
  url: string;
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, unknown> }; security?: unknown[] }>
  >;
}

/**
 * Routes the document deliberately leaves out, each with the reason:
 * - `HEAD`: Fastify adds a HEAD twin to every GET (`exposeHeadRoutes`); HEAD is implied by GET in
 *   HTTP, and documenting each twin would double the document for nothing.
 * - bull-board's routes under `/admin/queues/…` other than the page itself: its JSON API
 *   (`/admin/queues/api/*`) is the dashboard's own, unversioned contract with its UI, its static
 *   assets (`/admin/queues/static/*`) are files, and its deep links (`/queue/:queueName`, …) are
 *   the same HTML page. The page (`GET /admin/queues`) is documented.
 */
function isDeliberatelyUndocumented(route: RegisteredRoute): boolean {
  if (route.method === 'HEAD') return true;
  return route.url.startsWith('/admin/queues/');
}

function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

describe('the OpenAPI document', () => {
  let stack: TestStack;
  let dependencies: ApiDependencies;
  let app: ReturnType<typeof createApiServer>;
  const routes: RegisteredRoute[] = [];

  beforeAll(async () => {
    stack = await startStack({
      label: 'api-openapi',
      redis: inject('redisUrl'),
      chroma: inject('chromaUrl'),
    });
    const config = parseEnv(apiEnvSchema, stack.apiEnv({ PORT: '0' }));
    const logger = createLogger({ name: 'sluice-api-test', level: 'silent' });
    dependencies = openApiDependencies(config, logger);
    app = createApiServer({ config, dependencies, logger, lifecycle: new ApiLifecycle(), version: 'test' });
    // Added before ready(): the routes are registered as plugins, so this sees every one of them.
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url });
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await dependencies?.close();
    await stack?.stop();
  });

  async function document(): Promise<OpenApiDocument> {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    return res.json<OpenApiDocument>();
  }

  it('is a valid OpenAPI 3.0 document, checked by swagger-parser', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.0.3');
    // validate() dereferences in place; give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('documents every route the server registers, and nothing else', async () => {
    const doc = await document();
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    const registered = routes
      .filter((r) => !isDeliberatelyUndocumented(r))
      .map((r) => `${r.method} ${openApiPath(r.url)}`);
    expect(new Set(registered)).toEqual(documented);
    // The SPEC's routes are all there.
    expect([...documented].sort()).toEqual(
      [
        'GET /api/live',
        'GET /api/health',
        'GET /openapi.json',
        'POST /v1/collections/{collection}/documents',
        'GET /v1/collections/{collection}/documents',
        'GET /v1/collections/{collection}/progress',
        'DELETE /v1/collections/{collection}/documents/{docId}',
        'GET /v1/jobs/{jobId}',
        'GET /v1/jobs/{jobId}/events',
        'POST /v1/collections/{collection}/query',
        'POST /v1/collections/{collection}/audit',
        'GET /admin/queues',
      ].sort(),
    );
    // What was left out is only what the exclusion list names.
    const excluded = routes.filter(isDeliberatelyUndocumented);
    expect(excluded.filter((r) => r.method !== 'HEAD').every((r) => r.url.startsWith('/admin/queues/'))).toBe(
      true,
    );
  });

  it('describes the upload as multipart or JSON, and the /v1 and /admin security', async () => {
    const doc = await document();
    const ingest = doc.paths['/v1/collections/{collection}/documents']!.post!;
    expect(Object.keys(ingest.requestBody!.content).sort()).toEqual([
      'application/json',
      'multipart/form-data',
    ]);
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const operation of Object.values(operations)) {
        if (path.startsWith('/v1/')) expect(operation.security).toEqual([{ bearerAuth: [] }]);
        else if (path.startsWith('/admin/')) expect(operation.security).toHaveLength(3);
        else expect(operation.security).toBeUndefined();
      }
    }
  });
});
