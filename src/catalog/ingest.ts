import { join } from 'node:path';
import PQueue from 'p-queue';
import { identityKey, describeIdentity, type Embedder, type ModelIdentity } from '../embedding/embedder.js';
import { embedPreparedFeatures, prepareBatch, type PhotoFeatures, type PreparedBatch } from '../embedding/vectorize.js';
import { FashionError } from '../errors.js';
import { DEFAULT_IMAGE_LIMITS, pixelHash, readImageFile, type ImageLimits } from '../imaging/decode.js';
import type { CatalogStore, ItemWithVector, Metadata } from '../store/catalogStore.js';
import { readMetadataCsv } from './metadataCsv.js';
import { checkIdentity, SETTING_IDENTITY, SETTING_IMAGES_ROOT, storedIdentity } from './identity.js';
import { IMAGE_EXTENSIONS, scanImages, type ScannedFile } from './scanImages.js';

export interface IngestOptions {
  readonly imagesDir: string;
  readonly metadataCsv?: string | undefined;
  readonly batchSize: number;
  /** Re-embed every photo when the catalog was made with another model, instead of refusing. */
  readonly reembed?: boolean;
  readonly limits?: ImageLimits;
  /** Delete the catalog items whose photos are gone even when they are more than MAX_UNPRUNED_SHARE of it. */
  readonly prune?: boolean;
  readonly onProgress?: (p: IngestProgress) => void;
}

/**
 * The share of a catalog one ingest may delete unless told to (`fashion index --prune`). A folder that lacks more of
 * the catalog's photos than this is more likely the wrong folder, or a share half mounted, than a shop's deletions.
 */
export const MAX_UNPRUNED_SHARE = 0.1;

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
 *
 * It refuses, before writing anything, a folder with no photo it can read (missing, empty, not mounted, only links
 * leading out of it) and deletions beyond MAX_UNPRUNED_SHARE of the catalog without `prune`; and a run in which every
 * photo failed to be read throws after the fact, its deletions not made.
 */
