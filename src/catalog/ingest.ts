import { join } from 'node:path';
import { identityKey, describeIdentity, type Embedder, type ModelIdentity } from '../embedding/embedder.js';
import { embedPreparedFeatures, prepareBatch, type PreparedBatch } from '../embedding/vectorize.js';
import { FashionError } from '../errors.js';
import { DEFAULT_IMAGE_LIMITS, readImageFile, type ImageLimits } from '../imaging/decode.js';
import type { CatalogStore, ItemWithVector, Metadata } from '../store/catalogStore.js';
import { readMetadataCsv } from './metadataCsv.js';
import { checkIdentity, SETTING_IDENTITY, SETTING_IMAGES_ROOT, storedIdentity } from './identity.js';
import { scanImages, type ScannedFile } from './scanImages.js';

export interface IngestOptions {
  readonly imagesDir: string;
  readonly metadataCsv?: string | undefined;
  readonly batchSize: number;
  /** Re-embed every photo when the catalog was made with another model, instead of refusing. */
  readonly reembed?: boolean;
  readonly limits?: ImageLimits;
  readonly onProgress?: (p: IngestProgress) => void;
}

export interface IngestProgress {
  readonly phase: 'scan' | 'embed' | 'done';
  readonly done: number;
  readonly total: number;
  readonly failed: number;
}

export interface IngestFailure {
  readonly id: string;
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

export interface IngestReport {
  readonly scanned: number;
  readonly added: number;
  readonly updated: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly metadataUpdated: number;
  readonly failed: IngestFailure[];
  /** New or changed photos whose decoded pixels equal another item's (also listed in warnings). */
  readonly duplicates: Array<{ id: string; path: string; duplicateOf: string }>;
  /** Problems that skipped something without an image being read: CSV rows, unreadable entries, repeated ids. */
  readonly warnings: string[];
  readonly seconds: number;
  readonly imagesPerSecond: number;
}


/**
 * Brings the catalog in line with a folder of photos: embeds new and changed photos, drops deleted ones,
 * refreshes metadata. Each batch is written in one transaction, so a run killed at any point resumes
 * where it stopped: the next run sees the written items as unchanged.
 */
export async function ingestFolder(store: CatalogStore, embedder: Embedder, options: IngestOptions): Promise<IngestReport> {
  const started = performance.now();
  const warnings: string[] = [];
  const failed: IngestFailure[] = [];
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  options.onProgress?.({ phase: 'scan', done: 0, total: 0, failed: 0 });

  checkIdentity(store, embedder.identity, options.reembed ?? false);
  // Recorded before the first vector is written, so that a killed run cannot leave unlabelled vectors.
  store.setSetting(SETTING_IDENTITY, JSON.stringify(embedder.identity));

  const scan = await scanImages(options.imagesDir);
  for (const p of scan.problems) warnings.push(`${p.path}: ${p.message}`);
  const metadata = options.metadataCsv ? await readMetadataCsv(options.metadataCsv) : null;
  for (const p of metadata?.problems ?? []) warnings.push(`${options.metadataCsv}:${p.line}: ${p.message}; row skipped`);

  const previousRoot = store.getSetting(SETTING_IMAGES_ROOT);
  store.setSetting(SETTING_IMAGES_ROOT, scan.root);
  const known = store.fileStates();
  const present = new Set(scan.files.map((f) => f.id));
  const removedIds = [...known.keys()].filter((id) => !present.has(id));
  store.removeItems(removedIds);

  const todo: ScannedFile[] = [];
  const metaChanges = new Map<string, Metadata>();
  let unchanged = 0;
  let updated = 0;
  for (const f of scan.files) {
    const k = known.get(f.id);
    if (k && k.path === f.path && k.size === f.size && k.mtimeMs === f.mtimeMs && previousRoot === scan.root) {
      unchanged++;
      if (metadata) {
        const current = store.getItem(f.id)?.metadata ?? {};
        const next = metadata.rows.get(f.id) ?? {};
        if (JSON.stringify(current) !== JSON.stringify(next)) metaChanges.set(f.id, next);
      }
    } else {
      if (k) updated++;
      todo.push(f);
    }
  }
  store.updateMetadata(metaChanges);
  if (metadata) store.setSetting('metadataColumns', JSON.stringify(metadata.columns.filter((c) => c !== 'id' && c !== 'image')));

  const metaFor = (id: string): Metadata => metadata?.rows.get(id) ?? (previousMetadata(store, id) ?? {});
  const batches: ScannedFile[][] = [];
  for (let i = 0; i < todo.length; i += options.batchSize) batches.push(todo.slice(i, i + options.batchSize));

  let done = 0;
  // Exact duplicates: the hash of the decoded pixels, compared with every other item's.
  const idByHash = new Map<string, string>();
  const redone = new Set(todo.map((f) => f.id));
  for (const [id, h] of store.pixelHashes()) if (present.has(id) && !redone.has(id)) idByHash.set(h, id);
  const duplicates: IngestReport['duplicates'] = [];
  const prepare = (batch: ScannedFile[]): Promise<PreparedBatch> =>
    prepareBatch(
      embedder,
      batch.map((f) => ({ bytes: () => readImageFile(join(scan.root, f.path), limits), label: f.path })),
      limits,
    );
  // Decoding the next batch overlaps inference on this one: sharp and onnxruntime run on their own threads.
  let next: Promise<PreparedBatch> | null = batches.length > 0 ? prepare(batches[0]!) : null;
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!;
    const prepared = await next!;
    next = b + 1 < batches.length ? prepare(batches[b + 1]!) : null;
    const vectors = await embedPreparedFeatures(embedder, prepared);
    const rows: ItemWithVector[] = [];
    vectors.forEach((v, i) => {
      const f = batch[i]!;
      if (v instanceof FashionError) failed.push({ id: f.id, path: f.path, code: v.code, message: v.message });
      else {
        const h = prepared.photos[i]?.pixelHash;
        rows.push({ ...f, metadata: metaFor(f.id), vector: v.vector, colour: v.colour, ...(h ? { pixelHash: h } : {}) });
        const other = h ? idByHash.get(h) : undefined;
        if (h && other !== undefined && other !== f.id) {
          duplicates.push({ id: f.id, path: f.path, duplicateOf: other });
          warnings.push(`${f.path}: the same photo as catalog item ${other} (identical pixels); \`fashion duplicates\` lists all`);
        } else if (h) idByHash.set(h, f.id);
      }
    });
    store.putItems(rows);
    done += batch.length;
    options.onProgress?.({ phase: 'embed', done, total: todo.length, failed: failed.length });
  }
  // A photo that failed is not in the catalog, whatever an earlier run had stored for it.
  store.removeItems(failed.map((f) => f.id).filter((id) => known.has(id)));

  const seconds = (performance.now() - started) / 1000;
  options.onProgress?.({ phase: 'done', done, total: todo.length, failed: failed.length });
  return {
    scanned: scan.files.length,
    added: todo.length - updated - failed.filter((f) => !known.has(f.id)).length,
    updated,
    removed: removedIds.length,
    unchanged,
    metadataUpdated: metaChanges.size,
    failed,
    duplicates,
    warnings,
    seconds,
    imagesPerSecond: todo.length / Math.max(seconds, 1e-9),
  };
}

function previousMetadata(store: CatalogStore, id: string): Metadata | null {
  return store.getItem(id)?.metadata ?? null;
}



