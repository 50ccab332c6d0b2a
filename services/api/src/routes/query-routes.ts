import { RESERVED_METADATA_KEYS, type QueryMatch } from '@sluice/core';
import type { ChromaMatch, ChromaStore, Embedder } from '@sluice/ingest';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { collectionParams, queryBody, queryResult } from '../http-schemas.js';
import { BEARER_SECURITY, V1_ERRORS, errorResponses, json } from '../route-schemas.js';

/** Options of {@link queryRoutes}. */
export interface QueryRoutesOptions {
  store: ChromaStore;
  /** The configured embedder (`EMBEDDINGS`), the same as the workers'. */
  embedder: Embedder;
}

const RESERVED = new Set<string>(RESERVED_METADATA_KEYS);

/**
 * `POST /v1/collections/{collection}/query`: embeds the text with the configured provider and
 * answers the `k` nearest chunks, nearest first. A collection that does not exist answers no
 * matches.
 */
export const queryRoutes: FastifyPluginAsyncZod<QueryRoutesOptions> = async (app, options) => {
  app.post(
    '/v1/collections/:collection/query',
    {
      schema: {
        tags: ['query'],
        summary: 'Similarity search over a collection',
        security: BEARER_SECURITY,
        params: collectionParams,
        body: queryBody,
        response: {
          200: json(queryResult, 'The nearest chunks, nearest first'),
          ...errorResponses(...V1_ERRORS, 'EMBEDDING_FAILED'),
        },
      },
    },
    async (request) => {
      const { text, k } = request.body;
      const [vector] = await options.embedder.embed([text]);
      const found = await options.store.query(request.params.collection, vector ?? [], k);
      return { matches: found.map(toMatch) };
    },
  );
};

/** A stored chunk as a match: Sluice's own metadata as fields, the caller's as `metadata`. */
export function toMatch(match: ChromaMatch): QueryMatch {
  const { docId, source, page } = match.metadata;
  const metadata = Object.fromEntries(Object.entries(match.metadata).filter(([key]) => !RESERVED.has(key)));
  return {
    id: match.id,
    text: match.text,
    score: match.score,
    docId: String(docId ?? ''),
    source: String(source ?? docId ?? ''),
    ...(typeof page === 'number' && Number.isInteger(page) ? { page } : {}),
    metadata,
  };
}
