import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { apiEnvSchema, parseEnv, workerEnvSchema } from '@sluice/core';

const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

/** The rows of the doc's tables: variable → default column. */
const rows = new Map(
  [...doc.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]+?)\s*\|/gm)].map((m) => [
    m[1]!,
    m[2]!.trim().replace(/^`|`$/g, ''),
  ]),
);

describe('docs/configuration.md', () => {
  it.each([
    ['worker', workerEnvSchema],
    ['api', apiEnvSchema],
  ] as const)('documents every variable the %s reads, with its real default', (_name, schema) => {
    const defaults = parseEnv(schema, { AUTH_DISABLED: 'true' }) as Record<string, unknown>;
    for (const name of Object.keys(schema.shape)) {
      expect(rows.has(name), `${name} is not documented`).toBe(true);
      const documented = rows.get(name);
      const actual = name === 'AUTH_DISABLED' ? false : defaults[name];
      expect(documented, name).toBe(actual === undefined ? '—' : String(actual as string | number | boolean));
    }
  });

  it('documents no variable that no process reads', () => {
    const read = new Set([...Object.keys(workerEnvSchema.shape), ...Object.keys(apiEnvSchema.shape)]);
    expect([...rows.keys()].filter((name) => !read.has(name))).toEqual([]);
  });
});
