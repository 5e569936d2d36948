import { checkIdentity, SETTING_IDENTITY } from '../catalog/identity.js';
import { embedBatches, MAX_UNPRUNED_SHARE, needsPrune, type IngestFailure, type IngestProgress, type IngestReport, type PhotoToEmbed } from '../catalog/ingest.js';
import { keptPhotoFile } from '../catalog/photoStore.js';
import type { Embedder } from '../embedding/embedder.js';
import { FashionError } from '../errors.js';
import { readImageFile, type ImageLimits } from '../imaging/decode.js';
import type { CatalogStore, Metadata } from '../store/catalogStore.js';
import { PhotoDownloader, type DownloadSettings, type DownloadStats } from './downloader.js';
import { ingestOtherPhotos, type OtherPhotoFailure, type OtherPhotosReport, type OtherPhotosRow } from './otherPhotos.js';
import type { PhotoCache } from './photoCache.js';
import { readFeed, type FeedFormat, type FeedMapping, type FeedProblem, type FeedRow } from './readFeed.js';

export interface FeedIngestOptions {
  readonly feedFile: string;
  readonly format?: FeedFormat | undefined;
  readonly map?: readonly FeedMapping[] | undefined;
  /** The catalog's folder: where photos are kept (src/catalog/photoStore.ts). */
  readonly dataDir: string;
  readonly cache: PhotoCache;
  readonly download: DownloadSettings;
  readonly batchSize: number;
  readonly limits: ImageLimits;
  /** Re-embed every photo when the catalog was made with another model, instead of refusing. */
  readonly reembed?: boolean | undefined;
  /** Delete the items that left the feed even when they are more than MAX_UNPRUNED_SHARE of the catalog. */
  readonly prune?: boolean | undefined;
  readonly onProgress?: ((p: IngestProgress) => void) | undefined;
  /** Called before each write to the catalog (the writer lock's check). */
  readonly beforeWrite?: (() => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A row whose photo could not be had or read: its line, its URL and why. `path` is the URL too (IngestFailure's). */
export interface FeedFailure extends IngestFailure {
  readonly line: number;
  readonly url: string;
}

export interface FeedReport extends IngestReport {
  /** `scanned`: the feed's valid rows. */
  readonly failed: FeedFailure[];
  /** Malformed rows, skipped (the products they name, when they name one, are left as they were). */
  readonly problems: FeedProblem[];
  readonly downloads: Readonly<DownloadStats> & { readonly seconds: number };
  /** Products' other photos (`additional_image_link`): written, embedded, unchanged; their failures are in `failed`. */
  readonly otherPhotos: OtherPhotosReport;
  /** Valid rows per second, end to end (download, embed, commit). */
  readonly rowsPerSecond: number;
}

/**
 * Brings the catalog in line with a product feed, the way ingestFolder does with a folder. Every row's photo is
 * downloaded (or found unchanged by a 304); a row whose photo is the item's already and whose fields are the same is
 * left alone, one whose fields alone changed gets its metadata updated, a new or changed photo is embedded (in batches,
 * each committed on its own: embedBatches). Products that left the feed are removed last.
 *
 * Refused before anything is written: a feed with no valid row, and one that lacks more than MAX_UNPRUNED_SHARE of the
 * catalog without `prune`. A run in which every row's photo failed throws after the fact, its deletions not made.
 *
 * A row whose photo fails (download or decoding) is reported and left for the next run, which tries it again; a product
 * the catalog already has keeps its earlier photo meanwhile (a photo server's bad hour does not delete products), and
 * its fields are updated all the same (availability must not wait for a CDN).
 *
 * Killed at any point (kill -9), a rerun finishes the work: committed batches are unchanged items then, and photos
 * downloaded but not yet committed are found in the cache and the kept photos (a 304, no second transfer).
 *
 * The feed is read twice, streamed each time: once for its ids (the refusals above, before any write, and the progress
 * total), once for the work, so that no more of it than the rows in flight is ever held.
 */
export async function ingestFeed(store: CatalogStore, embedder: Embedder, options: FeedIngestOptions): Promise<FeedReport> {
  const started = performance.now();
  const progress = throttled(options.onProgress);
  const before = options.beforeWrite ?? (() => {});
  const feed = { format: options.format, map: options.map };
  options.onProgress?.({ phase: 'scan', done: 0, total: 0, failed: 0 });

  // First pass: everything that can refuse the run comes before the first write.
  const problems: FeedProblem[] = [];
  const warnings: string[] = [];
  const present = new Set<string>();
  const columns = new Set<string>();
  let valid = 0;
  for await (const entry of readFeed(options.feedFile, feed)) {
    if (entry.kind === 'row') {
      valid++;
      present.add(entry.row.id);
      for (const c of Object.keys(entry.row.metadata)) columns.add(c);
      progress({ phase: 'scan', done: valid, total: 0, failed: 0 });
    } else if (entry.kind === 'problem') {
      problems.push(entry.problem);
      // A malformed row that names its product keeps it from being deleted: it is still in the feed.
      if (entry.problem.id) present.add(entry.problem.id);
    } else warnings.push(`${options.feedFile}: ${entry.message}`);
  }
  for (const p of problems) warnings.push(`${options.feedFile}:${p.line}: ${p.message}; row skipped`);
  if (valid === 0) throw noRows(options.feedFile, problems);
  const atStart = await store.fileStates();
  checkRemovals(atStart.size, [...atStart.keys()].filter((id) => !present.has(id)).length, options);

  await checkIdentity(store, embedder.identity, options.reembed ?? false);
  // Recorded before the first vector is written, so that a killed run cannot leave unlabelled vectors.
  before();
  await store.setSetting(SETTING_IDENTITY, JSON.stringify(embedder.identity));
  const known = await store.fileStates();

  const failed: FeedFailure[] = [];
  const embedFailed: IngestFailure[] = [];
  const duplicates: IngestReport['duplicates'] = [];
  const idByHash = new Map<string, string>();
  for (const [id, h] of await store.pixelHashes()) if (present.has(id)) idByHash.set(h, id);
  const rowOf = new Map<string, { line: number; url: string }>();
  // Other photos are taken after the first ones (their products must be in); a row listing none drops those it had.
  const hadOthers = await store.idsWithPhotos();
  const others: OtherPhotosRow[] = [];
  const seen = new Set<string>();
  let unchanged = 0;
  let embedding = 0;
  let metadataUpdated = 0;
  let done = 0;
  const metaChanges = new Map<string, Metadata>();
  const flushMetadata = async () => {
    if (metaChanges.size === 0) return;
    before();
    await store.updateMetadata(metaChanges);
    metadataUpdated += metaChanges.size;
    metaChanges.clear();
  };
  const downloadStart = performance.now();
  const downloader = new PhotoDownloader(options.dataDir, options.cache, options.download, options.signal);
  const failures = () => failed.length + embedFailed.length;

  /** Second pass: rows as their photos arrive, sorted into unchanged, metadata-only and to-embed (in batches). */
  async function* toEmbed(): AsyncGenerator<PhotoToEmbed[]> {
    let batch: PhotoToEmbed[] = [];
    const rows = rowsOf(options.feedFile, feed, seen);
    const window = Math.max(2 * options.batchSize, 4 * options.download.concurrency);
    for await (const { item: row, result: photo } of asTheyFinish(rows, (r) => downloader.photo(r.imageUrl), window)) {
      done++;
      const k = known.get(row.id);
      if (row.additionalImageUrls.length > 0 || hadOthers.has(row.id)) others.push({ id: row.id, line: row.line, urls: row.additionalImageUrls });
      const metadataChanged = async () => JSON.stringify((await store.getItem(row.id))?.metadata ?? {}) !== JSON.stringify(row.metadata);
      if (!photo.ok) {
        failed.push({ id: row.id, path: photo.url, url: photo.url, line: row.line, code: photo.code, message: k ? `${photo.message}; the product keeps its earlier photo` : photo.message });
        if (k && (await metadataChanged())) metaChanges.set(row.id, row.metadata);
      } else if (k && k.path === photo.path) {
        unchanged++;
        if (await metadataChanged()) metaChanges.set(row.id, row.metadata);
      } else {
        embedding++;
        rowOf.set(row.id, { line: row.line, url: photo.url });
        const file = keptPhotoFile(options.dataDir, photo.path)!;
        batch.push({ id: row.id, path: photo.path, size: photo.size, mtimeMs: photo.fetchedAtMs, metadata: row.metadata, label: photo.url, read: () => readImageFile(file, options.limits) });
      }
      if (batch.length >= options.batchSize) {
        await flushMetadata();
        yield batch;
        batch = [];
      } else if (metaChanges.size >= 500) await flushMetadata();
      progress({ phase: 'embed', done, total: valid, failed: failures() });
    }
    await flushMetadata();
    if (batch.length > 0) yield batch;
  }

  await embedBatches(store, embedder, toEmbed(), {
    limits: options.limits,
    idByHash,
    out: { failed: embedFailed, duplicates, warnings },
    beforeWrite: () => {
      options.signal?.throwIfAborted();
      before();
    },
    afterBatch: () => progress({ phase: 'embed', done, total: valid, failed: failures() }, true),
  });
  const otherFailed: OtherPhotoFailure[] = [];
  const otherPhotos = await ingestOtherPhotos(store, embedder, others, {
    dataDir: options.dataDir,
    limits: options.limits,
    batchSize: options.batchSize,
    downloader,
    failed: otherFailed,
    beforeWrite: () => {
      options.signal?.throwIfAborted();
      before();
    },
  });
  const downloadSeconds = (performance.now() - downloadStart) / 1000;
  for (const f of otherFailed) failed.push({ id: f.id, path: f.url, url: f.url, line: f.line, code: f.code, message: f.message });
  for (const f of embedFailed) {
    const at = rowOf.get(f.id)!;
    failed.push({ ...f, line: at.line, url: at.url, message: known.has(f.id) ? `${f.message}; the product keeps its earlier photo` : f.message });
  }
  failed.sort((a, b) => a.line - b.line);
  const indexed = unchanged + embedding - embedFailed.length;
  // (Other photos' failures do not count here: a product whose first photo is in is indexed.)
  if (indexed === 0) throw allFailed(options.feedFile, failed, valid);

  // Deletions come last: a run killed before this point has lost nothing, and the next one makes them. They are
  // measured again on what this pass read (the file may have been replaced meanwhile).
  const removedIds = [...known.keys()].filter((id) => !seen.has(id));
  checkRemovals(known.size, removedIds.length, options);
  before();
  const shown = [...columns];
  if ((await store.getSetting('metadataColumns')) !== JSON.stringify(shown)) await store.setSetting('metadataColumns', JSON.stringify(shown));
  await store.removeItems(removedIds);

  const seconds = (performance.now() - started) / 1000;
  options.onProgress?.({ phase: 'done', done, total: valid, failed: failed.length });
  const embedded = embedding - embedFailed.length;
  const updated = [...rowOf.keys()].filter((id) => known.has(id)).length - embedFailed.filter((f) => known.has(f.id)).length;
  return {
    scanned: valid,
    added: embedded - updated,
    updated,
    removed: removedIds.length,
    unchanged,
    metadataUpdated,
    failed,
    duplicates,
    warnings,
    problems,
    seconds,
    imagesPerSecond: embedding / Math.max(seconds, 1e-9),
    rowsPerSecond: valid / Math.max(seconds, 1e-9),
    downloads: { ...downloader.stats, seconds: downloadSeconds },
    otherPhotos,
  };
}

/** The feed's valid rows; `seen` gathers the ids it names (malformed rows that name one included). */
async function* rowsOf(file: string, feed: { format?: FeedFormat | undefined; map?: readonly FeedMapping[] | undefined }, seen: Set<string>): AsyncGenerator<FeedRow> {
  for await (const entry of readFeed(file, feed)) {
    if (entry.kind === 'row') {
      seen.add(entry.row.id);
      yield entry.row;
    } else if (entry.kind === 'problem' && entry.problem.id) seen.add(entry.problem.id);
  }
}

/**
 * Starts `start` for up to `window` items at once and yields each with its result as it finishes (not in feed order: a
 * slow photo does not hold back those behind it). Items are pulled from the source only as places free up.
 */
export async function* asTheyFinish<T, R>(source: AsyncIterable<T>, start: (item: T) => Promise<R>, window: number): AsyncGenerator<{ item: T; result: R }> {
  const it = source[Symbol.asyncIterator]();
  const ready: Array<{ item: T; result: R }> = [];
  let inFlight = 0;
  let exhausted = false;
  let failure: { error: unknown } | null = null;
  let wake: (() => void) | null = null;
  for (;;) {
    while (!exhausted && inFlight < window) {
      const n = await it.next();
      if (n.done) {
        exhausted = true;
        break;
      }
      inFlight++;
      const item = n.value;
      start(item)
        .then(
          (result) => void ready.push({ item, result }),
          (error: unknown) => void (failure ??= { error }),
        )
        .finally(() => {
          inFlight--;
          wake?.();
        });
    }
    if (failure) throw (failure as { error: unknown }).error;
    if (ready.length > 0) {
      yield ready.shift()!;
      continue;
    }
    if (exhausted && inFlight === 0) return;
    // Nothing can settle between the checks above and this wait: callbacks run only at an await.
    await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  }
}

/** Progress at most every 100 ms (a re-run of a large feed classifies thousands of rows a second), and always when forced. */
function throttled(onProgress: ((p: IngestProgress) => void) | undefined): (p: IngestProgress, force?: boolean) => void {
  let last = 0;
  return (p, force = false) => {
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - last < 100) return;
    last = now;
    onProgress(p);
  };
}

/** Deleting more than MAX_UNPRUNED_SHARE of the catalog needs `prune`. */
function checkRemovals(catalogSize: number, removing: number, options: FeedIngestOptions): void {
  if (options.prune || !needsPrune(catalogSize, removing)) return;
  const share = Math.round((removing / catalogSize) * 100);
  throw new FashionError(
    'catalog/prune-refused',
    `Expected most of the catalog's ${catalogSize} items in the feed ${options.feedFile}, but ${removing} of them (${share}%) are not in it, ` +
      `more than the ${MAX_UNPRUNED_SHARE * 100}% an index run deletes unless told to; nothing was deleted. ` +
      'Check that this is the shop\'s whole feed, not a partial export; if those products left it on purpose, run again with --prune.',
  );
}

function noRows(file: string, problems: readonly FeedProblem[]): FashionError {
  const shown = problems.slice(0, 3).map((p) => `line ${p.line}: ${p.message}`).join('; ');
  const more = problems.length > 3 ? ` and ${problems.length - 3} more` : '';
  const why = problems.length > 0 ? `none of its ${problems.length} rows is valid (${shown}${more})` : 'it has no product rows';
  return new FashionError('input/no-photos', `Expected products in the feed ${file} but ${why}. Nothing in the catalog was changed.`);
}

function allFailed(file: string, failed: readonly FeedFailure[], rows: number): FashionError {
  const shown = failed.slice(0, 3).map((f) => `line ${f.line}: [${f.code}] ${f.message}`).join('; ');
  const more = failed.length > 3 ? ` and ${failed.length - 3} more` : '';
  return new FashionError(
    'input/no-photos',
    `Expected product photos from the feed ${file} but none of its ${rows} rows' photos could be downloaded and read (${shown}${more}). ` +
      'Nothing was deleted; the next run tries every photo again.',
  );
}

