import { precisionAtK } from '../../eval/metrics.js';
import { availableParallelism } from 'node:os';
import { batchKnn, type VectorPart } from '../../linalg/batchKnn.js';
import { weightedPartsKnnPrefixesParallel } from '../../linalg/parallelKnn.js';
import type { RowDistance } from '../../linalg/topK.js';
import type { Gemm } from '../../linalg/gemm.js';
import { sameProductPin } from '../../search/sameProduct.js';
import type { Metadata } from '../../store/catalogStore.js';
import { COLOUR_DIMS } from '../colourFeatures.js';
import type { NetworkRows, RefineModel } from '../refineModel.js';
import type { MlpWeights } from '../mlp.js';
import { pickRows, type TrainingData, type TrainingSet } from './dataset.js';

/** A pin gap that never moves an item (cosines differ by at most 2). */
export const NO_PIN = 2;

/** Queries of one kind (clean validation photos, or copies of validation items) with their truths. */
export interface Queries {
  readonly b: Float32Array;
  readonly c: Float32Array;
  readonly truths: readonly Metadata[];
}

/**
 * What every tuning stage measures against: every labelled item packed once (fit items first, so the fit items'
 * rows and search vectors are its prefix and the validation items' its suffix), the clean and copy queries, and
 * P@5 of first-five rows, as a photo search ranks them.
 */
export class Validation {
  readonly everyRow: number[];
  readonly everything: { b: Float32Array; c: Float32Array };
  readonly everyTruth: Metadata[];
  /** The fit items alone (the gallery of clean and copy queries whose product is not listed). */
  readonly fitGallery: { b: Float32Array; c: Float32Array };
  readonly fitTruths: Metadata[];
  readonly cleanQueries: Queries;
  readonly copyQueries: Queries | null;

  constructor(
    readonly gemm: Gemm,
    readonly data: TrainingData,
    readonly set: TrainingSet,
  ) {
    const bd = data.backboneDims;
    const { fit, val, valCopies } = set;
    this.everyRow = [...fit, ...val];
    this.everything = pickRows(data, this.everyRow, bd);
    this.everyTruth = this.everyRow.map((i) => data.metadata[i]!);
    this.fitGallery = { b: this.everything.b.subarray(0, fit.length * bd), c: this.everything.c.subarray(0, fit.length * COLOUR_DIMS) };
    this.fitTruths = this.everyTruth.slice(0, fit.length);
    this.cleanQueries = { b: this.everything.b.subarray(fit.length * bd), c: this.everything.c.subarray(fit.length * COLOUR_DIMS), truths: this.everyTruth.slice(fit.length) };
    const copies = data.copies;
    this.copyQueries = valCopies.length > 0 ? { ...pickRows(copies!, valCopies, bd), truths: valCopies.map((k) => data.metadata[copies!.sources[k]!]!) } : null;
  }

  /** The network's outputs for every labelled item and for the copy queries, by weights: each is run once for every stage. */
  private readonly networks = new WeakMap<MlpWeights, { every?: Promise<NetworkRows>; copies?: Promise<NetworkRows> }>();

  /** The network's outputs for every labelled item (the rows of `everything`: fit items, then validation items). */
  everyNetwork(model: RefineModel): Promise<NetworkRows> {
    const memo = this.memo(model);
    return (memo.every ??= model.network(this.gemm, this.everything.b, this.everything.c, this.everyRow.length));
  }

  /** The network's outputs for the copies of validation items (the rows of copyQueries). */
  copyNetwork(model: RefineModel): Promise<NetworkRows> | null {
    const q = this.copyQueries;
    if (!q) return null;
    const memo = this.memo(model);
    return (memo.copies ??= model.network(this.gemm, q.b, q.c, this.set.valCopies.length));
  }

  private memo(model: RefineModel): { every?: Promise<NetworkRows>; copies?: Promise<NetworkRows> } {
    let memo = this.networks.get(model.weights);
    if (!memo) this.networks.set(model.weights, (memo = {}));
    return memo;
  }

