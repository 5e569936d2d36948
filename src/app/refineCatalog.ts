import { readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Embedder, identityKey } from '../embedding/embedder.js';
import { openCatalogStore, requireCatalogAt } from '../catalog/openCatalog.js';
import { withWriterLock } from '../catalog/writerLock.js';
import { embedderOptions, type Config } from '../config.js';
import { Gemm } from '../linalg/gemm.js';
import { fitUnhashed, readImageFile } from '../imaging/decode.js';
import { colourHistogram, COLOUR_DIMS } from '../refine/colourFeatures.js';
import type { RefineModel } from '../refine/refineModel.js';
import { findRefinement, isRefineModelFile, modelDigest, refineModelFile, SETTING_REFINE_MODEL } from '../refine/loadRefinement.js';
import { trainRefinement, type TrainReport } from '../refine/train.js';
import type { TrainOptions } from '../refine/mlp.js';
import type { CatalogStore, StoredItem } from '../store/catalogStore.js';
import { embedCopies, loadCopies, type CopyMaker } from '../refine/augment.js';
import { modelMismatch, SETTING_IMAGES_ROOT, storedIdentity } from '../catalog/identity.js';
import { saveGraphsOfTraining, Services, type InstalledRefinement } from './services.js';
import { syncPath } from '../util/durableFile.js';

/** The catalog's items, vectors and width, as `CatalogStore.loadAll` gives them. */
export type LoadedCatalog = Awaited<ReturnType<CatalogStore['loadAll']>>;

/** `loaded`: the catalog as the caller already read it (reading 40k items and their vectors takes ~3 s of one core). */
export async function hasLabels(store: CatalogStore, loaded?: LoadedCatalog): Promise<boolean> {
  return (loaded ?? (await store.loadAll())).items.some((it) => !!it.metadata.articleType);
}

/** Colour evidence for items that have none (catalogs indexed before it existed): their photos are decoded again. */
export async function backfillColours(store: CatalogStore, onProgress?: (done: number, total: number) => void, loaded?: LoadedCatalog): Promise<number> {
  const { items } = loaded ?? (await store.loadAll());
  const identity = await storedIdentity(store);
  const root = await store.getSetting(SETTING_IMAGES_ROOT);
  if (!identity || !root) return 0;
  const have = await store.featureIds('colour');
  const todo = items.filter((it) => !have.has(it.id));
  const p = identity.preprocess;
  for (let i = 0; i < todo.length; i += 64) {
    const rows = new Map<string, Float32Array>();
    await Promise.all(
      todo.slice(i, i + 64).map(async (it) => {
        try {
          const { product } = await fitUnhashed(await readImageFile(join(root, it.path)), p, { label: it.path });
          rows.set(it.id, colourHistogram(product.data, product.width, product.height));
        } catch {
          // A photo gone or broken since indexing keeps no colour; the next ingest will drop or redo it.
        }
      }),
    );
    await store.putFeatures('colour', rows);
    onProgress?.(Math.min(i + 64, todo.length), todo.length);
  }
  return todo.length;
}

/**
 * Trains the catalog's refinement from its labels and stores the model beside the catalog, with every
 * item's refined vector (one generation, see installRefinement). Items without labels get vectors from predictions.
 * The caller holds the catalog's writer lock (trainCatalogFolder and indexFolder take it).
 */
export async function trainCatalog(
  store: CatalogStore,
  dataDir: string,
  options: Partial<TrainOptions> & TrainCatalogOptions = {},
): Promise<TrainReport> {
  const identity = await storedIdentity(store);
  if (!identity) throw new Error('Expected an indexed catalog to train on');
  // Read once: the colour backfill writes features only, so the items and vectors it read are training's too.
  const { items, vectors, dims } = options.loaded ?? (await store.loadAll());
  await backfillColours(store, (d, t) => options.onProgress?.(`colour evidence ${d}/${t}`), { items, vectors, dims });
  const ids = items.map((it) => it.id);
  const colours = await store.loadFeatures('colour', ids);
  if (!colours) throw new Error('Expected colour evidence for every item; some photos could not be read again');
  const share = options.augment?.share ?? 0;
  const root = await store.getSetting(SETTING_IMAGES_ROOT);
  if (share > 0 && options.augment && root) {
    if (identityKey(options.augment.embedder.identity) !== identityKey(identity)) throw modelMismatch(identity, options.augment.embedder.identity);
    const onCopies = options.onCopies ?? ((d: number, t: number) => options.onProgress?.(`training copies ${d}/${t}`));
    const made = await embedCopies(store, options.augment.embedder, items, { root, share, onProgress: onCopies, ...(options.augment.makeCopy ? { makeCopy: options.augment.makeCopy } : {}) });
    if (made > 0) options.onProgress?.(`${made} training copies made`);
  }
  const copies = share > 0 ? await loadCopies(store, items, dims, share) : undefined;
  const gemm = await Gemm.create(options.threads ?? 2);
  try {
    const { model, report } = await trainRefinement(
      gemm,
      { ids, metadata: items.map((it) => it.metadata), backbones: vectors, colours, backboneDims: dims, backboneKey: identityKey(identity), ...(copies ? { copies } : {}) },
      options,
    );
    // The rows training read are the catalog's still (the caller holds the writer lock): the refined vectors come from them.
    await installRefinement(store, dataDir, model, gemm, { rows: { items, vectors, dims, colours }, ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}), ...(options.onInstalled ? { onInstalled: options.onInstalled } : {}) });
    return report;
  } finally {
    await gemm.close();
  }
}

