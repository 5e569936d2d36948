import type { Gemm } from './gemm.js';

/**
 * Top-k neighbours of many queries at once by inner product (cosine on L2-normalised rows), scored in
 * blocks by a matrix product: used to evaluate and tune the refinement over whole catalogs.
 * `exclude[q]` is a gallery row that query q must not return (itself, in leave-one-out), or -1.
 */
export async function batchKnn(gemm: Gemm, queries: Float32Array, nq: number, gallery: Float32Array, ng: number, d: number, k: number, exclude?: Int32Array): Promise<Int32Array> {
  const out = new Int32Array(nq * k).fill(-1);
  const block = Math.max(1, Math.floor(32_000_000 / Math.max(ng, 1)));
  for (let q0 = 0; q0 < nq; q0 += block) {
    const nb = Math.min(block, nq - q0);
    const scores = await gemm.mul(queries.subarray(q0 * d, (q0 + nb) * d), nb, d, gallery, ng, d, false, true);
    const best = new RowTop(k);
    for (let i = 0; i < nb; i++) {
      best.begin();
      best.scan(scores, i * ng, 0, ng, exclude ? exclude[q0 + i]! : -1);
      best.write(out, (q0 + i) * k);
    }
  }
  return out;
}

export function l2NormalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j]! ** 2;
    const inv = 1 / (Math.sqrt(s) || 1);
    for (let j = 0; j < d; j++) x[r * d + j]! *= inv;
  }
  return x;
}

/** One part of many rows' vectors: n x dims, row-major. */
export interface VectorPart {
  readonly data: Float32Array;
  readonly dims: number;
}

/**
 * Top-k gallery rows of every query under several weightings at once, where weighting w scores a pair by
 * sum over parts p of weightings[w][p] x <query part p, gallery part p>. A search vector made of parts each
 * scaled by sqrt(weight) is exactly such a sum, so a whole grid of fusion weights costs one matrix product per
 * part (not one per grid point), then a weighted sum of the scores per grid point. Parts whose weight is the
 * same at every grid point are folded together once. Ties go to the lower row, as in batchKnn.
 */
export async function weightedPartsKnn(
  gemm: Gemm,
  queries: readonly VectorPart[],
  nq: number,
  gallery: readonly VectorPart[],
  ng: number,
  weightings: ReadonlyArray<readonly number[]>,
  k: number,
): Promise<Int32Array[]> {
  return (await weightedPartsKnnPrefixes(gemm, queries, nq, gallery, [ng], weightings, k))[0]!;
}

/**
 * The same against several galleries that are prefixes of one (the first `ends[0]` rows, the first `ends[1]`, ...;
 * ascending, the last the whole gallery): one matrix product per part for all of them, each query's row scanned once
 * with the top k of each prefix taken on the way. Result [prefix][weighting]. The same rows as weightedPartsKnn of
 * each prefix alone.
 */
export async function weightedPartsKnnPrefixes(
  gemm: Gemm,
  queries: readonly VectorPart[],
  nq: number,
  gallery: readonly VectorPart[],
  ends: readonly number[],
  weightings: ReadonlyArray<readonly number[]>,
  k: number,
): Promise<Int32Array[][]> {
  if (queries.length !== gallery.length || weightings.some((w) => w.length !== queries.length)) throw new Error('Expected one weight per part, and as many query parts as gallery parts');
  if (ends.some((e, i) => e < (ends[i - 1] ?? 0))) throw new Error('Expected the gallery prefixes in ascending order');
  const ng = ends.at(-1) ?? 0;
  const parts = queries.map((_, p) => p).filter((p) => queries[p]!.dims > 0 && weightings.some((w) => w[p] !== 0));
  const constant = parts.filter((p) => weightings.every((w) => w[p] === weightings[0]![p]));
  const varying = parts.filter((p) => !constant.includes(p));
  const outs = ends.map(() => weightings.map(() => new Int32Array(nq * k).fill(-1)));
  const block = Math.max(1, Math.floor(8_000_000 / Math.max(ng, 1)));
  for (let q0 = 0; q0 < nq; q0 += block) {
    const nb = Math.min(block, nq - q0);
    const scoresOf = (p: number) => gemm.mul(queries[p]!.data.subarray(q0 * queries[p]!.dims, (q0 + nb) * queries[p]!.dims), nb, queries[p]!.dims, gallery[p]!.data, ng, gallery[p]!.dims, false, true);
    const size = nb * ng;
    // The parts every weighting counts alike, summed once.
    const base = new Float32Array(size);
    for (const p of constant) axpy(base, await scoresOf(p), weightings[0]![p]!);
    const scores: Float32Array[] = [];
    for (const p of varying) scores.push(await scoresOf(p));
    // One query's scores at a time, each gallery row's weighted sum formed and compared in one pass (no score matrix
    // written per weighting): the same float32 sums, in the same order, as adding whole parts to a copy of the base.
    const acc = new Float32Array(ng);
    const best = new RowTop(k);
    weightings.forEach((w, wi) => {
      const terms = varying.map((p, j) => ({ scores: scores[j]!, weight: w[p]! })).filter((t) => t.weight !== 0);
      const fused = terms.length <= 3;
      for (let i = 0; i < nb; i++) {
        const row = i * ng;
        if (!fused) {
          acc.set(base.subarray(row, row + ng));
          for (const t of terms) axpy(acc, t.scores, t.weight, row);
        }
        best.begin();
        let from = 0;
        ends.forEach((end, e) => {
          if (fused) best.scanSum(base, terms, row, from, end);
          else best.scan(acc, 0, from, end, -1);
          best.write(outs[e]![wi]!, (q0 + i) * k);
          from = end;
        });
      }
    });
  }
  return outs;
}

