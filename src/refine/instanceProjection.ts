import type { Gemm } from '../linalg/gemm.js';
import { l2NormalizeRows } from '../linalg/batchKnn.js';
import { COLOUR_DIMS } from './colourFeatures.js';
import { matVecRows } from '../linalg/matVec.js';
import { cholesky, inverseLower } from '../linalg/cholesky.js';
import { topEigenvectors } from '../linalg/subspace.js';

/**
 * "The same product" similarity, learned from pairs of a catalog photo and its re-photographed copy
 * (src/refine/augment.ts), in the manner of learned whitening for instance retrieval (Radenović et al.):
 * the directions in which a photo and its copy differ (backdrop, light, tilt) are shrunk by whitening with
 * the covariance of copy-minus-original differences, then the catalog's main directions of variation in
 * that space are kept. Input: the unit backbone vector and the unit colour histogram (weighted), so a red
 * and a blue cut of one shirt stay apart. Output: a unit vector; cosine in it ranks the very product first
 * far more often than the backbone does (docs/relevance.md).
 */
export interface InstanceProjection {
  /** Weight of the unit colour histogram beside the unit backbone vector. */
  readonly colourWeight: number;
  readonly backboneDims: number;
  /** Output dimensions. */
  readonly dims: number;
  /** Mean of the joined input over the catalog (backboneDims + COLOUR_DIMS). */
  readonly mean: Float32Array;
  /** dims x (backboneDims + COLOUR_DIMS), row-major. */
  readonly matrix: Float32Array;
}

/** Where the "same product" part sits in a refined search vector, and the gaps that decide on it. */
export interface InstancePart {
  readonly offset: number;
  readonly dims: number;
  /** Margin of cosine by which the nearest item in this space must lead the next to go first (src/search/sameProduct.ts). */
  readonly pinGap: number;
  /** Margin from which `fashion match` names the nearest item in this space as the product photographed. */
  readonly matchGap: number;
}

/** Pin and match gaps of models trained before they were chosen on validation (the values chosen then for the shipped model). */
export const DEFAULT_PIN_GAP = 0.035;
export const DEFAULT_MATCH_GAP = 0.08;

export interface InstanceOptions {
  readonly colourWeight: number;
  /** Ridge added to the difference covariance, as a share of its mean variance. */
  readonly shrinkage: number;
  readonly dims: number;
  /** Subspace iterations for the principal directions. */
  readonly iterations: number;
}

/** Chosen on copies of validation items (not the benchmark's queries): see docs/relevance.md. */
export const DEFAULT_INSTANCE: InstanceOptions = Object.freeze({ colourWeight: 0.3, shrinkage: 0.1, dims: 256, iterations: 25 });

/** Fewer pairs than this cannot estimate the difference covariance of a 1,400-d input. */
export const MIN_INSTANCE_PAIRS = 200;

/** Rows of backbone vectors and colour histograms. */
export interface FeatureRows {
  readonly backbones: Float32Array;
  readonly colours: Float32Array;
}

/** Joined input of one photo: [unit backbone | colourWeight * unit colour]. */
function joinInto(out: Float32Array, offset: number, backbone: ArrayLike<number>, colour: ArrayLike<number>, bd: number, colourWeight: number): void {
  let sb = 0;
  let sc = 0;
  for (let j = 0; j < bd; j++) sb += backbone[j]! * backbone[j]!;
  for (let j = 0; j < COLOUR_DIMS; j++) sc += colour[j]! * colour[j]!;
  const kb = 1 / (Math.sqrt(sb) || 1);
  const kc = colourWeight / (Math.sqrt(sc) || 1);
  for (let j = 0; j < bd; j++) out[offset + j] = backbone[j]! * kb;
  for (let j = 0; j < COLOUR_DIMS; j++) out[offset + bd + j] = colour[j]! * kc;
}

function joinRows(rows: FeatureRows, picks: readonly number[], bd: number, colourWeight: number): Float32Array {
  const d = bd + COLOUR_DIMS;
  const out = new Float32Array(picks.length * d);
  picks.forEach((i, r) => {
    joinInto(out, r * d, rows.backbones.subarray(i * bd, (i + 1) * bd), rows.colours.subarray(i * COLOUR_DIMS, (i + 1) * COLOUR_DIMS), bd, colourWeight);
  });
  return out;
}