/**
 * Makes `model` the catalog's refinement, as one generation with the refined vectors: the vectors are computed in
 * memory, the model is written to a file named by its content (renamed into place, so never seen half written),
 * and then one transaction replaces every refined vector and names the model (SETTING_REFINE_MODEL). Killed before
 * that commit, the catalog keeps its previous generation whole (the new file is an orphan, removed next time);
 * killed after, it has the new one whole (the old file is an orphan). Returns the model's digest.
 */
export async function installRefinement(
  store: CatalogStore,
  dataDir: string,
  model: RefineModel,
  gemm: Gemm,
  options: { beforeCommit?: () => void; rows?: CatalogRows; onInstalled?: (installed: InstalledRefinement) => void } = {},
): Promise<string> {
  const { vectors, items, packed } = await refinedVectors(store, model, gemm, false, options.rows);
  const staging = join(dataDir, `refine-model.staging-${process.pid}.bin`);
  await model.save(staging);
  const digest = modelDigest(readFileSync(staging));
  syncPath(staging);
  renameSync(staging, refineModelFile(dataDir, digest));
  // The file's name must be on disk before the commit that names it.
  syncPath(dataDir);
  options.beforeCommit?.();
  await store.putFeatures('refined', vectors, { replace: true, settings: { [SETTING_REFINE_MODEL]: digest } });
  removeOtherModels(dataDir, digest);
  // What was committed, every row in the order read: the search graphs are built from it (saveGraphsOfTraining).
  if (packed.length === items.length * model.dims) options.onInstalled?.({ items, model, vectors: packed });
  return digest;
}

/** Refined vectors of items added since the refinement was trained, by the catalog's current model (same generation). */
export async function writeRefinedVectors(store: CatalogStore, model: RefineModel, gemm: Gemm, onlyMissing = false): Promise<number> {
  const { vectors: out } = await refinedVectors(store, model, gemm, onlyMissing);
  if (out.size > 0) await store.putFeatures('refined', out);
  return out.size;
}

/** Every item of the catalog with its backbone vector and colour evidence, as training read them. */
export interface CatalogRows {
  readonly items: readonly StoredItem[];
  /** items.length x dims. */
  readonly vectors: Float32Array;
  readonly dims: number;
  /** items.length x COLOUR_DIMS. */
  readonly colours: Float32Array;
}

/**
 * Computes the refined vector of every item (after training), or only of those without one. `given`: the catalog's
 * rows already in memory (training's), instead of reading all of them again. `packed`: the vectors of the rows done, in
 * their order in `items` (all of them unless onlyMissing); the map's vectors are views of it.
 */
async function refinedVectors(
  store: CatalogStore,
  model: RefineModel,
  gemm: Gemm,
  onlyMissing: boolean,
  given?: CatalogRows,
): Promise<{ vectors: Map<string, Float32Array>; items: readonly StoredItem[]; packed: Float32Array }> {
  // Training's rows stand for the whole catalog; an update of the missing ones reads what is stored now.
  const rowsGiven = onlyMissing ? undefined : given;
  const { items, vectors, dims } = rowsGiven ?? (await store.loadAll());
  let rows = items.map((_, i) => i);
  if (onlyMissing) {
    const have = await store.featureIds('refined');
    rows = rows.filter((i) => !have.has(items[i]!.id));
  }
  const out = new Map<string, Float32Array>();
  const none = { vectors: out, items, packed: new Float32Array(0) };
  if (rows.length === 0) return none;
  const colours = rowsGiven ? rowsGiven.colours : await store.loadFeatures('colour', rows.map((i) => items[i]!.id));
  if (!colours) return none;
  const b = new Float32Array(rows.length * dims);
  rows.forEach((i, r) => b.set(vectors.subarray(i * dims, (i + 1) * dims), r * dims));
  const m = model.dims;
  const packed = new Float32Array(rows.length * m);
  for (let start = 0; start < rows.length; start += 4096) {
    const part = rows.slice(start, start + 4096);
    const { vectors: v } = await model.vectors(gemm, b.subarray(start * dims, (start + part.length) * dims), colours.subarray(start * COLOUR_DIMS, (start + part.length) * COLOUR_DIMS), part.length, part.map((i) => items[i]!.metadata));
    packed.set(v.subarray(0, part.length * m), start * m);
    part.forEach((i, r) => out.set(items[i]!.id, packed.subarray((start + r) * m, (start + r + 1) * m)));
  }
  return { vectors: out, items, packed };
}

