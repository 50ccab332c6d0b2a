import type { ErrorCode } from '@sluice/core';

/** Every file of corpus/docx/hostile and the code Sluice fails it with. */
export const HOSTILE_DOCX: Readonly<Record<string, ErrorCode>> = {
  'bomb-400mb.docx': 'TOO_LARGE',
  'bomb-400mb-lying-sizes.docx': 'TOO_LARGE',
  'empty-libreoffice.docx': 'NO_TEXT',
  'tbl-having-tables.docx': 'NO_TEXT',
  'runbook-corrupt.docx': 'INVALID_DOCUMENT',
  'runbook-truncated.docx': 'INVALID_DOCUMENT',
  'tika-testWORD_truncated.docx': 'INVALID_DOCUMENT',
  'runbook-password.docx': 'ENCRYPTED_DOCUMENT',
  'tika-testWORD_protected_passtika.docx': 'ENCRYPTED_DOCUMENT',
  'runbook-word97.docx': 'UNSUPPORTED_TYPE',
};

/** Every file of corpus/html/hostile and the code Sluice fails it with. */
export const HOSTILE_HTML: Readonly<Record<string, ErrorCode>> = {
  'no-visible-text.html': 'NO_TEXT',
};
