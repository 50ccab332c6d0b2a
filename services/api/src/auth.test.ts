import { SignJWT } from 'jose';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { TokenVerifier, assertCovers, bearerToken, coversCollection } from './auth.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const key = new TextEncoder().encode(SECRET);

async function token(claims: Record<string, unknown>, { exp = '1h', alg = 'HS256', secret = key } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime(exp).sign(secret);
}

function requestWith(authorization: string | undefined): FastifyRequest {
  return { headers: authorization === undefined ? {} : { authorization } } as FastifyRequest;
}

describe('TokenVerifier', () => {
  const verifier = new TokenVerifier(SECRET);

  it('returns the collections claim of a good token', async () => {
    await expect(verifier.verify(await token({ collections: ['a', 'b'] }))).resolves.toEqual({
      collections: ['a', 'b'],
    });
    await expect(verifier.verify(await token({ collections: '*' }))).resolves.toEqual({ collections: '*' });
  });

  it.each([
    ['expired', () => token({ collections: '*' }, { exp: '-2 minutes' }), /expired/],
    [
      'wrongly signed',
      () => token({ collections: '*' }, { secret: new TextEncoder().encode('x'.repeat(40)) }),
      /signature/,
    ],
    ['signed with HS512', () => token({ collections: '*' }, { alg: 'HS512' }), /HS256/],
    ['without collections', () => token({ sub: 'me' }), /collections/],
    ['malformed', async () => 'abc.def', /malformed/],
  ])('refuses a token that is %s with UNAUTHENTICATED', async (_label, make, message) => {
    await expect(verifier.verify(await make())).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message });
  });

  it('reads the bearer header and refuses a request without one', async () => {
    await expect(
      verifier.verifyRequest(requestWith(`Bearer ${await token({ collections: ['a'] })}`)),
    ).resolves.toEqual({
      collections: ['a'],
    });
    await expect(verifier.verifyRequest(requestWith(undefined))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    await expect(verifier.verifyRequest(requestWith('Basic abc'))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('lets everything through when disabled', async () => {
    const off = new TokenVerifier(undefined);
    expect(off.enabled).toBe(false);
    await expect(off.verifyRequest(requestWith(undefined))).resolves.toEqual({ collections: '*' });
  });
});

describe('scopes', () => {
  it('parses bearer headers', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('covers a listed collection or all with "*"', () => {
    expect(coversCollection({ collections: ['a'] }, 'a')).toBe(true);
    expect(coversCollection({ collections: ['a'] }, 'b')).toBe(false);
    expect(coversCollection({ collections: '*' }, 'b')).toBe(true);
    expect(() => assertCovers({ collections: ['a'] }, 'b')).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
  });
});
