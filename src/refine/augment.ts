import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Embedder } from '../embedding/embedder.js';
import { readImageFile } from '../imaging/decode.js';
import { PHOTO_CONDITIONS, rephotograph, type PhotoConditions } from '../imaging/rephotograph.js';
import { trainingRecipe, type CopyRecipe } from '../imaging/shopperPhoto/recipe.js';
import { fitCopy, type FittedCopy } from '../imaging/shopperPhoto/fitCopy.js';
import { CopyPool, CopyWorkerStopped } from '../imaging/shopperPhoto/copyPool.js';
import { renderCopy } from '../imaging/shopperPhoto/render.js';
import { softenCopy } from '../imaging/shopperPhoto/softenCopy.js';
import { mulberry32 } from '../util/random.js';
import type { CatalogStore, StoredItem } from '../store/catalogStore.js';
import { COLOUR_DIMS } from './colourFeatures.js';

/**
 * Training copies: seeded shopper-photo versions of catalog photos (src/imaging/shopperPhoto/, TUNE styles),
 * embedded the way a shopper's photo is, so that the refinement learns to label a phone photo as it labels
 * the studio shot it shows. Stored per item (feature kind 'copy': backbone vector then colour evidence), so
 * retraining reuses them; re-embedding an item's photo drops its copy.
 */
export interface TrainingCopies {
  /** Row (in the item list given to `loadCopies`) of each copy's original. */
  readonly sources: Int32Array;
  /** count x backboneDims. */
  readonly backbones: Float32Array;
  /** count x COLOUR_DIMS. */
  readonly colours: Float32Array;
}

/** Which items get a copy: a share of them, chosen by id hash (the same on every run). */
export function getsCopy(id: string, share: number): boolean {
  const h = createHash('sha256').update(`fashion-copy:${id}`).digest();
  return h.readUInt32BE(0) / 0x100000000 < share;
}

/**
 * The older generator's training conditions (src/imaging/rephotograph.ts): each of its benchmark conditions, at its full
 * range, on with even odds (at least one). Kept to compare against (bench/generalise.ts --copies rephotograph).
 */
export function copyConditions(rng: () => number): PhotoConditions {
  const all = PHOTO_CONDITIONS.all;
  const parts: Array<keyof typeof all> = ['background', 'rotateDeg', 'frame', 'light', 'blur', 'jpeg'];
  let on = parts.filter(() => rng() < 0.5);
  if (on.length === 0) on = [parts[Math.floor(rng() * parts.length)]!];
  return Object.fromEntries(on.map((k) => [k, all[k]])) as PhotoConditions;
}

/**
 * Makes one training copy of an item's photo. `seed` is the item's own; `photoOf(pick)` reads some other catalog
 * photo (chosen by the number), for backdrops cut from other photos.
 */
export type CopyMaker = (photo: Uint8Array, seed: number, photoOf: (pick: number) => Promise<Uint8Array>) => Promise<Buffer>;

/**
 * The default: a shopper-photo copy (src/imaging/shopperPhoto/) whose families are each on with even odds and whose
 * styles come from the TUNE side of the split only, so that the benchmark's held-out styles stay unseen by training.
 */
export const shopperCopy: CopyMaker = shopperCopyWith(renderCopy);

/** The same copies, rendered by `render` (a CopyPool's, on worker threads). */
export function shopperCopyWith(render: typeof renderCopy): CopyMaker {
  return async (photo, seed, photoOf) => {
    const { recipe, texture } = await shopperRecipe(seed, photoOf);
    return render(photo, recipe, texture);
  };
}

/**
 * Shopper-photo copies of which half also lose detail (softenCopy: reduced and enlarged back, a TUNE-side style), drawn
 * from the item's seed apart from the recipe's draws, so the other half are the very copies `shopperCopy` makes.
 * Compared with bench/generalise.ts --copies shopper-soft.
 */
export const softShopperCopy: CopyMaker = async (photo, seed, photoOf) => {
  const copy = await shopperCopy(photo, seed, photoOf);
  const rng = mulberry32((seed ^ 0x9e3779b9) >>> 0);
  return rng() < 0.5 ? softenCopy(copy, rng) : copy;
};

/** A training copy's recipe from its seed, with the other catalog photo its backdrop is cut from when it has one. */
async function shopperRecipe(seed: number, photoOf: (pick: number) => Promise<Uint8Array>): Promise<{ recipe: CopyRecipe; texture: Uint8Array | undefined }> {
  const recipe = trainingRecipe(mulberry32(seed));
  return { recipe, texture: recipe.backdrop?.style === 'photo' ? await photoOf(recipe.backdrop.texture.pick) : undefined };
}

/** The older generator's training copies, as training made them before the shopper-photo generator (for comparison). */
export const rephotographCopy: CopyMaker = (photo, seed) => {
  const rng = mulberry32(seed);
  return rephotograph(photo, copyConditions(rng), rng);
};

