import { SluiceError, tokenClaimsSchema, type TokenClaims } from '@sluice/core';
import type { FastifyRequest } from 'fastify';
import { errors, jwtVerify } from 'jose';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified claims of the request's token; set by the auth hook of `/v1` and `/admin`. */
    tokenClaims: TokenClaims | undefined;
  }
}

/** Claims that stand in for a token when `AUTH_DISABLED=true`. */
const UNRESTRICTED: TokenClaims = Object.freeze({ collections: '*' });

/** How far the clocks of the token's issuer and this server may disagree, in seconds. */
const CLOCK_TOLERANCE_S = 30;

/**
 * Checks API tokens: HS256 JWTs signed with `AUTH_JWT_SECRET` whose `collections` claim is a
 * list of collection names or `"*"`. Only verifies; tokens are minted by the SDK
 * (`sluice token`).
 */
export class TokenVerifier {
  readonly #key: Uint8Array | undefined;

  /** @param secret - the HS256 secret; `undefined` turns authentication off (every request may do anything). */
  constructor(secret: string | undefined) {
    this.#key = secret === undefined ? undefined : new TextEncoder().encode(secret);
  }

  /** Whether tokens are checked at all. */
  get enabled(): boolean {
    return this.#key !== undefined;
  }

  /**
   * Verifies a token and returns its claims.
   * @throws SluiceError `UNAUTHENTICATED` for a malformed, expired or wrongly signed token, or
   * one without a valid `collections` claim; the message says which
   */
  async verify(token: string): Promise<TokenClaims> {
    if (!this.#key) return UNRESTRICTED;
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (err) {
      throw new SluiceError('UNAUTHENTICATED', describeJoseError(err), { cause: err });
    }
    const claims = tokenClaimsSchema.safeParse(payload);
    if (!claims.success) {
      throw new SluiceError(
        'UNAUTHENTICATED',
        'the token has no valid "collections" claim (a list of names, or "*")',
        { cause: claims.error },
      );
    }
    return claims.data;
  }

  /**
   * Verifies the `Authorization: Bearer <token>` header of a request.
   * @throws SluiceError `UNAUTHENTICATED` when it is missing, not a bearer token, or bad
   */
  async verifyRequest(request: FastifyRequest): Promise<TokenClaims> {
    if (!this.#key) return UNRESTRICTED;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      throw new SluiceError('UNAUTHENTICATED', 'missing "Authorization: Bearer <token>" header');
    }
    return this.verify(token);
  }
}

/** The token of an `Authorization: Bearer <token>` header, if that is what the header holds. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header ?? '');
  return match?.[1];
}

/** Whether a token's claims let its holder touch a collection. */
export function coversCollection(claims: TokenClaims, collection: string): boolean {
  return claims.collections === '*' || claims.collections.includes(collection);
}

/**
 * Checks that the request's token covers a collection.
 * @throws SluiceError `FORBIDDEN` when it does not
 */
export function assertCovers(claims: TokenClaims | undefined, collection: string): void {
  if (!claims || !coversCollection(claims, collection)) {
    throw new SluiceError('FORBIDDEN', `the token does not cover collection "${collection}"`, {
      details: { field: 'collection' },
    });
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token must be signed with HS256';
  if (err instanceof errors.JWTClaimValidationFailed) return `the token is not valid: ${err.message}`;
  return 'the token is malformed (expected an HS256 JWT)';
}
