import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { SluiceError, toSluiceError, type TokenClaims } from '@sluice/core';
import { type DocumentQueue } from '@sluice/core/queue';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { bearerToken, type TokenVerifier } from '../auth.js';
import { sendError } from '../error-handler.js';

/** Where the queue dashboard is served. */
export const DASHBOARD_PATH = '/admin/queues';

/** The cookie that carries a dashboard token set from `?token=`. */
export const ADMIN_COOKIE = 'sluice_admin_token';

/** OpenAPI security requirement of the `/admin` routes: any one of the three ways. */
export const ADMIN_SECURITY: Record<string, string[]>[] = [
  { bearerAuth: [] },
  { adminToken: [] },
  { adminCookie: [] },
];

/** Options of {@link adminRoutes}. */
export interface AdminRoutesOptions {
  verifier: TokenVerifier;
  documents: DocumentQueue;
}

/**
 * The queue dashboard (bull-board) at `/admin/queues`, behind the API's token auth. The dashboard
 * shows and acts on the jobs of every collection, so it takes a token whose `collections` claim
 * is `"*"`.
 *
 * A browser cannot send a bearer header when it opens a page, so `/admin` routes (and only they)
 * also take the token as `?token=<jwt>`: the answer sets it as an `HttpOnly`, `SameSite=Strict`
 * session cookie scoped to `/admin` and redirects to the same URL without the token (so it does
 * not linger in the address bar, history or `Referer`); the dashboard's own API calls then carry
 * the cookie. The token is verified on every request, whichever way it came. Log lines redact
 * `token=` from URLs.
 */
export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, options) => {
  app.addHook('onRequest', async (request, reply) => {
    if (!options.verifier.enabled) return;
    // Errors are answered here: bull-board's routes have their own error handler and format.
    try {
      const { claims, fromQuery } = await authenticate(request, options.verifier);
      if (claims.collections !== '*') {
        throw new SluiceError('FORBIDDEN', 'the dashboard needs a token for all collections ("*")');
      }
      if (fromQuery && request.method === 'GET') {
        void reply.header('set-cookie', adminCookie(request, fromQuery));
        return reply.redirect(withoutToken(request.url), 303);
      }
    } catch (err) {
      return sendError(request, reply, toSluiceError(err));
    }
  });

  // Documents the dashboard page in the OpenAPI document; bull-board hides all its routes.
  app.addHook('onRoute', (route) => {
    if (route.method === 'GET' && route.url === DASHBOARD_PATH) {
      route.schema = {
        tags: ['admin'],
        summary: 'The queue dashboard (bull-board), an HTML page',
        description:
          'Needs a token for all collections ("*"): as a bearer header, or opened once as ' +
          `${DASHBOARD_PATH}?token=<jwt>, which sets the ${ADMIN_COOKIE} cookie and redirects.`,
        security: ADMIN_SECURITY,
        response: {
          200: { description: 'The dashboard page', content: { 'text/html': { schema: z.string() } } },
        },
      };
    }
  });

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(options.documents.queue)],
    serverAdapter,
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH.replace(/^\/admin/, '') });
};

async function authenticate(
  request: FastifyRequest,
  verifier: TokenVerifier,
): Promise<{ claims: TokenClaims; fromQuery: string | undefined }> {
  const header = bearerToken(request.headers.authorization);
  const query = (request.query as Record<string, unknown> | undefined)?.token;
  const fromQuery = typeof query === 'string' && query ? query : undefined;
  const token = header ?? fromQuery ?? cookieValue(request.headers.cookie, ADMIN_COOKIE);
  if (token === undefined) {
    throw new SluiceError(
      'UNAUTHENTICATED',
      `missing token: send "Authorization: Bearer <token>" or open ${DASHBOARD_PATH}?token=<token>`,
    );
  }
  return { claims: await verifier.verify(token), fromQuery: header ? undefined : fromQuery };
}

function adminCookie(request: FastifyRequest, token: string): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${ADMIN_COOKIE}=${token}; Path=/admin; HttpOnly; SameSite=Strict${secure}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
  }
  return undefined;
}

function withoutToken(url: string): string {
  const parsed = new URL(url, 'http://placeholder');
  parsed.searchParams.delete('token');
  return `${parsed.pathname}${parsed.search}`;
}
