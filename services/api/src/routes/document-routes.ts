import {
  MAX_INLINE_TEXT_BYTES,
  SUPPORTED_TYPES_DESCRIPTION,
  SluiceError,
  contentHash,
  docIdSchema,
  metadataSchema,
  type DocumentList,
  type IngestAccepted,
  type IngestTextBody,
} from '@sluice/core';
import { type DocumentQueue } from '@sluice/core/queue';
import { detectDocumentType, type ChromaStore } from '@sluice/ingest';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import {
  collectionParams,
  deleteAccepted,
  collectionProgress,
  documentList,
  documentParams,
  ingestAccepted,
  ingestTextBody,
  uploadForm,
} from '../http-schemas.js';
import { BEARER_SECURITY, V1_ERRORS, errorResponses, json } from '../route-schemas.js';
import type { UploadStore } from '@sluice/storage';
import { MULTIPART_OVERHEAD_BYTES, receiveUpload, type ReceivedUpload } from '../uploads.js';

/**
 * Largest JSON ingest body: room for a text of `MAX_INLINE_TEXT_BYTES` even when JSON escaping
 * inflates it, plus metadata. Larger JSON bodies get 413 before they are buffered.
 */
export const MAX_JSON_BODY_BYTES = 8 * MAX_INLINE_TEXT_BYTES;

/** Options of {@link documentRoutes}. */
export interface DocumentRoutesOptions {
  documents: DocumentQueue;
  store: ChromaStore;
  /** `STORAGE_DIR`. */
  /** Where uploads are stored (`STORAGE_DIR` or `STORAGE_URL`). */
  uploads: UploadStore;
  /** `MAX_UPLOAD_BYTES`: the largest file accepted (and a cap on JSON bodies). */
  maxUploadBytes: number;
}

/**
 * `POST`, `GET /v1/collections/{collection}/documents` and
 * `DELETE /v1/collections/{collection}/documents/{docId}`. Authentication and the token's
 * collection scope are checked by the enclosing `/v1` scope before any of the body is read.
 */
export const documentRoutes: FastifyPluginAsyncZod<DocumentRoutesOptions> = async (app, options) => {
  const { documents, store } = options;

  app.post(
    '/v1/collections/:collection/documents',
    {
      // The JSON form is parsed in memory and its text is capped anyway; multipart files are
      // limited to MAX_UPLOAD_BYTES while they stream.
      bodyLimit: Math.min(options.maxUploadBytes, MAX_JSON_BODY_BYTES),
      onRequest: async (request) => refuseOversizedMultipart(request, options.maxUploadBytes),
      schema: {
        tags: ['documents'],
        summary: 'Ingest a document: a file upload (multipart) or a text (JSON)',
        description:
          'Enqueues one version of a document. The same bytes for the same docId answer the ' +
          'existing job with `deduplicated: true`. Files are stored under their sha256, their ' +
          `type is taken from their bytes (${SUPPORTED_TYPES_DESCRIPTION}), and files larger than ` +
          'MAX_UPLOAD_BYTES are refused with 413 while they arrive.',
        security: BEARER_SECURITY,
        params: collectionParams,
        body: {
          content: {
            // The handler streams the parts, so Fastify validates a not-yet-parsed (null) body.
            'multipart/form-data': { schema: uploadForm.nullable() },
            'application/json': { schema: ingestTextBody },
          },
        },
        response: {
          202: json(
            ingestAccepted,
            'The job: queued now, or the existing one for these bytes (`deduplicated`)',
          ),
          ...errorResponses(...V1_ERRORS, 'TOO_LARGE', 'UNSUPPORTED_TYPE', 'NO_TEXT', 'INVALID_DOCUMENT'),
        },
      },
    },
    async (request, reply) => {
      const { collection } = request.params;
      let accepted: IngestAccepted;
      if (request.isMultipart()) {
        const upload = await receiveUpload(request, {
          store: options.uploads,
          maxBytes: options.maxUploadBytes,
        });
        accepted = await ingestUpload(documents, collection, upload);
      } else if (isJsonRequest(request)) {
        // Validated against ingestTextBody by the JSON branch of the body schema.
        const body = request.body as z.output<typeof ingestTextBody>;
        accepted = await ingestText(documents, collection, body);
      } else {
        throw new SluiceError(
          'UNSUPPORTED_TYPE',
          'send the document as multipart/form-data (field "file") or as application/json',
        );
      }
      return reply.code(202).send(accepted);
    },
  );

  app.get(
    '/v1/collections/:collection/documents',
    {
      schema: {
        tags: ['documents'],
        summary: "The collection's documents: docId, indexed contentHash, chunk count",
        security: BEARER_SECURITY,
        params: collectionParams,
        response: { 200: json(documentList, "The collection's documents"), ...errorResponses(...V1_ERRORS) },
      },
    },
    async (request) => listDocuments(documents, store, request.params.collection),
  );

  app.get(
    '/v1/collections/:collection/progress',
    {
      schema: {
        tags: ['documents'],
        summary: "Where the collection's jobs are: queued, active, completed, failed, with an ETA",
        security: BEARER_SECURITY,
        params: collectionParams,
        response: {
          200: json(collectionProgress, "The collection's jobs"),
          ...errorResponses(...V1_ERRORS),
        },
      },
    },
    async (request) => documents.collectionProgress(request.params.collection),
  );

  app.delete(
    '/v1/collections/:collection/documents/:docId',
    {
      schema: {
        tags: ['documents'],
        summary: "Remove a document's chunks",
        security: BEARER_SECURITY,
        params: documentParams,
        response: { 202: json(deleteAccepted, 'The removal job'), ...errorResponses(...V1_ERRORS) },
      },
    },
    async (request, reply) => {
      const { collection, docId } = request.params;
      return reply.code(202).send(await documents.remove({ collection, docId }));
    },
  );
};

