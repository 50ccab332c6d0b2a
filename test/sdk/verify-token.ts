import { createHmac } from 'node:crypto';
import { expect } from 'vitest';

/** Checks an HS256 JWT with node:crypto (an implementation independent of jose) and returns its parts. */
export function verifyHs256(
  token: string,
  secret: string,
): { header: unknown; claims: Record<string, unknown> } {
  const [header, payload, signature] = token.split('.');
  expect(signature).toBe(createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url'));
  const decode = (part: string | undefined) =>
    JSON.parse(Buffer.from(part ?? '', 'base64url').toString()) as unknown;
  return { header: decode(header), claims: decode(payload) as Record<string, unknown> };
}
