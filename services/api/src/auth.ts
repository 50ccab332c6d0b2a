import { SluiceError, tokenClaimsSchema, type TokenClaims } from '@sluice/core';
import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';

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

/** How {@link TokenVerifier} checks tokens. */
export interface TokenVerifierOptions {
  /** The HS256 secret (`AUTH_JWT_SECRET`); tokens signed with HS256 are checked against it. */
  secret?: string | undefined;
  /**
   * An identity provider's JWK set (`AUTH_JWKS_URL`): RS256 and ES256 tokens are checked against
   * its keys, fetched and cached by jose (and fetched again for an unknown `kid`).
   */
  jwksUrl?: string | undefined;
  /** Required `iss` (`AUTH_ISSUER`). */
  issuer?: string | undefined;
  /** Required `aud` (`AUTH_AUDIENCE`). */
  audience?: string | undefined;
  /** The oldest a token may be, from its `iat`, in seconds (`AUTH_MAX_TOKEN_AGE_S`). */
  maxTokenAgeS?: number | undefined;
}

/** Algorithms of the identity provider's tokens. */
const JWKS_ALGORITHMS = ['RS256', 'ES256'];

/**
 * Checks API tokens: JWTs signed with `AUTH_JWT_SECRET` (HS256) or by an identity provider whose
 * JWK set is `AUTH_JWKS_URL` (RS256/ES256), that carry `exp` (and, when configured, the right
 * `iss` and `aud`, and are not older than the maximum age), and whose `collections` claim is a
 * list of collection names or `"*"`. Only verifies; HS256 tokens are minted by the SDK
 * (`sluice token`).
 */
export class TokenVerifier {
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  readonly #options: TokenVerifierOptions;

  /** With neither a secret nor a JWK set, authentication is off (every request may do anything). */
  constructor(options: TokenVerifierOptions) {
    this.#options = options;
    this.#secret = options.secret === undefined ? undefined : new TextEncoder().encode(options.secret);
    this.#jwks = options.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(options.jwksUrl));
  }

  /** Whether tokens are checked at all. */
  get enabled(): boolean {
    return this.#secret !== undefined || this.#jwks !== undefined;
  }

  /**
   * Verifies a token and returns its claims.
   * @throws SluiceError `UNAUTHENTICATED` for a malformed, expired, too old, wrongly signed or
   * wrongly addressed token, one without `exp`, or one without a valid `collections` claim; the
   * message says which
   */
  async verify(token: string): Promise<TokenClaims> {
    if (!this.enabled) return UNRESTRICTED;
    const o = this.#options;
    const checks = {
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp'],
      ...(o.issuer === undefined ? {} : { issuer: o.issuer }),
      ...(o.audience === undefined ? {} : { audience: o.audience }),
      ...(o.maxTokenAgeS === undefined ? {} : { maxTokenAge: o.maxTokenAgeS }),
    };
    let payload: unknown;
    try {
      const alg = tokenAlgorithm(token);
      if (alg === undefined) throw new errors.JWTInvalid('not a JWT');
      if (alg === 'HS256' && this.#secret) {
        ({ payload } = await jwtVerify(token, this.#secret, { ...checks, algorithms: ['HS256'] }));
      } else if (this.#jwks && JWKS_ALGORITHMS.includes(alg ?? '')) {
        ({ payload } = await jwtVerify(token, this.#jwks, { ...checks, algorithms: JWKS_ALGORITHMS }));
      } else {
        throw new errors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed: ${alg}`);
      }
    } catch (err) {
      throw new SluiceError('UNAUTHENTICATED', this.#describe(err), { cause: err });
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
    if (!this.enabled) return UNRESTRICTED;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      throw new SluiceError('UNAUTHENTICATED', 'missing "Authorization: Bearer <token>" header');
    }
    return this.verify(token);
  }

  #describe(err: unknown): string {
    const accepted = [...(this.#secret ? ['HS256'] : []), ...(this.#jwks ? JWKS_ALGORITHMS : [])].join(', ');
    if (err instanceof errors.JWTExpired) return 'the token has expired';
    if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
    if (err instanceof errors.JOSEAlgNotAllowed) return `the token must be signed with ${accepted}`;
    if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
      return `the token is malformed (expected a JWT signed with ${accepted})`;
    }
    if (err instanceof errors.JWKSNoMatchingKey)
      return "no key of the identity provider's JWK set matches the token";
    if (err instanceof errors.JWTClaimValidationFailed) return `the token is not valid: ${err.message}`;
    if (err instanceof errors.JWKSTimeout || err instanceof errors.JOSEError) {
      return `the token could not be verified: ${(err as Error).message}`;
    }
    return `the token is malformed (expected a JWT signed with ${accepted})`;
  }
}

/** The `alg` of a JWT's protected header, without verifying anything. */
function tokenAlgorithm(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
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
