import { FashionError } from '../errors.js';
import { DEFAULT_IMAGE_LIMITS, fitPhoto, type FittedPhoto, type ImageLimits } from '../imaging/decode.js';
import { QUERY_ISOLATION, type IsolateTuning } from '../imaging/isolateProduct.js';
import { type DecodedRgb } from '../imaging/rgb.js';
import type { Preprocess } from '../imaging/preprocess.js';
import { fitToTensor } from '../imaging/resample.js';
import { colourHistogram } from '../refine/colourFeatures.js';
import type { Embedder } from './embedder.js';

export interface PreparedBatch {
  /** NCHW floats of the photos that decoded, in order. */
  readonly tensor: Float32Array;
  /** For each input: its row in `tensor`, or the error that kept it out. */
  readonly slots: ReadonlyArray<number | FashionError>;
  /** Colour evidence of each decoded photo, from the product the model sees (isolated when the model isolates). */
  readonly colours: ReadonlyArray<Float32Array | null>;
  /** Each decoded photo as the model saw it before the fit (the isolated product), with its pixel hash. */
  readonly photos: ReadonlyArray<FittedPhoto | null>;
  readonly count: number;
}

export interface PhotoFeatures {
  readonly vector: Float32Array;
  readonly colour: Float32Array;
}

/** Decodes and fits a batch of encoded photos; a bad photo becomes an error in its slot, never a thrown batch. */
export async function prepareBatch(
  embedder: Embedder,
  photos: ReadonlyArray<{ bytes: Uint8Array | (() => Promise<Uint8Array>); label: string }>,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  readings: 'one' | 'both' = 'one',
): Promise<PreparedBatch> {
  const fitted = await fitPhotos(embedder, photos, limits, readings);
  const ok = (f: FittedPhoto | FashionError): f is FittedPhoto => !(f instanceof FashionError);
  return { ...pack(embedder.identity.preprocess, fitted.map((f) => (ok(f) ? f.product : f))), photos: fitted.map((f) => (ok(f) ? f : null)) };
}

/** A query batch: each photo's own reading and its other readings (balanced, as it is), all in one tensor. */
export interface PreparedReadings extends PreparedBatch {
  /** The other readings, in `tensor` after the photos' own rows: which photo each belongs to, and how it reads it. */
  readonly others: ReadonlyArray<{ readonly i: number; readonly photo: FittedPhoto }>;
}

/** Each photo's features, and those of its other readings, from one inference run. */
export interface ReadingFeatures {
  readonly features: Array<PhotoFeatures | FashionError>;
  readonly others: ReadonlyArray<{ readonly i: number; readonly photo: FittedPhoto; readonly features: PhotoFeatures }>;
}

/**
 * Decodes and fits query photos with every reading of each (fitPhoto, `readings: 'both'`) into one tensor, so that a
 * phone photo's readings share one inference run instead of waiting for a second one; a bad photo is an error in its slot.
 * Query photos are isolated with `isolation` (QUERY_ISOLATION unless the configuration sets a working side: Config.queryWorkingSide),
 * whether or not they get other readings.
 */
export async function prepareReadings(
  embedder: Embedder,
  photos: ReadonlyArray<{ bytes: Uint8Array | (() => Promise<Uint8Array>); label: string }>,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  readings: 'one' | 'both' = 'both',
  isolation: IsolateTuning = QUERY_ISOLATION,
): Promise<PreparedReadings> {
  const fitted = await fitPhotos(embedder, photos, limits, readings, isolation);
  const others: Array<{ i: number; photo: FittedPhoto }> = [];
  fitted.forEach((ph, i) => {
    if (ph instanceof FashionError) return;
    if (ph.balanced) others.push({ i, photo: { product: ph.balanced, isolation: 'balanced', pixelHash: ph.pixelHash } });
    if (ph.asIs) others.push({ i, photo: { product: ph.asIs, isolation: 'unchanged', pixelHash: ph.pixelHash } });
  });
  const packed = pack(embedder.identity.preprocess, [...fitted.map((f) => (f instanceof FashionError ? f : f.product)), ...others.map((o) => o.photo.product)]);
  return {
    tensor: packed.tensor,
    slots: packed.slots.slice(0, fitted.length),
    colours: packed.colours,
    count: packed.count,
    photos: fitted.map((f) => (f instanceof FashionError ? null : f)),
    others,
  };
}

