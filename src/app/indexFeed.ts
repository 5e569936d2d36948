import { withWriterLock } from '../catalog/writerLock.js';
import type { Config } from '../config.js';
import { DEFAULT_DOWNLOAD, type DownloadSettings } from '../feeds/downloader.js';
import { ingestFeed, type FeedReport } from '../feeds/ingestFeed.js';
import { PhotoCache } from '../feeds/photoCache.js';
import type { FeedFormat, FeedMapping } from '../feeds/readFeed.js';
import { prepareSearch, refineIngested, withIngestTools, type IndexEvent, type IndexResult } from './indexFolder.js';

export type IndexFeedResult = FeedReport & Pick<IndexResult, 'refinement' | 'index'>;

export interface IndexFeedOptions {
  /** By default by the file's extension, else sniffed. */
  readonly format?: FeedFormat | undefined;
  /** `--map target=source`: a shop's column as a label the refinement and filters use (articleType=product_type). */
  readonly map?: readonly FeedMapping[] | undefined;
  /** Delete the items that left the feed even when they are more than MAX_UNPRUNED_SHARE of the catalog. */
  readonly prune?: boolean | undefined;
  readonly reembed?: boolean | undefined;
  /** false: ingest only, no refinement. */
  readonly refine?: boolean;
  /** Downloads at once (`--concurrency`), time limit, retries and back-off; the byte cap is config.maxUploadBytes. */
  readonly download?: Partial<Omit<DownloadSettings, 'maxBytes'>> | undefined;
  /** The same events as indexFolder's: the CLI's bars and an ingest-style job's progress read them alike. */
  readonly onEvent?: ((e: IndexEvent) => void) | undefined;
  /** Stops the run (a job's cancel): downloads are abandoned, and what was committed stays, as after a kill. */
  readonly signal?: AbortSignal | undefined;
  /** What the writer lock's holder says it is indexing (an API import's feed by its name or URL, not its file). */
  readonly label?: string | undefined;
}

/**
 * `fashion index --feed FILE`: brings the catalog in line with a shop's product feed (src/feeds/ingestFeed.ts), refines
 * when the catalog has labels, and leaves search ready, holding the catalog's writer lock throughout, exactly as
 * indexFolder does with a folder (the same embedder, refinement and index steps, shared from indexFolder.ts).
 *
 * `additional_image_link` gives a product its other photos, each downloaded and embedded after the first photos are in
 * (src/feeds/otherPhotos.ts); the URLs are kept as metadata text too. `availability` is kept as metadata; hiding what is
 * out of stock is search's.
 */
export async function indexFeed(config: Config, feedFile: string, options: IndexFeedOptions = {}): Promise<IndexFeedResult> {
  return withWriterLock(config.dataDir, options.label ? `feed import ${options.label}` : `fashion index --feed ${feedFile}`, async (lock) => {
    const emit = options.onEvent ?? (() => {});
    const cache = PhotoCache.open(config.dataDir);
    try {
      const report = await withIngestTools(config, options.reembed ?? false, async (store, embedder) => {
        const ingested = await ingestFeed(store, embedder, {
          feedFile,
          format: options.format,
          map: options.map,
          dataDir: config.dataDir,
          cache,
          download: { ...DEFAULT_DOWNLOAD, ...given(options.download), maxBytes: config.maxUploadBytes },
          batchSize: config.batchSize,
          limits: { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels },
          reembed: options.reembed,
          prune: options.prune,
          onProgress: (progress) => emit({ kind: 'embed', progress }),
          beforeWrite: () => lock.assertHeld(),
          signal: options.signal,
        });
        if (options.refine === false) return ingested;
        return { ...ingested, refinement: await refineIngested(config, store, embedder, lock, emit) };
      });
      return { ...report, index: await prepareSearch(config, lock) };
    } finally {
      cache.close();
    }
  });
}

/** The settings given, without those left undefined (which would hide the defaults). */
function given<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
