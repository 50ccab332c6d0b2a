import fastifyMultipart from '@fastify/multipart';
import { SluiceError, type ApiConfig, type Logger } from '@sluice/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ApiDependencies } from './api-dependencies.js';
import type { ApiLifecycle } from './api-lifecycle.js';
import { TokenVerifier } from './auth.js';
import { registerErrorHandler, sendError } from './error-handler.js';
import { registerOpenApi } from './openapi.js';
import { REQUEST_ID_HEADER, requestIdOf, serializeRequest } from './request-context.js';
import { adminRoutes } from './routes/admin-routes.js';
import { probeRoutes } from './routes/probe-routes.js';
import { v1Routes } from './routes/v1-routes.js';

/** Body limit of JSON requests other than ingest (queries): they are small. */
const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Options for {@link createApiServer}. */
export interface ApiServerOptions {
  config: ApiConfig;
  dependencies: ApiDependencies;
  /** The process logger; request logs are its children, with `reqId` on every line. */
  logger: Logger;
  /** Shutdown phase, read by readiness and the request hooks. */
  lifecycle: ApiLifecycle;
  /** Version shown in the OpenAPI document. @defaultValue `config.SLUICE_RELEASE` */
  version?: string;
}

/**
 * Builds the API's Fastify instance (not listening): zod validation and serialization on every
 * route, the OpenAPI document generated from the same schemas, one error handler, request IDs,
 * the probe routes, `/v1` behind token auth and the dashboard under `/admin`.
 *
 * Routes are registered as plugins, so hooks added to the returned instance before `ready()`
 * (`onRoute`, for one) see all of them.
 */
export function createApiServer(options: ApiServerOptions): FastifyInstance {
  const { config, dependencies, lifecycle } = options;
  // Typed as Fastify's base logger so that the instance keeps Fastify's default generics.
  const loggerInstance: FastifyBaseLogger = options.logger.child(
    {},
    { serializers: { req: serializeRequest } },
  );
  const app = Fastify({
    loggerInstance,
    genReqId: requestIdOf,
    bodyLimit: DEFAULT_BODY_LIMIT,
    // Shutdown answers its own 503 (in the error format) from the hook below.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 8192 },
    // Behind TLS-terminating proxies: their X-Forwarded-* name the client and the scheme (so the
    // dashboard cookie is Secure).
    trustProxy: config.TRUST_PROXY > 0 ? (_address: string, hop: number) => hop < config.TRUST_PROXY : false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('tokenClaims', undefined);
  // Only JSON and multipart bodies are understood; anything else is a 415.
  app.removeContentTypeParser('text/plain');
  registerErrorHandler(app, { dependencyDown: () => dependencies.redis.status !== 'ready' });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    // Probes still answer while the server closes: liveness 200, readiness 503.
    if (lifecycle.closing && !request.url.startsWith('/api/')) {
      return sendError(
        request,
        reply,
        new SluiceError('SHUTTING_DOWN', 'the server is shutting down; retry on another instance'),
      );
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    dependencies.observeRequest(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onSend', async (_request, reply) => {
    // From SIGTERM on, every answer ends its connection: kept-alive clients reconnect (through
    // the load balancer, to another instance), so none is left holding an idle connection that
    // the close would reset under a request it is just sending.
    if (lifecycle.draining) void reply.header('connection', 'close');
  });

  const verifier = new TokenVerifier(
    config.AUTH_DISABLED
      ? {}
      : {
          secret: config.AUTH_JWT_SECRET,
          jwksUrl: config.AUTH_JWKS_URL,
          issuer: config.AUTH_ISSUER,
          audience: config.AUTH_AUDIENCE,
          maxTokenAgeS: config.AUTH_MAX_TOKEN_AGE_S,
        },
  );
  void app.register(async (scope) => {
    await registerOpenApi(scope, options.version ?? config.SLUICE_RELEASE);
    await scope.register(fastifyMultipart, { limits: { fileSize: config.MAX_UPLOAD_BYTES } });
    await scope.register(probeRoutes, {
      checks: dependencies.readiness,
      isDraining: () => lifecycle.draining,
    });
    await scope.register(v1Routes, {
      verifier,
      documents: dependencies.documents,
      jobEvents: dependencies.jobEvents,
      store: dependencies.store,
      embedder: dependencies.embedder,
      uploads: dependencies.uploads,
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
      onAudit: dependencies.recordAudit,
      rateLimit: {
        perMinute: config.RATE_LIMIT_PER_MINUTE,
        redis: dependencies.redis,
        namespace: `${config.SLUICE_PREFIX}:api-rate:`,
      },
    });
    await scope.register(adminRoutes, { prefix: '/admin', verifier, documents: dependencies.documents });
  });
  return app;
}
