import { describe, expect, it } from 'vitest';
import { SluiceError, createToken } from '@sluice/sdk';
import { TEST_SECRET } from '../support/stack.js';
import { verifyHs256 } from './verify-token.js';

async function invalid(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  expect((err as SluiceError).code).toBe('INVALID_REQUEST');
  return String((err as SluiceError).details.field);
}

describe('createToken', () => {
  it('signs an HS256 JWT with the collections claim, iat and exp from the ttl', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await createToken({
      secret: TEST_SECRET,
      collections: ['docs', 'kb-main'],
      ttl: '2h',
      subject: 'ci',
    });
    const { header, claims } = verifyHs256(token, TEST_SECRET);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(claims).toMatchObject({ collections: ['docs', 'kb-main'], sub: 'ci' });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(7200);
  });

  it('takes "*" for every collection, a ttl in seconds, and one hour by default', async () => {
    const all = verifyHs256(
      await createToken({ secret: TEST_SECRET, collections: '*', ttl: 90 }),
      TEST_SECRET,
    );
    expect(all.claims.collections).toBe('*');
    expect(Number(all.claims.exp) - Number(all.claims.iat)).toBe(90);
    const byDefault = verifyHs256(
      await createToken({ secret: TEST_SECRET, collections: ['docs'] }),
      TEST_SECRET,
    );
    expect(Number(byDefault.claims.exp) - Number(byDefault.claims.iat)).toBe(3600);
  });

  it('reads durations in words and fractions as jose does', async () => {
    const lifetime = async (ttl: string): Promise<number> => {
      const { claims } = verifyHs256(
        await createToken({ secret: TEST_SECRET, collections: '*', ttl }),
        TEST_SECRET,
      );
      return Number(claims.exp) - Number(claims.iat);
    };
    expect(await lifetime('2 weeks')).toBe(1_209_600);
    expect(await lifetime('1.5h')).toBe(5400);
    expect(await lifetime('30 mins')).toBe(1800);
    expect(await lifetime('1y')).toBe(31_557_600);
    expect(await lifetime(' 7d ')).toBe(604_800);
    expect(await lifetime('3600')).toBe(3600);
    expect(await lifetime('+ 1h')).toBe(3600);
    expect(await lifetime('1.1h')).toBe(3960);
  });

  it('refuses a short secret, a bad collection name and a ttl that is not a positive duration', async () => {
    expect(await invalid(createToken({ secret: 'short', collections: ['docs'] }))).toBe('secret');
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs', 'x'] }))).toBe(
      'collections.1',
    );
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: [] as never }))).toBe('collections');
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: 'soon' }))).toBe(
      'ttl',
    );
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: '-1h' }))).toBe(
      'ttl',
    );
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: 0 }))).toBe('ttl');
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: '1h ago' }))).toBe(
      'ttl',
    );
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: 1.5 }))).toBe('ttl');
    // Half a second is not a whole second, as a string either.
    expect(await invalid(createToken({ secret: TEST_SECRET, collections: ['docs'], ttl: '0.5s' }))).toBe(
      'ttl',
    );
  });
});
