import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file's place in `test/deploy/support`. */
export const repoRoot: string = fileURLToPath(new URL('../../../', import.meta.url));

/** An absolute path inside the repository. */
export function repoPath(...segments: string[]): string {
  return join(repoRoot, ...segments);
}

/** A repository file as UTF-8 text. */
export function readRepoFile(...segments: string[]): string {
  return readFileSync(repoPath(...segments), 'utf8');
}
