import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { redactUrl, requestIdOf } from './request-context.js';

describe('request context', () => {
  it("takes the caller's plain x-request-id, otherwise a UUID", () => {
    const withId = (id: string | undefined) =>
      requestIdOf({ headers: id === undefined ? {} : { 'x-request-id': id } } as IncomingMessage);
    expect(withId('trace-1.a:b')).toBe('trace-1.a:b');
    expect(withId('has spaces')).toMatch(/^[0-9a-f-]{36}$/);
    expect(withId('x'.repeat(129))).toMatch(/^[0-9a-f-]{36}$/);
    expect(withId(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('redacts token query parameters in logged URLs', () => {
    expect(redactUrl('/admin/queues?token=eyJ.abc.def&x=1')).toBe('/admin/queues?token=[redacted]&x=1');
    expect(redactUrl('/admin/queues?x=1&TOKEN=abc')).toBe('/admin/queues?x=1&TOKEN=[redacted]');
    expect(redactUrl('/v1/jobs/ing-1')).toBe('/v1/jobs/ing-1');
  });
});
