import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ImageType } from '../imaging/imageType.js';
import { replaceFileDurably } from '../util/durableFile.js';

/**
 * Photos the catalog keeps itself: those written through the API, which have no folder of the shop's to live in.
 * Each is stored once by content under `<catalog>/photos/` and named in the item's `path` as
 * `kept/<sha256>.<ext>`; a path of exactly that shape (64 hex digits, a known extension) is read from the photos
 * folder, any other from the catalog's image folder.
 */
export const KEPT_PREFIX = 'kept/';
const KEPT_NAME = /^kept\/([0-9a-f]{64})\.(jpg|png|webp)$/;
const EXTENSION: Record<ImageType, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

export function keptPhotosDir(dataDir: string): string {
  return join(dataDir, 'photos');
}

/** Whether an item's path names a kept photo. */
export function isKeptPhoto(path: string): boolean {
  return KEPT_NAME.test(path);
}

/** The file of a kept photo, or null when the path is not one (never a path outside the photos folder). */
export function keptPhotoFile(dataDir: string, path: string): string | null {
  const m = KEPT_NAME.exec(path);
  return m ? join(keptPhotosDir(dataDir), `${m[1]}.${m[2]}`) : null;
}

/**
 * Keeps a photo's bytes (written under a temporary name, synced, renamed: a reader never sees half a photo) and
 * returns the item path that names it. The same bytes are kept once.
 */
export function keepPhoto(dataDir: string, bytes: Uint8Array, type: ImageType): string {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const path = `${KEPT_PREFIX}${sha}.${EXTENSION[type]}`;
  const file = keptPhotoFile(dataDir, path)!;
  if (existsSync(file)) return path;
  mkdirSync(keptPhotosDir(dataDir), { recursive: true });
  replaceFileDurably(file, bytes);
  return path;
}
