import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { typeFromFileName } from '@sluice/core';

/** One file to ingest, from the CLI's inputs or a synced folder. */
export interface InputFile {
  /** Absolute path. */
  path: string;
  /** The path relative to the inputs' common base directory, with `/` separators. */
  docId: string;
}

/** The CLI's inputs, expanded. */
export interface ExpandedInputs {
  /** Supported files, sorted by docId. */
  files: InputFile[];
  /** Files left out because of their type (absolute paths). */
  skipped: string[];
  /** Arguments that are neither an existing path nor a glob with matches. */
  unmatched: string[];
  /** The common base directory the docIds are relative to. */
  base: string;
}

/**
 * Expands the CLI's arguments: folders are walked (dot files and folders left out), files taken
 * as they are, anything else treated as a glob. Each argument contributes a base directory (the
 * folder itself, a file's folder, a glob's static prefix); docIds are relative to the deepest
 * directory all of those share, so the same command gives the same docIds on every run, however
 * many files the folders hold by then.
 */
export async function expandInputs(args: readonly string[], cwd: string): Promise<ExpandedInputs> {
  const found = new Set<string>();
  const bases: string[] = [];
  const unmatched: string[] = [];
  for (const arg of args) {
    const absolute = resolve(cwd, arg);
    const info = await stat(absolute).catch(() => undefined);
    if (info?.isDirectory()) {
      bases.push(absolute);
      for (const file of await glob('**/*', { cwd: absolute, absolute: true, onlyFiles: true })) {
        found.add(resolve(file));
      }
    } else if (info?.isFile()) {
      bases.push(dirname(absolute));
      found.add(absolute);
    } else if (isDynamicPattern(arg)) {
      const { base, pattern } = splitGlob(arg, cwd);
      const matches = await glob(pattern, { cwd: base, absolute: true, onlyFiles: true });
      if (matches.length === 0) unmatched.push(arg);
      else bases.push(base);
      for (const file of matches) found.add(resolve(file));
    } else {
      unmatched.push(arg);
    }
  }
  const base = commonDirectory(bases.length > 0 ? bases : [resolve(cwd)]);
  const files: InputFile[] = [];
  const skipped: string[] = [];
  for (const path of found) {
    if (typeFromFileName(path) !== undefined)
      files.push({ path, docId: relative(base, path).split(sep).join('/') });
    else skipped.push(path);
  }
  files.sort((a, b) => (a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : 0));
  skipped.sort();
  return { files, skipped, unmatched, base };
}

/** Splits a glob into its static directory prefix (absolute) and the pattern below it. */
export function splitGlob(pattern: string, cwd: string): { base: string; pattern: string } {
  const segments = pattern.replaceAll('\\', '/').split('/');
  const firstDynamic = segments.findIndex((segment) => isDynamicPattern(segment));
  const staticPart = segments.slice(0, firstDynamic).join('/');
  const base = staticPart === '' && isAbsolute(pattern) ? '/' : resolve(cwd, staticPart || '.');
  return { base, pattern: segments.slice(firstDynamic).join('/') };
}

/** The deepest directory that contains every one of `directories` (absolute paths). */
export function commonDirectory(directories: readonly string[]): string {
  const [first, ...rest] = directories.map((d) => resolve(d).split(sep));
  if (first === undefined) throw new Error('commonDirectory needs at least one directory');
  let length = first.length;
  for (const parts of rest) {
    let i = 0;
    while (i < length && i < parts.length && parts[i] === first[i]) i++;
    length = i;
  }
  return first.slice(0, length).join(sep) || sep;
}
