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
    for (let i = 0; i < nb; i++) best.scan(scores, i * ng, ng, exclude ? exclude[q0 + i]! : -1, out, (q0 + i) * k);
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
  if (queries.length !== gallery.length || weightings.some((w) => w.length !== queries.length)) throw new Error('Expected one weight per part, and as many query parts as gallery parts');
  const parts = queries.map((_, p) => p).filter((p) => queries[p]!.dims > 0 && weightings.some((w) => w[p] !== 0));
  const constant = parts.filter((p) => weightings.every((w) => w[p] === weightings[0]![p]));
  const varying = parts.filter((p) => !constant.includes(p));
  const outs = weightings.map(() => new Int32Array(nq * k).fill(-1));
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
    // One query's scores at a time, summed into a row that stays in cache and scanned there (the same float32
    // sums as whole-block passes, so the same rows), rather than a pass over the whole block per part and weighting.
    const acc = new Float32Array(ng);
    const best = new RowTop(k);
    weightings.forEach((w, wi) => {
      const out = outs[wi]!;
      for (let i = 0; i < nb; i++) {
        const row = i * ng;
        acc.set(base.subarray(row, row + ng));
        varying.forEach((p, j) => axpy(acc, scores[j]!, w[p]!, row));
        best.scan(acc, 0, ng, -1, out, (q0 + i) * k);
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
 * The k highest-scoring rows of one row of scores, highest first, ties to the lower row: what TopK keeps of the
 * distances -score offered in row order, kept in a small sorted array (an insertion costs a few moves; most rows
 * fail the first comparison) instead of a heap object per query.
 */
class RowTop {
  private readonly dists: Float64Array;
  private readonly rows: Int32Array;

  constructor(private readonly k: number) {
    this.dists = new Float64Array(k);
    this.rows = new Int32Array(k);
  }

  /** Scans scores[offset .. offset + n) (gallery row g at offset + g), skipping row `exclude`; writes the rows found at out[at ..] (-1 left where fewer). */
  scan(scores: Float32Array, offset: number, n: number, exclude: number, out: Int32Array, at: number): void {
    const { k, dists, rows } = this;
    if (k <= 0) return;
    let count = 0;
    let worst = Infinity;
    for (let g = 0; g < n; g++) {
      const dist = -scores[offset + g]!;
      if (!(dist < worst) || g === exclude) continue;
      // Rows arrive in increasing order: a tie keeps the earlier row in front.
      let pos = count < k ? count++ : k - 1;
      while (pos > 0 && dists[pos - 1]! > dist) {
        dists[pos] = dists[pos - 1]!;
        rows[pos] = rows[pos - 1]!;
        pos--;
      }
      dists[pos] = dist;
      rows[pos] = g;
      if (count === k) worst = dists[k - 1]!;
    }
    for (let j = 0; j < count; j++) out[at + j] = rows[j]!;
  }
}