/** Runs a batch prepared by prepareReadings through the model in one run. */
export async function embedReadings(embedder: Embedder, batch: PreparedReadings): Promise<ReadingFeatures> {
  const dims = embedder.dims;
  const out = batch.count > 0 ? await embedder.embedBatch(batch.tensor, batch.count) : new Float32Array(0);
  const row = (r: number) => out.slice(r * dims, (r + 1) * dims);
  const features = batch.slots.map((s, i) => (typeof s === 'number' ? { vector: row(s), colour: batch.colours[i]! } : s));
  // The other readings' rows follow the photos' own, in order.
  const first = batch.slots.filter((s) => typeof s === 'number').length;
  const n = batch.slots.length;
  const others = batch.others.map((o, k) => ({ ...o, features: { vector: row(first + k), colour: batch.colours[n + k]! } }));
  return { features, others };
}

/** Decodes, isolates and fits each photo (with its other readings when asked); a bad photo becomes its error. */
export function fitPhotos(
  embedder: Embedder,
  photos: ReadonlyArray<{ bytes: Uint8Array | (() => Promise<Uint8Array>); label: string }>,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  readings: 'one' | 'both' = 'one',
  isolation?: IsolateTuning,
): Promise<Array<FittedPhoto | FashionError>> {
  const p = embedder.identity.preprocess;
  return Promise.all(
    photos.map(async (ph) => {
      try {
        const bytes = typeof ph.bytes === 'function' ? await ph.bytes() : ph.bytes;
        return await fitPhoto(bytes, p, { limits, label: ph.label, readings, ...(isolation ? { isolation } : {}) });
      } catch (err) {
        return asFashionError(err, ph.label);
      }
    }),
  );
}

/** Backbone vectors and colour evidence of products already decoded and isolated (a photo's second reading). */
export async function embedProducts(embedder: Embedder, products: readonly DecodedRgb[]): Promise<PhotoFeatures[]> {
  const features = await embedPreparedFeatures(embedder, { ...pack(embedder.identity.preprocess, products), photos: [] });
  return features as PhotoFeatures[]; // every slot is a row: no product here can fail
}

/** The model's input tensor and the colour evidence of decoded products; an error keeps its slot. */
function pack(p: Preprocess, products: ReadonlyArray<DecodedRgb | FashionError>): Omit<PreparedBatch, 'photos'> {
  const per = 3 * p.size * p.size;
  const count = products.filter((f) => !(f instanceof FashionError)).length;
  const tensor = new Float32Array(count * per);
  let row = 0;
  const slots = products.map((f) => {
    if (f instanceof FashionError) return f;
    fitToTensor(f, p, tensor, row * per);
    return row++;
  });
  const colours = products.map((f) => (f instanceof FashionError ? null : colourHistogram(f.data, f.width, f.height)));
  return { tensor, slots, colours, count };
}

/** Runs a prepared batch through the model; returns one vector (or the error) per input. */
export async function embedPrepared(embedder: Embedder, batch: PreparedBatch): Promise<Array<Float32Array | FashionError>> {
  return (await embedPreparedFeatures(embedder, batch)).map((f) => (f instanceof FashionError ? f : f.vector));
}

/** The same, with each photo's colour evidence beside its backbone vector. */
export async function embedPreparedFeatures(embedder: Embedder, batch: PreparedBatch): Promise<Array<PhotoFeatures | FashionError>> {
  const dims = embedder.dims;
  const out = batch.count > 0 ? await embedder.embedBatch(batch.tensor, batch.count) : new Float32Array(0);
  return batch.slots.map((s, i) => (typeof s === 'number' ? { vector: out.slice(s * dims, (s + 1) * dims), colour: batch.colours[i]! } : s));
}

export function asFashionError(err: unknown, label: string): FashionError {
  if (err instanceof FashionError) return err;
  return new FashionError('image/corrupt', `Expected to process ${label} but it failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