export async function ingestFolder(store: CatalogStore, embedder: Embedder, options: IngestOptions): Promise<IngestReport> {
  const started = performance.now();
  const warnings: string[] = [];
  const failed: IngestFailure[] = [];
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  options.onProgress?.({ phase: 'scan', done: 0, total: 0, failed: 0 });

  // Everything that can refuse the run comes before the first write.
  const scan = await scanImages(options.imagesDir);
  if (scan.files.length === 0) throw noPhotos(options.imagesDir, scan.problems.map((p) => `${p.path}: ${p.message}`));
  for (const p of scan.problems) warnings.push(`${p.path}: ${p.message}`);
  const metadata = options.metadataCsv ? await readMetadataCsv(options.metadataCsv) : null;
  for (const p of metadata?.problems ?? []) warnings.push(`${options.metadataCsv}:${p.line}: ${p.message}; row skipped`);
  const present = new Set(scan.files.map((f) => f.id));
  const before = await store.fileStates();
  checkRemovals(before.size, [...before.keys()].filter((id) => !present.has(id)).length, options);

  await checkIdentity(store, embedder.identity, options.reembed ?? false);
  // Recorded before the first vector is written, so that a killed run cannot leave unlabelled vectors.
  await store.setSetting(SETTING_IDENTITY, JSON.stringify(embedder.identity));

  const previousRoot = await store.getSetting(SETTING_IMAGES_ROOT);
  // The photos' folder changes with the first item written from it, not before: a run that ends up refused leaves
  // the catalog's photos where they were.
  let rootRecorded = previousRoot === scan.root;
  const recordRoot = async () => {
    if (!rootRecorded) await store.setSetting(SETTING_IMAGES_ROOT, scan.root);
    rootRecorded = true;
  };
  const known = await store.fileStates();
  const removedIds = [...known.keys()].filter((id) => !present.has(id));

  const storedHashes = await store.pixelHashes();
  /** The item's stored file state when this scanned file is at the same place with the same size (mtime aside). */
  const sameFile = (f: ScannedFile) => {
    const k = known.get(f.id);
    return k && k.path === f.path && k.size === f.size && previousRoot === scan.root ? k : undefined;
  };
  // Same path and size, another mtime (a folder copied, restored or extracted again): the pixels decide, for a
  // decode costs a fraction of an embedding, and a re-extracted catalog of 40k photos would otherwise be embedded anew.
  const touched = await unchangedPixels(
    scan.root,
    scan.files.filter((f) => {
      const k = sameFile(f);
      return k !== undefined && k.mtimeMs !== f.mtimeMs;
    }),
    storedHashes,
    limits,
  );
  const todo: ScannedFile[] = [];
  const metaChanges = new Map<string, Metadata>();
  let unchanged = 0;
  let updated = 0;
  for (const f of scan.files) {
    const k = known.get(f.id);
    const same = sameFile(f);
    if (same && (same.mtimeMs === f.mtimeMs || touched.has(f.id))) {
      unchanged++;
      if (metadata) {
        const current = (await store.getItem(f.id))?.metadata ?? {};
        const next = metadata.rows.get(f.id) ?? {};
        if (JSON.stringify(current) !== JSON.stringify(next)) metaChanges.set(f.id, next);
      }
    } else {
      if (k) updated++;
      todo.push(f);
    }
  }
  if (metaChanges.size > 0) await recordRoot();
  await store.updateMetadata(metaChanges);
  await store.touchFiles(touched);

  // A photo embedded again without a CSV row keeps the metadata its item had.
  const previous = new Map<string, Metadata>();
  for (const f of todo) if (known.has(f.id) && !metadata?.rows.has(f.id)) previous.set(f.id, (await store.getItem(f.id))?.metadata ?? {});
  const metaFor = (id: string): Metadata => metadata?.rows.get(id) ?? previous.get(id) ?? {};
  const batches: ScannedFile[][] = [];
  for (let i = 0; i < todo.length; i += options.batchSize) batches.push(todo.slice(i, i + options.batchSize));

  let done = 0;
  // Exact duplicates: the hash of the decoded pixels, compared with every other item's.
  const idByHash = new Map<string, string>();
  const redone = new Set(todo.map((f) => f.id));
  for (const [id, h] of storedHashes) if (present.has(id) && !redone.has(id)) idByHash.set(h, id);
  const duplicates: IngestReport['duplicates'] = [];
  const photos = batches.map((batch) => batch.map((f) => ({ ...f, metadata: metaFor(f.id), read: () => readImageFile(join(scan.root, f.path), limits) })));
  await embedBatches(store, embedder, photos, {
    limits,
    idByHash,
    out: { failed, duplicates, warnings },
    beforeWrite: async (rows) => {
      if (rows.length > 0) await recordRoot();
    },
    afterBatch: (batch) => {
      done += batch.length;
      options.onProgress?.({ phase: 'embed', done, total: todo.length, failed: failed.length });
    },
  });
  if (unchanged + todo.length - failed.length === 0) {
    throw noPhotos(options.imagesDir, failed.map((f) => `${f.path}: [${f.code}] ${f.message}`), scan.files.length);
  }
  // Deletions come last: a run killed before this point has lost nothing, and the next one makes them.
  await recordRoot();
  if (metadata) await store.setSetting('metadataColumns', JSON.stringify(metadata.columns.filter((c) => c !== 'id' && c !== 'image')));
  await store.removeItems(removedIds);
  // A photo that failed is not in the catalog, whatever an earlier run had stored for it.
  await store.removeItems(failed.map((f) => f.id).filter((id) => known.has(id)));

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

/** How many photos are decoded at once to compare their pixels (sharp decodes on libuv's threads). */
const HASH_CONCURRENCY = 4;

/**
 * The files (id -> new mtime) whose decoded pixels equal the hash the catalog holds for them. A file without a stored
 * hash, or that cannot be read or decoded, is left out: the embedding pass embeds it, or reports it as any other.
 */
async function unchangedPixels(root: string, files: readonly ScannedFile[], stored: ReadonlyMap<string, string>, limits: ImageLimits): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const queue = new PQueue({ concurrency: HASH_CONCURRENCY });
  await queue.addAll(
    files
      .filter((f) => stored.has(f.id))
      .map((f) => async () => {
        try {
          if ((await pixelHash(await readImageFile(join(root, f.path), limits), { limits, label: f.path })) === stored.get(f.id)) out.set(f.id, f.mtimeMs);
        } catch {
          // Embedded (and its failure reported) with the changed photos.
        }
      }),
  );
  return out;
}

/** A photo to embed and write as a catalog item: the item's state and metadata, and how to read its bytes. */
export interface PhotoToEmbed {
  readonly id: string;
  /** The item's path: in the photo folder, or a kept photo (`kept/<sha256>.<ext>`); also the label in messages. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly metadata: Metadata;
  readonly read: () => Promise<Uint8Array>;
  /** What messages and failures name the photo by, when not its path (a feed's URL). */
  readonly label?: string;
}

export interface EmbedBatchesOptions {
  readonly limits: ImageLimits;
  /** Pixel hash -> id of the items this run keeps as they are; photos found equal to one are reported as duplicates. */
  readonly idByHash: Map<string, string>;
  /** Where failures, duplicates and their warnings go. */
  readonly out: Pick<IngestReport, 'failed' | 'duplicates' | 'warnings'>;
  /** Called with each batch's items just before they are written (the caller's last check). */
  readonly beforeWrite?: (rows: readonly ItemWithVector[]) => void | Promise<void>;
  readonly afterBatch?: (batch: readonly PhotoToEmbed[]) => void;
}

/**
 * Embeds photos batch by batch, the one way every ingest does (folder, feed): decode and fit (prepareBatch), inference
 * with colour evidence (embedPreparedFeatures), then each batch written in one transaction with its vectors, colour
 * and pixel hashes (putItems), so a killed run keeps every batch it finished, in order. Writing a batch, inference on
 * the next and decoding the one after overlap (onnxruntime and sharp run on their own threads). A photo that cannot be read or decoded is a
 * failure in `out`, never a thrown batch. Batches may come from a generator (a feed's, as its downloads finish).
 */
