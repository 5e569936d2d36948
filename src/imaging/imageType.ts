import { FashionError } from '../errors.js';

export type ImageType = 'jpeg' | 'png' | 'webp';

/** The type an image really has, read from its first bytes: a declared content type or file name is never trusted. */
export function sniffImageType(bytes: Uint8Array): ImageType | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 8 &&
    bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 &&
    bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a
  ) return 'png';
  if (
    bytes.length >= 12 &&
    bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x46 &&
    bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50
  ) return 'webp';
  return null;
}

/** Throws a coded error unless the bytes are a JPEG, PNG or WebP image; `label` names the input in the message. */
export function requireImageType(bytes: Uint8Array, label: string): ImageType {
  if (bytes.length === 0) {
    throw new FashionError('image/empty', `Expected image bytes for ${label} but received an empty input`);
  }
  const type = sniffImageType(bytes);
  if (!type) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new FashionError(
      'image/unsupported-type',
      `Expected a JPEG, PNG or WebP image for ${label} but its first bytes (${head}) are not one; send a photo in one of those formats`,
    );
  }
  return type;
}