/** Model files of other generations, and staging files of runs that died, beside the catalog. */
function removeOtherModels(dataDir: string, keep: string): void {
  const kept = refineModelFile(dataDir, keep);
  for (const name of readdirSync(dataDir)) {
    const file = join(dataDir, name);
    if (file !== kept && (isRefineModelFile(name) || name.startsWith('refine-model.staging-'))) rmSync(file, { force: true });
  }
}


export interface TrainCatalogOptions {
  readonly threads?: number;
  readonly onProgress?: (message: string) => void;
  /** Train with re-photographed copies of this share of the labelled items, embedded by `embedder` (the catalog's model). */
  readonly augment?: { readonly share: number; readonly embedder: Embedder; readonly makeCopy?: CopyMaker };
  /** Progress of making the training copies (a bar), instead of a message per batch. */
  readonly onCopies?: (done: number, total: number) => void;
  /** Called just before the new generation is committed (the writer lock's check). */
  readonly beforeCommit?: () => void;
  /**
   * The catalog as the caller read it under the same writer lock, with nothing written since (indexFolder reads it to
   * count labels): not read again. Items and vectors only; features are always read from the store.
   */
  readonly loaded?: LoadedCatalog;
  /** Told what was committed once the refinement is installed (saveGraphsOfTraining builds the search graphs from it). */
  readonly onInstalled?: (installed: InstalledRefinement) => void;
}

/** After an ingest: train when the catalog has labels and no refinement yet, else refine the new items. */
export async function refreshRefinement(store: CatalogStore, dataDir: string, options: TrainCatalogOptions = {}): Promise<{ trained: TrainReport | null; updated: number }> {
  const identity = await storedIdentity(store);
  // A recorded generation whose model is missing or altered is trained again, like a missing one.
  const found = findRefinement(dataDir, await store.getSetting(SETTING_REFINE_MODEL));
  const current = found.kind === 'found' ? found.model : null;
  if (!current || !identity || current.header.backboneKey !== identityKey(identity)) {
    if (!(await hasLabels(store, options.loaded))) return { trained: null, updated: 0 };
    return { trained: await trainCatalog(store, dataDir, options), updated: 0 };
  }
  const gemm = await Gemm.create(options.threads ?? 2);
  try {
    return { trained: null, updated: await writeRefinedVectors(store, current, gemm, true) };
  } finally {
    await gemm.close();
  }
}

/**
 * `fashion train`: (re)learns the catalog's refinement from its labels, with re-photographed copies embedded by the
 * catalog's own model when `config.augment` is above 0, holding the catalog's writer lock. The new refinement is a
 * new search space: its HNSW graphs are saved here too, so that the server opens them ready. Progress is events.
 */
export async function trainCatalogFolder(
  config: Config,
  options: {
    readonly epochs: number;
    readonly seed: number;
    readonly onProgress?: (message: string) => void;
    readonly onCopies?: (done: number, total: number) => void;
    /** What the writer lock names as its holder, which other writers' catalog/locked errors show (default `fashion train`). */
    readonly holder?: string;
    /** Other training options than DEFAULT_TRAIN's (bench/train.ts measures variants with them). */
    readonly train?: Partial<Omit<TrainOptions, 'epochs' | 'seed' | 'onEpoch'>>;
  },
): Promise<TrainReport> {
  await requireCatalogAt(config);
  return withWriterLock(config.dataDir, options.holder ?? 'fashion train', async (lock) => {
    const store = await openCatalogStore(config);
    let embedder: Embedder | null = null;
    let report: TrainReport;
    let installed: InstalledRefinement | null = null;
    try {
      // Training copies are embedded as the catalog's photos were.
      embedder = config.augment > 0 ? await Embedder.load(embedderOptions(config, await storedIdentity(store))) : null;
      report = await trainCatalog(store, config.dataDir, {
        ...options.train,
        epochs: options.epochs,
        seed: options.seed,
        threads: config.threads,
        beforeCommit: () => lock.assertHeld(),
        onInstalled: (rows) => (installed = rows),
        ...(embedder ? { augment: { share: config.augment, embedder }, ...(options.onCopies ? { onCopies: options.onCopies } : {}) } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } finally {
      await store.close();
      await embedder?.close();
    }
    lock.assertHeld();
    // The graphs from what training committed, without reading the catalog again; on PostgreSQL the catalog is read.
    if (installed && saveGraphsOfTraining(config, installed)) return report;
    const services = await Services.open(config);
    try {
      services.prepareIndex({ save: true });
      await services.prepareSqlIndexes();
    } finally {
      await services.close();
    }
    return report;
  });
}
