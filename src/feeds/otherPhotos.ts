import { keptPhotoFile } from '../catalog/photoStore.js';
import { MAX_PHOTOS } from '../catalog/itemFields.js';
import type { Embedder } from '../embedding/embedder.js';
import { embedPreparedFeatures, prepareBatch } from '../embedding/vectorize.js';
import { FashionError } from '../errors.js';
import { readImageFile, type ImageLimits } from '../imaging/decode.js';
import type { CatalogStore, PhotoWithVector } from '../store/catalogStore.js';
import type { PhotoDownloader } from './downloader.js';

/** A feed row's other photos (`additional_image_link`), as the row gave them. */
export interface OtherPhotosRow {
  readonly id: string;
  readonly line: number;
  readonly urls: readonly string[];
}

export interface OtherPhotoFailure {
  readonly id: string;
  readonly line: number;
  readonly url: string;
  readonly code: FashionError['code'];
  readonly message: string;
}

export interface OtherPhotosReport {
  /** Products whose other photos were written (new, changed, or dropped). */
  readonly products: number;
  /** Photos embedded. */
  readonly embedded: number;
  /** Products whose other photos were the catalog's already. */
  readonly unchanged: number;
}

export interface OtherPhotosOptions {
  readonly dataDir: string;
  readonly limits: ImageLimits;
  /** Products embedded together (their photos in one inference batch or a few). */
  readonly batchSize: number;
  readonly downloader: PhotoDownloader;
  readonly beforeWrite: () => void;
  readonly failed: OtherPhotoFailure[];
}

/**
 * A feed's other photos of each product (`additional_image_link`), after its first photos are in: each is downloaded
 * through the same downloader and cache (a re-run gets 304s), embedded, and stored with the product (`putPhotos`), so
 * that a search by any of them finds it. Products whose photos are the catalog's already are left alone; a row that
 * no longer lists any drops those it had.
 *
 * A photo that cannot be had or read is reported with its row. When the product has other photos from an earlier run,
 * it keeps them all meanwhile (a CDN's bad hour does not strip a product); otherwise it gets those that worked. Either
 * way the next run tries again, since what it has differs from what the feed lists.
 */
export async function ingestOtherPhotos(store: CatalogStore, embedder: Embedder, rows: readonly OtherPhotosRow[], options: OtherPhotosOptions): Promise<OtherPhotosReport> {
  let products = 0;
  let embedded = 0;
  let unchanged = 0;
  const present = await store.fileStates();
  for (let start = 0; start < rows.length; start += options.batchSize) {
    const chunk = rows.slice(start, start + options.batchSize).filter((r) => present.has(r.id));
    const downloaded = await Promise.all(chunk.map((r) => Promise.all(r.urls.slice(0, MAX_PHOTOS - 1).map((u) => options.downloader.photo(u)))));
    const toEmbed: Array<{ row: OtherPhotosRow; photos: Array<{ url: string; path: string; size: number; mtimeMs: number }>; keepOnFailure: boolean }> = [];
    for (const [i, row] of chunk.entries()) {
      const had = (await store.getItem(row.id))?.photos ?? [];
      const results = downloaded[i]!;
      const photos = results.flatMap((r) => (r.ok ? [{ url: r.url, path: r.path, size: r.size, mtimeMs: r.fetchedAtMs }] : []));
      for (const r of results) if (!r.ok) options.failed.push({ id: row.id, line: row.line, url: r.url, code: r.code, message: had.length > 0 ? `${r.message}; the product keeps its earlier photos` : r.message });
      if (photos.length < results.length && had.length > 0) continue;
      if (photos.length === had.length && photos.every((p, j) => p.path === had[j]!.path)) {
        unchanged++;
        continue;
      }
      toEmbed.push({ row, photos, keepOnFailure: had.length > 0 });
    }
    const flat = toEmbed.flatMap((t) => t.photos);
    const prepared = await prepareBatch(
      embedder,
      flat.map((p) => ({ bytes: () => readImageFile(keptPhotoFile(options.dataDir, p.path)!, options.limits), label: p.url })),
      options.limits,
    );
    const vectors = await embedPreparedFeatures(embedder, prepared);
    let at = 0;
    options.beforeWrite();
    await store.atomically(async (tx) => {
      for (const t of toEmbed) {
        const out: PhotoWithVector[] = [];
        let failures = 0;
        for (const p of t.photos) {
          const v = vectors[at]!;
          const hash = prepared.photos[at]?.pixelHash;
          at++;
          if (v instanceof FashionError) {
            failures++;
            options.failed.push({ id: t.row.id, line: t.row.line, url: p.url, code: v.code, message: t.keepOnFailure ? `${v.message}; the product keeps its earlier photos` : v.message });
          } else out.push({ path: p.path, size: p.size, mtimeMs: p.mtimeMs, vector: v.vector, colour: v.colour, ...(hash ? { pixelHash: hash } : {}) });
        }
        if (failures > 0 && t.keepOnFailure) continue;
        await tx.putPhotos(t.row.id, out);
        products++;
        embedded += out.length;
      }
    });
  }
  return { products, embedded, unchanged };
}
