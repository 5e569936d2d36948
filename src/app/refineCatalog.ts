import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Embedder, identityKey } from '../embedding/embedder.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { embedderOptions, type Config } from '../config.js';
import { Gemm } from '../linalg/gemm.js';
import { fitPhoto, readImageFile } from '../imaging/decode.js';
import { colourHistogram, COLOUR_DIMS, COLOUR_FEATURES_VERSION } from '../refine/colourFeatures.js';
import { RefineModel } from '../refine/refineModel.js';
import { REFINE_FILE } from '../refine/loadRefinement.js';
import { trainRefinement, type TrainReport } from '../refine/train.js';
import type { TrainOptions } from '../refine/mlp.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { embedCopies, loadCopies } from '../refine/augment.js';
import { modelMismatch, SETTING_IMAGES_ROOT, storedIdentity } from '../catalog/identity.js';

export function hasLabels(store: CatalogStore): boolean {
  return store.loadAll().items.some((it) => !!it.metadata.articleType);
}

/** Colour evidence for items that have none (catalogs indexed before it existed): their photos are decoded again. */
export async function backfillColours(store: CatalogStore, onProgress?: (done: number, total: number) => void): Promise<number> {
  const { items } = store.loadAll();
  const identity = storedIdentity(store);
  const root = store.getSetting(SETTING_IMAGES_ROOT);
  if (!identity || !root) return 0;
  const have = store.featureIds('colour');
  const todo = items.filter((it) => !have.has(it.id));
  const p = identity.preprocess;
  for (let i = 0; i < todo.length; i += 64) {
    const rows = new Map<string, Float32Array>();
    await Promise.all(
      todo.slice(i, i + 64).map(async (it) => {
        try {
          const { product } = await fitPhoto(await readImageFile(join(root, it.path)), p, { label: it.path });
          rows.set(it.id, colourHistogram(product.data, product.width, product.height));
        } catch {
          // A photo gone or broken since indexing keeps no colour; the next ingest will drop or redo it.
        }
      }),
    );
    store.putFeatures('colour', rows);
    onProgress?.(Math.min(i + 64, todo.length), todo.length);
  }
  return todo.length;
}

/**
 * Trains the catalog's refinement from its labels and stores the model beside the catalog, with every
 * item's refined vector. Items without labels get vectors from predictions.
 */
export async function trainCatalog(
  store: CatalogStore,
  dataDir: string,
  options: Partial<TrainOptions> & TrainCatalogOptions = {},
): Promise<TrainReport> {
  const identity = storedIdentity(store);
  if (!identity) throw new Error('Expected an indexed catalog to train on');
  await backfillColours(store, (d, t) => options.onProgress?.(`colour evidence ${d}/${t}`));
  const { items, vectors, dims } = store.loadAll();
  const ids = items.map((it) => it.id);
  const colours = store.loadFeatures('colour', ids);
  if (!colours) throw new Error('Expected colour evidence for every item; some photos could not be read again');
  const share = options.augment?.share ?? 0;
  const root = store.getSetting(SETTING_IMAGES_ROOT);
  if (share > 0 && options.augment && root) {
    if (identityKey(options.augment.embedder.identity) !== identityKey(identity)) throw modelMismatch(identity, options.augment.embedder.identity);
    const onCopies = options.onCopies ?? ((d: number, t: number) => options.onProgress?.(`training copies ${d}/${t}`));
    const made = await embedCopies(store, options.augment.embedder, items, { root, share, onProgress: onCopies });
    if (made > 0) options.onProgress?.(`${made} training copies made`);
  }
  const copies = share > 0 ? loadCopies(store, items, dims, share) : undefined;
  const gemm = await Gemm.create(options.threads ?? 2);
  try {
    const { model, report } = await trainRefinement(
      gemm,
      { ids, metadata: items.map((it) => it.metadata), backbones: vectors, colours, backboneDims: dims, backboneKey: identityKey(identity), ...(copies ? { copies } : {}) },
      options,
    );
    await writeRefinedVectors(store, model, gemm);
    await model.save(join(dataDir, REFINE_FILE));
    return report;
  } finally {
    await gemm.close();
  }
}

/** Computes the refined vector of every item (after training, or for items added since). */
export async function writeRefinedVectors(store: CatalogStore, model: RefineModel, gemm: Gemm, onlyMissing = false): Promise<number> {
  const { items, vectors, dims } = store.loadAll();
  let rows = items.map((_, i) => i);
  if (onlyMissing) {
    const have = store.featureIds('refined');
    rows = rows.filter((i) => !have.has(items[i]!.id));
  }
  if (rows.length === 0) return 0;
  const colours = store.loadFeatures('colour', rows.map((i) => items[i]!.id));
  if (!colours) return 0;
  const b = new Float32Array(rows.length * dims);
  rows.forEach((i, r) => b.set(vectors.subarray(i * dims, (i + 1) * dims), r * dims));
  const out = new Map<string, Float32Array>();
  for (let start = 0; start < rows.length; start += 4096) {
    const part = rows.slice(start, start + 4096);
    const { vectors: v } = await model.vectors(gemm, b.subarray(start * dims, (start + part.length) * dims), colours.subarray(start * COLOUR_DIMS, (start + part.length) * COLOUR_DIMS), part.length, part.map((i) => items[i]!.metadata));
    part.forEach((i, r) => out.set(items[i]!.id, v.slice(r * model.dims, (r + 1) * model.dims)));
  }
  store.putFeatures('refined', out);
  return out.size;
}

export interface TrainCatalogOptions {
  readonly threads?: number;
  readonly onProgress?: (message: string) => void;
  /** Train with re-photographed copies of this share of the labelled items, embedded by `embedder` (the catalog's model). */
  readonly augment?: { readonly share: number; readonly embedder: Embedder };
  /** Progress of making the training copies (a bar), instead of a message per batch. */
  readonly onCopies?: (done: number, total: number) => void;
}

/** After an ingest: train when the catalog has labels and no refinement yet, else refine the new items. */
export async function refreshRefinement(store: CatalogStore, dataDir: string, options: TrainCatalogOptions = {}): Promise<{ trained: TrainReport | null; updated: number }> {
  const file = join(dataDir, REFINE_FILE);
  const identity = storedIdentity(store);
  const current = existsSync(file) ? RefineModel.load(file) : null;
  if (!current || !identity || current.header.backboneKey !== identityKey(identity)) {
    if (!hasLabels(store)) return { trained: null, updated: 0 };
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
 * catalog's own model when `config.augment` is above 0. Progress is events.
 */
export async function trainCatalogFolder(
  config: Config,
  options: { readonly epochs: number; readonly seed: number; readonly onProgress?: (message: string) => void; readonly onCopies?: (done: number, total: number) => void },
): Promise<TrainReport> {
  const store = openCatalogStore(config.dataDir);
  let embedder: Embedder | null = null;
  try {
    // Training copies are embedded as the catalog's photos were.
    embedder = config.augment > 0 ? await Embedder.load(embedderOptions(config, storedIdentity(store))) : null;
    return await trainCatalog(store, config.dataDir, {
      epochs: options.epochs,
      seed: options.seed,
      threads: config.threads,
      ...(embedder ? { augment: { share: config.augment, embedder }, ...(options.onCopies ? { onCopies: options.onCopies } : {}) } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } finally {
    store.close();
    await embedder?.close();
  }
}