export async function embedBatches(
  store: CatalogStore,
  embedder: Embedder,
  batches: Iterable<readonly PhotoToEmbed[]> | AsyncIterable<readonly PhotoToEmbed[]>,
  options: EmbedBatchesOptions,
): Promise<void> {
  const { idByHash, out } = options;
  const prepare = (batch: readonly PhotoToEmbed[]): Promise<PreparedBatch> =>
    prepareBatch(
      embedder,
      batch.map((f) => ({ bytes: f.read, label: f.label ?? f.path })),
      options.limits,
    );
  const it = Symbol.asyncIterator in batches ? batches[Symbol.asyncIterator]() : batches[Symbol.iterator]();
  const pull = async () => {
    const n = await it.next();
    return n.done ? null : { batch: n.value, prepared: prepare(n.value) };
  };
  // Three batches in flight: one being written, the next in the inference thread's queue (so the model never waits for
  // a write or for the event loop), and the one after that being decoded (sharp's threads and this one).
  const write = async (batch: readonly PhotoToEmbed[], prepared: PreparedBatch, vectors: Array<PhotoFeatures | FashionError>) => {
    const rows: ItemWithVector[] = [];
    vectors.forEach((v, i) => {
      const { read: _read, label = batch[i]!.path, ...f } = batch[i]!;
      if (v instanceof FashionError) out.failed.push({ id: f.id, path: label, code: v.code, message: v.message });
      else {
        const h = prepared.photos[i]?.pixelHash;
        rows.push({ ...f, vector: v.vector, colour: v.colour, ...(h ? { pixelHash: h } : {}) });
        const other = h ? idByHash.get(h) : undefined;
        if (h && other !== undefined && other !== f.id) {
          out.duplicates.push({ id: f.id, path: label, duplicateOf: other });
          out.warnings.push(`${label}: the same photo as catalog item ${other} (identical pixels); \`fashion duplicates\` lists all`);
        } else if (h) idByHash.set(h, f.id);
      }
    });
    await options.beforeWrite?.(rows);
    await store.putItems(rows);
    options.afterBatch?.(batch);
  };
  type Embedding = { batch: readonly PhotoToEmbed[]; prepared: PreparedBatch; vectors: Promise<Array<PhotoFeatures | FashionError>> };
  let next = await pull();
  let inFlight: Embedding | null = null;
  try {
    while (next || inFlight) {
      let launched: Embedding | null = null;
      if (next) {
        const prepared = await next.prepared;
        const vectors = embedPreparedFeatures(embedder, prepared);
        // Awaited below, after the previous batch is written; a failure meanwhile is not an unhandled rejection.
        vectors.catch(() => undefined);
        launched = { batch: next.batch, prepared, vectors };
        next = await pull();
      }
      if (inFlight) await write(inFlight.batch, inFlight.prepared, await inFlight.vectors);
      inFlight = launched;
    }
  } finally {
    // A run that stops on an error leaves no decoding behind it unobserved.
    next?.prepared.catch(() => undefined);
  }
}

/** Whether deleting `removing` of a catalog's `catalogSize` items is more than an index run may do without `prune`. */
export function needsPrune(catalogSize: number, removing: number): boolean {
  return removing > 0 && removing > catalogSize * MAX_UNPRUNED_SHARE;
}


/** Deleting more than MAX_UNPRUNED_SHARE of the catalog needs `prune`. */
function checkRemovals(catalogSize: number, removing: number, options: IngestOptions): void {
  if (options.prune || !needsPrune(catalogSize, removing)) return;
  const share = Math.round((removing / catalogSize) * 100);
  throw new FashionError(
    'catalog/prune-refused',
    `Expected the photos of most of the catalog's ${catalogSize} items in ${options.imagesDir}, but ${removing} of them (${share}%) are not there, ` +
      `more than the ${MAX_UNPRUNED_SHARE * 100}% an index run deletes unless told to; nothing was changed. ` +
      'Check that this is the catalog\'s folder and that it is fully mounted; if those photos were deleted on purpose, run again with --prune.',
  );
}

/** A folder that gave no photo to index: nothing is changed, and the run fails rather than looking like a success. */
function noPhotos(dir: string, problems: readonly string[], found = 0): FashionError {
  const shown = problems.slice(0, 3).join('; ');
  const more = problems.length > 3 ? ` and ${problems.length - 3} more` : '';
  const why =
    found > 0
      ? `none of its ${found} photos could be read (${shown}${more})`
      : problems.length > 0
        ? `it has no photo that can be read: ${problems.length} entries were skipped (${shown}${more})`
        : `it has no photos (${[...IMAGE_EXTENSIONS].join(', ')}); is it the right folder, and is it mounted?`;
  return new FashionError('input/no-photos', `Expected product photos in ${dir} but ${why}. Nothing in the catalog was changed.`);
}



