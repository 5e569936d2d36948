import type { FastifyRequest } from 'fastify';
import type { UploadForm } from '../api/requests.js';
import { FashionError } from '../errors.js';

/** The multipart field that carries the photo. */
export const FILE_FIELD = 'image';

/**
 * Streams a multipart body: the photos of field `image` into memory (the multipart limits refuse one over the upload
 * limit with 413), at most `maxFiles` of them (a search takes one; a product, several), and the text fields as
 * strings. The fields are checked by the caller (src/api/requests.ts).
 */
export async function readForm(req: FastifyRequest, maxFiles = 1): Promise<UploadForm> {
  const fields: Record<string, string> = {};
  const files: Array<NonNullable<UploadForm['file']>> = [];
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== FILE_FIELD) {
        throw new FashionError('input/invalid', `Expected the photo in the multipart field "${FILE_FIELD}" but received a file in ${JSON.stringify(part.fieldname)}`);
      }
      if (files.length >= maxFiles) {
        throw new FashionError('input/invalid', maxFiles === 1 ? 'Expected one photo in the upload but received several' : `Expected at most ${maxFiles} photos in the upload but received more`);
      }
      const bytes = await part.toBuffer();
      files.push({ bytes, label: part.filename || `the uploaded photo${files.length > 0 ? ` ${files.length + 1}` : ''}` });
    } else {
      fields[part.fieldname] = String(part.value);
    }
  }
  return files.length > 0 ? { file: files[0]!, files, fields } : { files, fields };
}

/** The body is multipart or JSON; anything else (or nothing) is refused as the wrong type. */
export function requireJsonOrForm(req: FastifyRequest): void {
  if (req.isMultipart() || req.body !== undefined) return;
  const ct = String(req.headers['content-type'] ?? '');
  throw new FashionError('image/unsupported-type', `Expected multipart/form-data (a photo) or application/json (imageUrl or id) but received ${ct || 'no content type'}`);
}
