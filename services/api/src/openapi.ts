import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMIN_COOKIE } from './routes/admin-routes.js';

/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = '/openapi.json';

type TransformInput = Parameters<SwaggerTransform>[0];
type TransformOutput = ReturnType<SwaggerTransform>;
type ContentMap = Record<string, { schema: unknown }>;

function contentMapOf(body: unknown): ContentMap | undefined {
  if (typeof body !== 'object' || body === null || !('content' in body)) return undefined;
  const { content } = body;
  return typeof content === 'object' && content !== null ? (content as ContentMap) : undefined;
}

/**
 * fastify-type-provider-zod's transform, extended to bodies with one zod schema per content type
 * (`body: { content: { 'multipart/form-data': { schema }, 'application/json': { schema } } }`),
 * which Fastify validates per content type but the provider's transform does not know; paths are
 * named without a trailing slash.
 */
export const transformRouteSchema: SwaggerTransform = (input: TransformInput): TransformOutput => {
  const output = transformZodSchemas(input) as { url: string };
  // A prefixed plugin's "/" route is registered as both "/prefix" and "/prefix/" (Fastify's
  // prefixTrailingSlash), as one route object; the document names it without the slash.
  const url = output.url.length > 1 && output.url.endsWith('/') ? output.url.slice(0, -1) : output.url;
  return { ...output, url } as TransformOutput;
};

function transformZodSchemas(input: TransformInput): TransformOutput {
  const schema = input.schema as Record<string, unknown> | undefined;
  const content = contentMapOf(schema?.body);
  if (!schema || !content) return jsonSchemaTransform(input);
  const rest = jsonSchemaTransform({ ...input, schema: { ...schema, body: undefined } }) as {
    schema: Record<string, unknown>;
    url: string;
  };
  const converted = Object.fromEntries(
    Object.entries(content).map(([type, { schema: part }]) => {
      // A multipart body is streamed by its handler, so Fastify validates it unparsed (null)
      // and its schema is nullable; the document describes the form itself.
      const documented =
        type === 'multipart/form-data' && part instanceof z.ZodNullable ? part.unwrap() : part;
      const one = jsonSchemaTransform({ ...input, schema: { body: documented } }) as {
        schema: { body: unknown };
      };
      return [type, { schema: one.schema.body }];
    }),
  );
  return { ...rest, schema: { ...rest.schema, body: { content: converted } } };
}

/**
 * Registers @fastify/swagger (OpenAPI 3.0, generated from the routes' zod schemas, with the
 * shared schemas as named components) and serves the document at `GET /openapi.json`. Must be
 * registered before the routes it describes.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  let cached: string | undefined;
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Sluice API',
        version,
        description:
          'Ingest documents into Chroma through a Redis-backed queue, follow the jobs, and query. ' +
          'Every error is `{ "error": { "code", "message", "field"? } }`. `/v1` routes need an HS256 ' +
          'JWT whose `collections` claim lists the collections it may touch (or is `"*"`).',
      },
      tags: [
        { name: 'documents', description: 'Ingest, list and remove documents' },
        { name: 'jobs', description: 'Follow ingestion and removal jobs' },
        { name: 'query', description: 'Similarity search' },
        { name: 'probes', description: 'Liveness, readiness and metrics; no authentication' },
        { name: 'admin', description: 'The queue dashboard' },
        { name: 'meta', description: 'This document' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminToken: { type: 'apiKey', in: 'query', name: 'token' },
          adminCookie: { type: 'apiKey', in: 'cookie', name: ADMIN_COOKIE },
        },
      },
    },
    transform: transformRouteSchema,
    transformObject: jsonSchemaTransformObject,
  });

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        tags: ['meta'],
        summary: 'This OpenAPI document',
        response: {
          200: {
            description: 'An OpenAPI 3.0 document',
            content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
          },
        },
      },
    },
    async (_request, reply) => {
      cached ??= JSON.stringify(withoutUnusedSchemas(app.swagger() as OpenApiDocument));
      return reply.type('application/json').send(cached);
    },
  );
}

interface OpenApiDocument {
  paths?: unknown;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * The document without the component schemas no operation uses: the zod provider emits an input
 * and an output variant of every named schema, and most are used one way only.
 */
export function withoutUnusedSchemas<TDocument extends OpenApiDocument>(doc: TDocument): TDocument {
  const schemas = doc.components?.schemas;
  if (!schemas) return doc;
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (typeof node === 'object' && node !== null) {
      for (const [key, value] of Object.entries(node)) {
        const name =
          key === '$ref' && typeof value === 'string'
            ? /^#\/components\/schemas\/(.+)$/.exec(value)?.[1]
            : undefined;
        if (name === undefined) visit(value);
        else if (!used.has(name)) {
          used.add(name);
          visit(schemas[name]);
        }
      }
    }
  };
  visit(doc.paths);
  return {
    ...doc,
    components: {
      ...doc.components,
      schemas: Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name))),
    },
  };
}