/**
 * Learns the projection. `items` are the catalog's rows (`itemRows` of them are used for the mean and the
 * principal directions); pair k is copy `copyRows[k]` of `copies` against item `sources[k]`.
 */
export async function learnInstanceProjection(
  gemm: Gemm,
  items: FeatureRows,
  itemRows: readonly number[],
  copies: FeatureRows,
  pairs: ReadonlyArray<{ copy: number; item: number }>,
  backboneDims: number,
  options: InstanceOptions = DEFAULT_INSTANCE,
): Promise<InstanceProjection> {
  if (pairs.length < MIN_INSTANCE_PAIRS) throw new Error(`Expected at least ${MIN_INSTANCE_PAIRS} photo/copy pairs but got ${pairs.length}`);
  const bd = backboneDims;
  const d = bd + COLOUR_DIMS;
  const cw = options.colourWeight;
  const x = joinRows(items, itemRows, bd, cw);
  const n = itemRows.length;
  const mean = new Float32Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;

  // Covariance of copy-minus-original, with a ridge, then its inverse Cholesky factor (the whitening).
  const copyJoined = joinRows(copies, pairs.map((p) => p.copy), bd, cw);
  const originals = joinRows(items, pairs.map((p) => p.item), bd, cw);
  for (let i = 0; i < copyJoined.length; i++) copyJoined[i]! -= originals[i]!;
  const cov = await gemm.mul(copyJoined, pairs.length, d, copyJoined, pairs.length, d, true, false);
  const a = new Float64Array(d * d);
  let trace = 0;
  for (let i = 0; i < d * d; i++) a[i] = cov[i]! / pairs.length;
  for (let j = 0; j < d; j++) trace += a[j * d + j]!;
  for (let j = 0; j < d; j++) a[j * d + j]! += (options.shrinkage * trace) / d;
  const whiten = Float32Array.from(inverseLower(cholesky(a, d), d));

  // Principal directions of the whitened catalog. Its whitened rows are X W^T, so their scatter is W (X^T X) W^T: the
  // catalog's own scatter (one n x d x d product) between two d x d x d products, instead of whitening all n rows and
  // multiplying those out (two n x d x d products; n, the catalog's size, is ~18x d on the demo catalog).
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j]! -= mean[j]!;
  const scatter = await gemm.mul(x, n, d, x, n, d, true, false);
  const ycov = await gemm.mul(await gemm.mul(whiten, d, d, scatter, d, d), d, d, whiten, d, d, false, true);
  const k = Math.min(options.dims, d);
  const v = await topEigenvectors(gemm, ycov, d, k, options.iterations);
  const matrix = await gemm.mul(v, d, k, whiten, d, d, true, false);
  return { colourWeight: cw, backboneDims: bd, dims: k, mean, matrix };
}

/** Unit instance vector of one photo. */
export function instanceVector(p: InstanceProjection, backbone: Float32Array, colour: Float32Array): Float32Array {
  const d = p.backboneDims + COLOUR_DIMS;
  const x = new Float32Array(d);
  joinInto(x, 0, backbone, colour, p.backboneDims, p.colourWeight);
  for (let j = 0; j < d; j++) x[j]! -= p.mean[j]!;
  return l2NormalizeRows(matVecRows(p.matrix, p.dims, d, x, null), 1, p.dims);
}

/** Unit instance vectors of n photos at once. */
export async function instanceVectors(gemm: Gemm, p: InstanceProjection, rows: FeatureRows, n: number): Promise<Float32Array> {
  const d = p.backboneDims + COLOUR_DIMS;
  const x = joinRows(rows, Array.from({ length: n }, (_, i) => i), p.backboneDims, p.colourWeight);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j]! -= p.mean[j]!;
  return l2NormalizeRows(await gemm.mul(x, n, d, p.matrix, p.dims, d, false, true), n, p.dims);
}
