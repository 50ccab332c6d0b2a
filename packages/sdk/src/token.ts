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
   * Lifetime: a duration such as `'90s'`, `'15m'`, `'1.5h'`, `'7d'`, `'2 weeks'`, `'1y'`, or whole
   * seconds (a number, or a string of digits).
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
  const ttl = ttlSeconds(options.ttl ?? '1h');
  // One clock reading for both claims: exp − iat is exactly the ttl, even across a second boundary.
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ collections: claims.collections })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttl);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return jwt.sign(new TextEncoder().encode(options.secret));
}

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
  y: 31_557_600, // 365.25 days, as jose counts a year
};
// jose's duration words (seconds, secs, mins, hrs, weeks, yrs, …); each one's first letter is its
// unit. A bare number is seconds (`sluice token --ttl 3600`).
const DURATION =
  /^(\+ ?)?(\d+(?:\.\d+)?)(?: ?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y))?( from now)?$/i;

function ttlSeconds(ttl: string | number): number {
  let seconds = Number.NaN;
  if (typeof ttl === 'number') seconds = ttl;
  else {
    const match = DURATION.exec(ttl.trim());
    // "+1h from now" is not a duration to jose either.
    if (match && !(match[1] && match[4])) {
      const unit = match[3] ? UNIT_SECONDS[match[3].charAt(0).toLowerCase()]! : 1;
      // To the millisecond, so that 1.1h is 3960 and not 3960.0000000000005.
      seconds = Math.round(Number(match[2]) * unit * 1000) / 1000;
    }
  }
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seconds)) {
    throw invalidRequest(
      'ttl',
      `ttl must be a positive whole number of seconds or a duration such as 15m, 1h, 7d; got ${String(ttl)}`,
    );
  }
  return seconds;
}
