import { parseAllDocuments } from 'yaml';

/** One document of a YAML stream, as plain data. */
export interface YamlDocument {
  /** `file#index`, for messages. */
  readonly source: string;
  readonly data: unknown;
}

/**
 * Which program's YAML to read as:
 * - `kubectl`: YAML 1.1 (go-yaml v2 under sigs.k8s.io/yaml), where `yes`, `no`, `on` and `off`
 *   are booleans and `1:20` is a number. A value that is a string under YAML 1.2 but a boolean
 *   for kubectl would otherwise pass these tests and be rejected by a real API server.
 * - `compose`: YAML 1.2 (go-yaml v3 under compose-go) with merge keys (`<<: *anchor`).
 */
export type YamlDialect = 'kubectl' | 'compose';

/**
 * Parses every document of a YAML stream as `dialect` reads it; empty documents are skipped.
 * @throws Error naming the file and the line of the first syntax error or duplicate key
 */
export function parseYamlDocuments(
  text: string,
  file: string,
  dialect: YamlDialect = 'kubectl',
): YamlDocument[] {
  const documents = parseAllDocuments(text, {
    version: dialect === 'kubectl' ? '1.1' : '1.2',
    merge: true,
    uniqueKeys: true,
    prettyErrors: true,
  });
  if (!Array.isArray(documents)) return [];
  const parsed: YamlDocument[] = [];
  documents.forEach((document, index) => {
    const [error] = document.errors;
    if (error) throw new Error(`${file}: ${error.message}`);
    const data: unknown = document.toJS({ maxAliasCount: 100 });
    if (data !== null && data !== undefined) parsed.push({ source: `${file}#${index}`, data });
  });
  return parsed;
}
