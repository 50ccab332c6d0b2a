import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier, assertCovers, bearerToken, coversCollection } from './auth.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const key = new TextEncoder().encode(SECRET);

interface TokenOptions {
  /** `null`: no `exp` at all. */
  exp?: string | null;
  alg?: string;
  secret?: Uint8Array;
  iat?: number;
}

async function token(claims: Record<string, unknown>, options: TokenOptions = {}) {
  const { exp = '1h', alg = 'HS256', secret = key, iat } = options;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg });
  if (iat === undefined) jwt.setIssuedAt();
  else jwt.setIssuedAt(iat);
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(secret);
}

function requestWith(authorization: string | undefined): FastifyRequest {
  return { headers: authorization === undefined ? {} : { authorization } } as FastifyRequest;
}

describe('TokenVerifier', () => {
  const verifier = new TokenVerifier({ secret: SECRET });

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
    ['without exp', () => token({ collections: '*' }, { exp: null }), /exp/],
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
    const off = new TokenVerifier({});
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

describe('TokenVerifier: issuer, audience and age', () => {
  const strict = new TokenVerifier({
    secret: SECRET,
    issuer: 'https://idp.example',
    audience: 'sluice',
    maxTokenAgeS: 600,
  });
  const good = { collections: '*', iss: 'https://idp.example', aud: 'sluice' };

  it('accepts a token with the configured issuer and audience, young enough', async () => {
    await expect(strict.verify(await token(good))).resolves.toEqual({ collections: '*' });
  });

  it.each([
    ['another issuer', () => token({ ...good, iss: 'https://evil.example' }), /iss/],
    ['another audience', () => token({ ...good, aud: 'other' }), /aud/],
    [
      'older than the maximum age',
      () => token(good, { iat: Math.floor(Date.now() / 1000) - 3600 }),
      /iat|age|old/,
    ],
  ])('refuses %s', async (_label, make, message) => {
    await expect(strict.verify(await make())).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message });
  });
});

describe('TokenVerifier: an identity provider’s JWK set (AUTH_JWKS_URL)', () => {
  let server: Server;
  let jwksUrl: string;
  const keys: {
    kid: string;
    alg: string;
    privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  }[] = [];
  let requests = 0;

  beforeAll(async () => {
    const jwks: JWK[] = [];
    for (const [kid, alg] of [
      ['rsa-1', 'RS256'],
      ['ec-1', 'ES256'],
    ] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      keys.push({ kid, alg, privateKey: pair.privateKey });
      jwks.push({ ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' });
    }
    // The identity provider, served by the test itself.
    server = createServer((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: jwks }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const signed = async (which: number, claims: Record<string, unknown> = { collections: ['docs'] }) => {
    const { kid, alg, privateKey } = keys[which]!;
    return new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  };

  it('accepts RS256 and ES256 tokens signed by the provider, fetching its keys once', async () => {
    const idp = new TokenVerifier({ jwksUrl });
    await expect(idp.verify(await signed(0))).resolves.toEqual({ collections: ['docs'] });
    await expect(idp.verify(await signed(1))).resolves.toEqual({ collections: ['docs'] });
    expect(requests).toBe(1);
  });

  it('refuses a token signed by another key, and an HS256 token when no secret is configured', async () => {
    const idp = new TokenVerifier({ jwksUrl });
    const stranger = await generateKeyPair('RS256');
    const forged = await new SignJWT({ collections: '*' })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(stranger.privateKey);
    await expect(idp.verify(forged)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: /signature/ });
    await expect(idp.verify(await token({ collections: '*' }))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: /RS256, ES256/,
    });
  });

  it('takes both kinds of token when both a secret and a JWK set are configured', async () => {
    const both = new TokenVerifier({ secret: SECRET, jwksUrl });
    await expect(both.verify(await signed(0))).resolves.toEqual({ collections: ['docs'] });
    await expect(both.verify(await token({ collections: '*' }))).resolves.toEqual({ collections: '*' });
  });
});