/**
 * Validates the fields of an upload, detects the file's type from its bytes, moves it to its
 * content address and enqueues it. The file is kept only when the request is accepted.
 */
async function ingestUpload(
  documents: DocumentQueue,
  collection: string,
  upload: ReceivedUpload,
): Promise<IngestAccepted> {
  const { file } = upload;
  try {
    const docId = parseField(docIdSchema, upload.docId ?? file.fileName, 'docId', () =>
      upload.docId === undefined && !file.fileName
        ? 'docId is required when the file has no name'
        : undefined,
    );
    const metadata = parseMetadata(upload.metadata);
    detectDocumentType(file.head, file.fileName || undefined);
    // Kept from the upload sweep before it becomes visible, so that no sweep removes it under the job.
    await documents.protectUpload(file.sha256);
    const storageKey = await file.commit();
    return await documents.ingest({
      collection,
      docId,
      contentHash: file.sha256,
      source: file.fileName || docId,
      storageKey,
      metadata,
    });
  } finally {
    await file.discard();
  }
}

async function ingestText(
  documents: DocumentQueue,
  collection: string,
  body: IngestTextBody,
): Promise<IngestAccepted> {
  return documents.ingest({
    collection,
    docId: body.docId,
    contentHash: contentHash(body.text),
    source: body.docId,
    text: body.text,
    ...(body.type ? { type: body.type } : {}),
    metadata: body.metadata ?? {},
  });
}

/**
 * The collection's documents: chunk counts from Chroma, and the indexed version recorded by the
 * workers (chunk metadata alone cannot tell it after an incremental re-ingest).
 */
async function listDocuments(
  documents: DocumentQueue,
  store: ChromaStore,
  collection: string,
): Promise<DocumentList> {
  const [stored, records] = await Promise.all([
    store.listDocuments(collection),
    documents.indexedRecords(collection),
  ]);
  const byDocId = new Map(stored.map((d) => [d.docId, d]));
  for (const docId of records.keys()) {
    if (!byDocId.has(docId)) byDocId.set(docId, { docId, contentHash: undefined, chunks: 0 });
  }
  return {
    documents: [...byDocId.values()]
      .sort((a, b) => (a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : 0))
      .map((d) => {
        const record = records.get(d.docId);
        const hash = record?.contentHash ?? d.contentHash;
        return {
          docId: d.docId,
          chunks: d.chunks,
          ...(hash === undefined ? {} : { contentHash: hash }),
          ...(record ? { metadata: record.payload.metadata } : {}),
        };
      }),
  };
}

/**
 * Refuses a multipart upload whose declared length already exceeds the limit, before reading
 * any of it. Chunked uploads without a length are limited while streaming instead.
 */
async function refuseOversizedMultipart(request: FastifyRequest, maxBytes: number): Promise<void> {
  const length = Number(request.headers['content-length']);
  if (
    request.headers['content-type']?.toLowerCase().startsWith('multipart/') &&
    Number.isFinite(length) &&
    length > maxBytes + MULTIPART_OVERHEAD_BYTES
  ) {
    throw new SluiceError('TOO_LARGE', `the upload is larger than the limit of ${maxBytes} bytes`, {
      details: { field: 'file', limit: maxBytes },
    });
  }
}

function isJsonRequest(request: FastifyRequest): boolean {
  return /^application\/(?:[\w.+-]+\+)?json\b/i.test(request.headers['content-type'] ?? '');
}

function parseMetadata(raw: string | undefined): z.output<typeof metadataSchema> {
  if (raw === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new SluiceError('INVALID_REQUEST', `metadata: not valid JSON (${(err as Error).message})`, {
      details: { field: 'metadata' },
    });
  }
  return parseField(metadataSchema, value, 'metadata');
}

function parseField<TSchema extends z.ZodType>(
  schema: TSchema,
  value: unknown,
  field: string,
  precheck?: () => string | undefined,
): z.output<TSchema> {
  const early = precheck?.();
  if (early) throw new SluiceError('INVALID_REQUEST', early, { details: { field } });
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [field, ...(issue?.path ?? []).map(String)].join('.');
  throw new SluiceError('INVALID_REQUEST', `${path}: ${issue?.message ?? 'invalid'}`, {
    cause: parsed.error,
    details: { field: path },
  });
}
