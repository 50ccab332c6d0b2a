import { SignJWT } from 'jose';
import { collectionSchema, tokenClaimsSchema, type TokenClaims } from '@sluice/core';
import { invalidRequest, validate } from './validation.js';

/** Shortest secret the API accepts for `AUTH_JWT_SECRET`. */
export const MIN_SECRET_LENGTH = 32;

/** What {@link createToken} takes. */
export interface CreateTokenOptions {
  /** The API's `AUTH_JWT_SECRET` (HS256), at least {@link MIN_SECRET_LENGTH} characters. */
  secret: string;
  /** Collections the holder may touch, or `'*'` for all. */
  collections: TokenClaims['collections'];
  /**
   * Lifetime: a duration such as `'15m'`, `'1h'`, `'7d'`, `'2 weeks'` (jose's format), or seconds.
   * @defaultValue `'1h'`
   */
  ttl?: string | number;
  /** The `sub` claim, shown in the API's logs. */
  subject?: string;
}

/**
 * Signs an API token: an HS256 JWT with the `collections` claim the API checks on every `/v1`
 * route, `iat`, and `exp` from `ttl`.
 * @throws SluiceError `INVALID_REQUEST` for a short secret, a bad collection name or a bad ttl
 */
export async function createToken(options: CreateTokenOptions): Promise<string> {
  if (typeof options.secret !== 'string' || options.secret.length < MIN_SECRET_LENGTH) {
    throw invalidRequest('secret', `the secret must be at least ${MIN_SECRET_LENGTH} characters long`);
  }
  const claims = validate(tokenClaimsSchema, { collections: options.collections }, '');
  if (claims.collections !== '*') {
    if (claims.collections.length === 0)
      throw invalidRequest('collections', 'collections must name at least one');
    claims.collections.forEach((name, i) => validate(collectionSchema, name, `collections.${i}`));
  }
  const ttl = options.ttl ?? '1h';
  const expiresIn = typeof ttl === 'number' ? `${ttl}s` : ttl.trim();
  if ((typeof ttl === 'number' && !(ttl > 0)) || /^-|ago$/i.test(expiresIn)) {
    throw invalidRequest('ttl', `ttl must be a positive duration, got ${String(ttl)}`);
  }
  const jwt = new SignJWT({ collections: claims.collections }).setProtectedHeader({
    alg: 'HS256',
    typ: 'JWT',
  });
  jwt.setIssuedAt();
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  try {
    jwt.setExpirationTime(expiresIn);
  } catch (err) {
    throw invalidRequest('ttl', `ttl "${expiresIn}" is not a duration such as 15m, 1h, 7d`, err);
  }
  return jwt.sign(new TextEncoder().encode(options.secret));
}
