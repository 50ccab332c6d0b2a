import { randomBytes } from 'node:crypto';

/** A unique name for a test's queue prefix or collection: `t-<label>-<random>`, Chroma-safe. */
export function uniqueName(label: string): string {
  const clean =
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 30) || 'x';
  return `t-${clean}-${randomBytes(4).toString('hex')}`;
}