  /** Share of rows whose predicted label is the truth, per head (truth r against row from + r of probs); rows without that label do not count. */
  headAccuracy(model: RefineModel, probs: Float32Array[], truths: readonly Metadata[], from = 0): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.set.heads) {
      let ok = 0;
      let count = 0;
      truths.forEach((m, r) => {
        const truth = m[h.field];
        if (!truth) return;
        count++;
        if (model.predictions(probs, from + r)[h.field]!.value === truth) ok++;
      });
      out[h.field] = round(ok / Math.max(1, count));
    }
    return out;
  }

  /**
   * Each query's first 5 gallery rows under each of several weightings of the vectors' parts (one matrix product
   * per part for the whole grid; see weightedPartsKnn): the same rows as batchKnn of each weighting's search vectors.
   */
  async gridTop(q: readonly VectorPart[], nq: number, g: readonly VectorPart[], ng: number, weightings: ReadonlyArray<readonly number[]>): Promise<Int32Array[]> {
    return (await this.gridTopPrefixes(q, nq, g, [ng], weightings))[0]!;
  }

  /** gridTop against galleries that are the first ends[0], ends[1], ... rows of `g`, in one pass: [prefix][weighting]. */
  gridTopPrefixes(q: readonly VectorPart[], nq: number, g: readonly VectorPart[], ends: readonly number[], weightings: ReadonlyArray<readonly number[]>): Promise<Int32Array[][]> {
    // Half the queries on a worker thread: the scans are JavaScript on the calling thread (parallelKnn.ts).
    return weightedPartsKnnPrefixesParallel(this.gemm, q, nq, g, ends, weightings, 5, Math.min(2, availableParallelism()));
  }

  /** The same rows as a photo search returns them: the very product first when it stands out (src/search/sameProduct.ts). */
  withPin(top: Int32Array, nearest: RowDistance[][] | null, gap: number): Int32Array {
    if (!nearest || gap >= NO_PIN) return top;
    const out = top.slice();
    nearest.forEach((near, r) => {
      const pin = sameProductPin(near, gap)?.row ?? null;
      if (pin !== null) out.set([pin, ...Array.from(top.subarray(r * 5, r * 5 + 5)).filter((x) => x !== pin)].slice(0, 5), r * 5);
    });
    return out;
  }

  /** P@5 and strict P@5 of first-five rows of the fit items against the queries' truths. */
  precision(top: Int32Array, truths: readonly Metadata[]): { p: number; s: number } {
    let p = 0, s = 0;
    truths.forEach((truth, r) => {
      const atK = precisionAtK(truth, Array.from(top.subarray(r * 5, r * 5 + 5), (row) => this.fitTruths[row]!), 5);
      p += atK.type;
      s += atK.strict;
    });
    return { p: p / truths.length, s: s / truths.length };
  }

  /** The two gallery rows nearest each query in the "same product" space (unit rows), with their cosine distances. */
  nearestTwo(q: Float32Array, nq: number, g: Float32Array, ng: number, d: number): Promise<RowDistance[][]> {
    return nearestTwo(this.gemm, q, nq, g, ng, d);
  }
}

/** The two gallery rows nearest each query (unit rows), with their cosine distances. */
export async function nearestTwo(gemm: Gemm, q: Float32Array, nq: number, g: Float32Array, ng: number, d: number): Promise<RowDistance[][]> {
  const rows = await batchKnn(gemm, q, nq, g, ng, d, 2);
  return Array.from({ length: nq }, (_, r) =>
    [rows[r * 2]!, rows[r * 2 + 1]!].filter((row) => row >= 0).map((row) => {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += q[r * d + j]! * g[row * d + j]!;
      return { row, distance: 1 - dot };
    }),
  );
}

/** Rows of concatenated parts (n x sum of sizes) split into one matrix per part. */
export function splitParts(vectors: Float32Array, n: number, sizes: readonly number[]): VectorPart[] {
  const d = sizes.reduce((a, b) => a + b, 0);
  let offset = 0;
  return sizes.map((dims) => {
    const data = new Float32Array(n * dims);
    for (let r = 0; r < n; r++) data.set(vectors.subarray(r * d + offset, r * d + offset + dims), r * dims);
    offset += dims;
    return { data, dims };
  });
}

export function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
