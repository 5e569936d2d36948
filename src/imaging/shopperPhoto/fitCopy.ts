import { colourHistogram } from '../../refine/colourFeatures.js';
import { fitUnhashed } from '../decode.js';
import type { Preprocess } from '../preprocess.js';
import { fitToTensor } from '../resample.js';

/** A copy as the model reads it: its input row (NCHW floats, one photo) and its colour evidence. */
export interface FittedCopy {
  readonly tensor: Float32Array;
  readonly colour: Float32Array;
}

/**
 * Decodes, isolates and fits one encoded copy for the model, as an ingest prepares a photo (src/embedding/vectorize.ts
 * prepareBatch: fitPhoto, then fitToTensor and the colour histogram of the product the model sees), so that a copy
 * fitted here, on a copy worker, gives the model the same floats as one prepared on the calling thread; without the
 * pixel hash (fitUnhashed), which no copy needs. Throws when the copy cannot be read.
 */
export async function fitCopy(bytes: Uint8Array, p: Preprocess, label: string): Promise<FittedCopy> {
  const { product } = await fitUnhashed(bytes, p, { label });
  const tensor = new Float32Array(3 * p.size * p.size);
  fitToTensor(product, p, tensor, 0);
  return { tensor, colour: colourHistogram(product.data, product.width, product.height) };
}
