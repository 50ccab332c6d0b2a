import mammoth from 'mammoth';
import { parseHTML } from 'linkedom';
import { cfbDirectory } from './cfb-directory.js';
import { renderText, type DomNode } from './html-text.js';
import { ParseFailure, type ParseOutput, type ParseThreadLimits } from './parse-protocol.js';
import { checkUnzippedSize } from './zip-guard.js';
import { zipEntryNames } from './zip-entries.js';

/**
 * mammoth's default style map plus the paragraph styles that title a document, and comment
 * references, which mammoth drops unless mapped (their text then follows the document).
 */
const STYLE_MAP = [
  "p[style-name='Title'] => h1:fresh",
  "p[style-name='Subtitle'] => h2:fresh",
  'comment-reference => sup',
];

/** The parts mammoth parses: XML and relationships. Media and embedded files are never inflated. */
const PARSED_PART = /\.(?:xml|rels)$/i;

/**
 * Extracts the text of a DOCX in a parse thread (see `loadDocx`): refuses an encrypted or legacy
 * Word file, checks the archive and what its XML inflates to, then lets mammoth turn it into HTML
 * and renders that as Markdown-style text.
 *
 * @throws ParseFailure `ENCRYPTED_DOCUMENT`, `UNSUPPORTED_TYPE` (Word 97–2003), `TOO_LARGE`,
 * `INVALID_DOCUMENT`.
 */
export async function extractDocx(data: ArrayBuffer, limits: ParseThreadLimits): Promise<ParseOutput> {
  const bytes = Buffer.from(data);
  const ole = cfbDirectory(bytes);
  if (ole) {
    // Office saves a password-protected DOCX as an OLE2 container with the encrypted package inside.
    if (ole.names.includes('EncryptedPackage')) {
      throw new ParseFailure(
        'ENCRYPTED_DOCUMENT',
        'the DOCX needs a password to open (an encrypted OOXML package)',
      );
    }
    if (ole.names.includes('WordDocument')) {
      throw new ParseFailure(
        'UNSUPPORTED_TYPE',
        'the file is a Word 97-2003 document (.doc), not a DOCX; save it as .docx',
      );
    }
    throw new ParseFailure('INVALID_DOCUMENT', 'the file is an OLE2 container, not a DOCX (a ZIP archive)');
  }
  if (!zipEntryNames(bytes)) {
    throw new ParseFailure('INVALID_DOCUMENT', 'the file is not a ZIP archive, which every DOCX is');
  }
  await checkUnzippedSize(bytes, {
    maxUnzippedBytes: limits.maxUnzippedBytes,
    counts: (name) => PARSED_PART.test(name),
  });
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: bytes },
      {
        styleMap: STYLE_MAP,
        ignoreEmptyParagraphs: true,
        // No image is read: an image carries no text, and a large one would only cost memory.
        convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
        // A DOCX may link files by path or URL (INCLUDETEXT, linked images): never followed.
        externalFileAccess: false,
      },
    );
    html = result.value;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ParseFailure('INVALID_DOCUMENT', `the DOCX could not be read (mammoth: ${message})`, {
      cause: err,
    });
  }
  const { document } = parseHTML(`<!DOCTYPE html><html><body>${html}</body></html>`) as unknown as {
    document: { body: DomNode };
  };
  const text = renderText(document.body, { notes: true });
  return { sections: text ? [{ text }] : [] };
}
