import { storedIdentity } from '../catalog/identity.js';
import { ingestFolder, type IngestProgress, type IngestReport } from '../catalog/ingest.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { withWriterLock, type WriterLock } from '../catalog/writerLock.js';
import { backboneFor, embedderOptions, type Config } from '../config.js';
import { Embedder, type EmbedderOptions, type ModelIdentity } from '../embedding/embedder.js';
import type { CatalogStore } from '../store/catalogStore.js';
import type { TrainReport } from '../refine/train.js';
import { SETTING_REFINE_MODEL } from '../refine/loadRefinement.js';
import { refreshRefinement } from './refineCatalog.js';
import { saveGraphsOfTraining, Services, type InstalledRefinement } from './services.js';

/** Below this many labelled items, search stays on the backbone vectors: too few examples to learn from. */
export const MIN_LABELLED_FOR_REFINEMENT = 200;

export type IndexResult = IngestReport & {
  refinement?: { trained: TrainReport | null; updated: number; skipped?: string };
  index?: SearchPrepared;
};

/** Search left ready after a write: its kind, and on PostgreSQL the HNSW indexes built or found (build ms, bytes). */
export interface SearchPrepared {
  readonly kind: 'exact' | 'hnsw';
  readonly items: number;
  readonly sqlIndexes?: ReadonlyArray<{ readonly name: string; readonly built: boolean; readonly ms: number; readonly bytes: number }>;
}

/** Progress of a whole `fashion index` run, as events: the CLI draws bars, a server would log them. */
export type IndexEvent =
  | { readonly kind: 'embed'; readonly progress: IngestProgress }
  | { readonly kind: 'copies'; readonly done: number; readonly total: number }
  | { readonly kind: 'refinement'; readonly message: string };

export interface IndexFolderOptions {
  readonly metadata?: string | undefined;
  readonly reembed?: boolean | undefined;
  /** Delete the items whose photos are gone even when they are more than MAX_UNPRUNED_SHARE of the catalog. */
  readonly prune?: boolean | undefined;
  /** false: ingest only, no refinement. */
  readonly refine?: boolean;
  readonly onEvent?: (e: IndexEvent) => void;
}

/**
 * The embedder for new photos of a catalog: its second model and mirror follow the catalog where the flags leave them at
 * their defaults. Its threads do not spin while they wait: the same cores decode the next photos meanwhile.
 */
export function loadEmbedder(config: Config, stored: ModelIdentity | null): Promise<Embedder> {
  return Embedder.load(ingestEmbedderOptions(config, stored));
}

export function ingestEmbedderOptions(config: Config, stored: ModelIdentity | null): EmbedderOptions {
  // Two sessions sharing the threads: an ingest keeps two batches in inference, and they run side by side (EmbedderOptions.sessions).
  return { ...embedderOptions(config), ...backboneFor(config, stored), spinning: false, sessions: Math.min(2, config.threads) };
}

/**
 * Ingest a folder, refine when the catalog has labels, and leave search ready (the HNSW graph built and saved on large
 * catalogs), holding the catalog's writer lock throughout: a second writer is refused with `catalog/locked`.
 */
export async function indexFolder(config: Config, imagesDir: string, options: IndexFolderOptions = {}): Promise<IndexResult> {
  return withWriterLock(config.dataDir, `fashion index ${imagesDir}`, async (lock) => {
    const emit = options.onEvent ?? (() => {});
    let installed: InstalledRefinement | null = null;
    const report = await withIngestTools(config, options.reembed ?? false, async (store, embedder) => {
      const ingested = await ingestFolder(store, embedder, {
        imagesDir,
        metadataCsv: options.metadata,
        batchSize: config.batchSize,
        reembed: options.reembed ?? false,
        prune: options.prune ?? false,
        limits: { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels },
        onProgress: (progress) => emit({ kind: 'embed', progress }),
      });
      if (options.refine === false) return ingested;
      return { ...ingested, refinement: await refineIngested(config, store, embedder, lock, emit, (rows) => (installed = rows)) };
    });
    return { ...report, index: await prepareSearch(config, lock, installed) };
  });
}

/**
 * Opens the catalog for writing (created if need be) and the embedder for its new photos, runs `use`, and closes both.
 * Shared by every ingest use case (folder, feed).
 */
export async function withIngestTools<T>(config: Config, reembed: boolean, use: (store: CatalogStore, embedder: Embedder) => Promise<T>): Promise<T> {
  const store = await openCatalogStore(config, { create: true });
  let embedder: Embedder;
  try {
    // --reembed starts the catalog over, so the configured backbone applies as given.
    embedder = await loadEmbedder(config, reembed ? null : await storedIdentity(store));
  } catch (err) {
    await store.close();
    throw err;
  }
  try {
    return await use(store, embedder);
  } finally {
    await store.close();
    await embedder.close();
  }
}

/**
 * After an ingest: the refined space is the default wherever the catalog has enough labels to learn it from, so the
 * refinement is trained (or brought to the new items), with training copies when `config.augment` asks for them.
 */
export async function refineIngested(
  config: Config,
  store: CatalogStore,
  embedder: Embedder,
  lock: WriterLock,
  emit: (e: IndexEvent) => void,
  onInstalled?: (installed: InstalledRefinement) => void,
): Promise<NonNullable<IndexResult['refinement']>> {
  // Read once for the count and for training (refreshRefinement's `loaded`): nothing is written in between.
  const loaded = await store.loadAll();
  const labelled = loaded.items.filter((it) => it.metadata.articleType).length;
  // Below the minimum no refinement is trained; one that exists (`fashion train`) still refines new and relabelled
  // items, or their missing vectors would leave the whole catalog on backbone search.
  if (labelled < MIN_LABELLED_FOR_REFINEMENT && (await store.getSetting(SETTING_REFINE_MODEL)) === null) {
    return { trained: null, updated: 0, skipped: `${labelled} labelled items; the refinement needs ${MIN_LABELLED_FOR_REFINEMENT}` };
  }
  const augment = config.augment > 0 ? { augment: { share: config.augment, embedder }, onCopies: (done: number, total: number) => emit({ kind: 'copies', done, total }) } : {};
  lock.assertHeld();
  return refreshRefinement(store, config.dataDir, { threads: config.threads, onProgress: (message) => emit({ kind: 'refinement', message }), beforeCommit: () => lock.assertHeld(), loaded, ...augment, ...(onInstalled ? { onInstalled } : {}) });
}

/**
 * Leaves search ready after an ingest: the HNSW graph built and saved on large catalogs (exact search below). `installed`:
 * what a training run of this ingest committed (refineIngested's onInstalled), from which the graphs are built without
 * reading the catalog again (saveGraphsOfTraining; on PostgreSQL the catalog is read all the same).
 */
export async function prepareSearch(config: Config, lock: WriterLock, installed?: InstalledRefinement | null): Promise<SearchPrepared> {
  lock.assertHeld();
  const fromTraining = installed ? saveGraphsOfTraining(config, installed) : null;
  if (fromTraining) return fromTraining;
  const services = await Services.open(config);
  try {
    const prepared = services.prepareIndex({ save: true });
    const sql = await services.prepareSqlIndexes();
    return sql.length === 0 ? prepared : { ...prepared, sqlIndexes: sql.map((x) => ({ ...x, ms: Math.round(x.ms) })) };
  } finally {
    await services.close();
  }
}