/**
 * Makes and embeds the copies that the items chosen by `share` lack. A photo that cannot be read or copied
 * is skipped (it simply gets no copy). Returns how many copies were added. Copies stored before by another
 * generator are kept (drop the catalog's 'copy' features to make them again).
 *
 * The work is a pipeline, so that no stage waits for another: by default the copy workers (one per core) render each
 * copy and also decode, isolate and fit it for the model (CopyPool.renderFitted; isolating a phone-sized copy costs
 * about as much as rendering it), `ahead` batches ahead of the batch in the model, while the calling thread only
 * reads photos, hands rows to the inference thread and stores vectors. Batches are the same `batchSize` slices of the
 * same list in the same order as before, and each copy's input row is what prepareBatch would have made of its JPEG,
 * so the stored vectors are the same (bench/trainingCopies.ts checks it against a catalog's stored copies).
 */
export async function embedCopies(
  store: CatalogStore,
  embedder: Embedder,
  items: readonly StoredItem[],
  options: { root: string; share: number; batchSize?: number; ahead?: number; atOnce?: number; onProgress?: (done: number, total: number) => void; makeCopy?: CopyMaker },
): Promise<number> {
  const have = await store.featureIds('copy');
  const todo = items.filter((it) => it.metadata.articleType && getsCopy(it.id, options.share) && !have.has(it.id));
  const batchSize = options.batchSize ?? 32;
  const ahead = Math.max(1, options.ahead ?? 2);
  const p = embedder.identity.preprocess;
  // By default the copies are rendered and fitted on worker threads, one per core (their pixel passes are JavaScript).
  // `atOnce`: copies each worker makes at a time (CopyPool.create; the default unless a bench compares another).
  const pool = options.makeCopy || todo.length === 0 ? null : CopyPool.create(Math.min(2, availableParallelism()), options.atOnce);
  const makeCopy = options.makeCopy;
  const photoOf = (pick: number) => readImageFile(join(options.root, items[pick % items.length]!.path));
  const fitted = async (it: StoredItem): Promise<FittedCopy | null> => {
    try {
      const seed = createHash('sha256').update(`copy:${it.id}`).digest().readUInt32BE(0);
      const photo = await readImageFile(join(options.root, it.path));
      if (makeCopy) return await fitCopy(await makeCopy(photo, seed, photoOf), p, `copy of ${it.path}`);
      const { recipe, texture } = await shopperRecipe(seed, photoOf);
      return await pool!.renderFitted(photo, recipe, texture, p);
    } catch (err) {
      // One photo that cannot be copied gets no copy; stopped workers would fail every copy, which is no photo's fault.
      if (err instanceof CopyWorkerStopped) throw err;
      return null;
    }
  };
  const batches: StoredItem[][] = [];
  for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
  const started: Array<Promise<Array<FittedCopy | null>>> = [];
  const start = (k: number) => {
    if (k >= batches.length) return;
    const batch = Promise.all(batches[k]!.map(fitted));
    // Awaited in turn below; a failure meanwhile (stopped workers) is never left unhandled.
    batch.catch(() => undefined);
    started[k] = batch;
  };
  const dims = embedder.dims;
  let added = 0;
  let done = 0;
  try {
    for (let k = 0; k < ahead; k++) start(k);
    for (let k = 0; k < batches.length; k++) {
      const part = batches[k]!;
      const rows = await started[k]!;
      // The next batch's copies start now, while this one is in the model.
      start(k + ahead);
      const kept = part.flatMap((it, j) => (rows[j] ? [{ it, row: rows[j] }] : []));
      const per = 3 * p.size * p.size;
      const tensor = new Float32Array(kept.length * per);
      kept.forEach(({ row }, j) => tensor.set(row.tensor, j * per));
      const out = kept.length > 0 ? await embedder.embedBatch(tensor, kept.length) : new Float32Array(0);
      const vectors = new Map<string, Float32Array>();
      kept.forEach(({ it, row }, j) => {
        const v = new Float32Array(dims + COLOUR_DIMS);
        v.set(out.subarray(j * dims, (j + 1) * dims));
        v.set(row.colour, dims);
        vectors.set(it.id, v);
      });
      await store.putFeatures('copy', vectors);
      added += vectors.size;
      done += part.length;
      options.onProgress?.(done, todo.length);
    }
  } finally {
    await pool?.close();
  }
  return added;
}

/** The stored copies of the items that `share` chooses (those that have one), with the row in `items` of each copy's original. */
export async function loadCopies(store: CatalogStore, items: readonly StoredItem[], backboneDims: number, share: number): Promise<TrainingCopies> {
  const have = await store.featureIds('copy');
  const rows = items.map((it, i) => (have.has(it.id) && getsCopy(it.id, share) ? i : -1)).filter((i) => i >= 0);
  const packed = rows.length > 0 ? await store.loadFeatures('copy', rows.map((i) => items[i]!.id)) : new Float32Array(0);
  const width = backboneDims + COLOUR_DIMS;
  if (!packed || packed.length !== rows.length * width) return { sources: new Int32Array(0), backbones: new Float32Array(0), colours: new Float32Array(0) };
  const backbones = new Float32Array(rows.length * backboneDims);
  const colours = new Float32Array(rows.length * COLOUR_DIMS);
  rows.forEach((_, r) => {
    backbones.set(packed.subarray(r * width, r * width + backboneDims), r * backboneDims);
    colours.set(packed.subarray(r * width + backboneDims, (r + 1) * width), r * COLOUR_DIMS);
  });
  return { sources: Int32Array.from(rows), backbones, colours };
}