/** y += a * x[from ...]. */
function axpy(y: Float32Array, x: Float32Array, a: number, from = 0): void {
  if (a === 0) return;
  for (let i = 0; i < y.length; i++) y[i]! += a * x[from + i]!;
}

/**
 * The k highest-scoring gallery rows of one query, highest first, ties to the lower row: what TopK keeps of the
 * distances -score offered in row order, kept in a small sorted array (an insertion costs a few moves; most rows
 * fail the first comparison) instead of a heap object per query. Rows are offered in ascending order, over one or
 * more consecutive ranges (begin, then scan or scanSum per range, then write).
 */
class RowTop {
  private readonly dists: Float64Array;
  private readonly rows: Int32Array;
  private count = 0;
  private worst = Infinity;

  constructor(private readonly k: number) {
    this.dists = new Float64Array(k);
    this.rows = new Int32Array(k);
  }

  begin(): void {
    this.count = 0;
    this.worst = Infinity;
  }

  /** Offers rows [g0, g1) with scores[offset + g], skipping row `exclude`. */
  scan(scores: Float32Array, offset: number, g0: number, g1: number, exclude: number): void {
    if (this.k <= 0) return;
    let worst = this.worst;
    for (let g = g0; g < g1; g++) {
      const dist = -scores[offset + g]!;
      if (dist < worst && g !== exclude) worst = this.insert(g, dist);
    }
    this.worst = worst;
  }

  /**
   * Offers rows [g0, g1) with scores base[offset + g] + the sum of weight x scores[offset + g] over up to three
   * terms, rounded to float32 after every term as a Float32Array accumulator would be.
   */
  scanSum(base: Float32Array, terms: ReadonlyArray<{ scores: Float32Array; weight: number }>, offset: number, g0: number, g1: number): void {
    if (terms.length > 3) throw new Error('Expected at most three weighted terms');
    if (this.k <= 0) return;
    const fround = Math.fround;
    const s0 = terms[0]?.scores ?? base, a0 = terms[0]?.weight ?? 0;
    const s1 = terms[1]?.scores ?? base, a1 = terms[1]?.weight ?? 0;
    const s2 = terms[2]?.scores ?? base, a2 = terms[2]?.weight ?? 0;
    let worst = this.worst;
    switch (terms.length) {
      case 0:
        for (let g = g0, i = offset + g0; g < g1; g++, i++) {
          const dist = -base[i]!;
          if (dist < worst) worst = this.insert(g, dist);
        }
        break;
      case 1:
        for (let g = g0, i = offset + g0; g < g1; g++, i++) {
          const dist = -fround(base[i]! + a0 * s0[i]!);
          if (dist < worst) worst = this.insert(g, dist);
        }
        break;
      case 2:
        for (let g = g0, i = offset + g0; g < g1; g++, i++) {
          const dist = -fround(fround(base[i]! + a0 * s0[i]!) + a1 * s1[i]!);
          if (dist < worst) worst = this.insert(g, dist);
        }
        break;
      default:
        for (let g = g0, i = offset + g0; g < g1; g++, i++) {
          const dist = -fround(fround(fround(base[i]! + a0 * s0[i]!) + a1 * s1[i]!) + a2 * s2[i]!);
          if (dist < worst) worst = this.insert(g, dist);
        }
    }
    this.worst = worst;
  }

  /** The rows kept so far, best first, at out[at ..] (-1 left where fewer). */
  write(out: Int32Array, at: number): void {
    for (let j = 0; j < this.count; j++) out[at + j] = this.rows[j]!;
  }

  /** Puts row g (later than every row kept) in its place; returns the distance a row must now beat. */
  private insert(g: number, dist: number): number {
    const { k, dists, rows } = this;
    let pos = this.count < k ? this.count++ : k - 1;
    // A tie keeps the earlier row in front.
    while (pos > 0 && dists[pos - 1]! > dist) {
      dists[pos] = dists[pos - 1]!;
      rows[pos] = rows[pos - 1]!;
      pos--;
    }
    dists[pos] = dist;
    rows[pos] = g;
    return this.count === k ? dists[k - 1]! : Infinity;
  }
}
