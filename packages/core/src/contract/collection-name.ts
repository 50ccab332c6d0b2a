import { SluiceError } from './errors.js';

/**
 * Shortest and longest collection name Chroma accepts. Chroma 1.0 allows 3–512 characters
 * (measured against the 1.0.0 server); the 3–63 limit in older docs is from Chroma 0.x.
 */
export const COLLECTION_NAME_LENGTH = { min: 3, max: 512 } as const;

/** Longest docId Sluice accepts, in UTF-16 code units. */
export const DOC_ID_MAX_LENGTH = 512;

const NAME_CHARS = /^[a-zA-Z0-9._-]*$/;
const ALPHANUMERIC = /[a-zA-Z0-9]/;
// Chroma parses names with Rust's `Ipv4Addr`: four decimal octets 0–255 without leading zeros.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
// C0, DEL and C1 control characters.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

function invalid(field: 'collection' | 'docId', message: string): SluiceError {
  return new SluiceError('INVALID_REQUEST', message, { details: { field } });
}

/**
 * Checks a collection name against Chroma 1.0's rules, so that a bad name is a 400 at the API
 * (and a non-retryable job failure) instead of a Chroma error deep in a job.
 *
 * The rules, each with its own message: 3–512 characters; only `a-z A-Z 0-9 . _ -`; first and
 * last character alphanumeric; no `..`; not an IPv4 address.
 *
 * @throws SluiceError `INVALID_REQUEST` with `details.field === 'collection'`, naming the rule
 */
export function validateCollectionName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw invalid('collection', 'collection name must be a string');
  const { min, max } = COLLECTION_NAME_LENGTH;
  if (name.length < min || name.length > max) {
    throw invalid('collection', `collection name must be ${min}–${max} characters long, got ${name.length}`);
  }
  if (!NAME_CHARS.test(name)) {
    throw invalid(
      'collection',
      'collection name may contain only letters a-z and A-Z, digits, ".", "_" and "-"',
    );
  }
  if (!ALPHANUMERIC.test(name.charAt(0)) || !ALPHANUMERIC.test(name.charAt(name.length - 1))) {
    throw invalid('collection', 'collection name must start and end with a letter or digit');
  }
  if (name.includes('..')) {
    throw invalid('collection', 'collection name must not contain two consecutive periods ("..")');
  }
  if (IPV4.test(name)) {
    throw invalid('collection', 'collection name must not be an IPv4 address');
  }
}

/**
 * Checks a document ID: 1–{@link DOC_ID_MAX_LENGTH} characters, no control characters. Any other
 * Unicode (spaces, slashes, non-Latin scripts) is allowed, since docIds are often file paths.
 *
 * @throws SluiceError `INVALID_REQUEST` with `details.field === 'docId'`, naming the rule
 */
export function validateDocId(docId: unknown): asserts docId is string {
  if (typeof docId !== 'string') throw invalid('docId', 'docId must be a string');
  if (docId.length === 0) throw invalid('docId', 'docId must not be empty');
  if (docId.length > DOC_ID_MAX_LENGTH) {
    throw invalid('docId', `docId must be at most ${DOC_ID_MAX_LENGTH} characters long, got ${docId.length}`);
  }
  if (CONTROL_CHARS.test(docId)) {
    throw invalid('docId', 'docId must not contain control characters');
  }
}
