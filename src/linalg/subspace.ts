import type { Gemm } from './gemm.js';

/**
 * The k leading eigenvectors (columns of a d x k matrix) of a symmetric d x d matrix, by subspace iteration from a fixed
 * start. Each iteration's basis is orthonormalised in blocks of columns (orthonormaliseBlocks): the same span as
 * Gram-Schmidt one column at a time, equal within float32 rounding, with most of the work in matrix products.
 */
export async function topEigenvectors(gemm: Gemm, m: Float32Array, d: number, k: number, iterations: number): Promise<Float32Array> {
  let v: Float32Array = new Float32Array(d * k);
  let seed = 7;
  for (let i = 0; i < v.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    v[i] = seed / 2 ** 32 - 0.5;
  }
  for (let it = 0; it < iterations; it++) {
    v = await gemm.mul(m, d, d, v, d, k);
    await orthonormaliseBlocks(gemm, v, d, k);
  }
  return v;
}

/** Columns per block in orthonormaliseBlocks. */
const BLOCK_COLUMNS = 32;

/**
 * Orthonormalises the columns of a d x k row-major matrix in place, a block of columns at a time (block Gram-Schmidt with
 * reorthogonalisation): the block loses its projection on the columns before it by two matrix products, twice (the
 * second pass removes what float32 rounding left of the first), then its own columns are orthonormalised one at a time
 * (orthonormaliseColumns). The same columns as orthonormaliseColumns on the whole matrix, within float32 rounding: one
 * column at a time, 256 columns of 1,892 cost ~0.18 s of JavaScript, 25 times in the same-product projection.
 */
export async function orthonormaliseBlocks(gemm: Gemm, v: Float32Array, d: number, k: number, block = BLOCK_COLUMNS): Promise<void> {
  for (let c0 = 0; c0 < k; c0 += block) {
    const nb = Math.min(block, k - c0);
    const vb = new Float32Array(d * nb);
    for (let r = 0; r < d; r++) vb.set(v.subarray(r * k + c0, r * k + c0 + nb), r * nb);
    if (c0 > 0) {
      const q = new Float32Array(d * c0);
      for (let r = 0; r < d; r++) q.set(v.subarray(r * k, r * k + c0), r * c0);
      for (let pass = 0; pass < 2; pass++) {
        const s = await gemm.mul(q, d, c0, vb, d, nb, true, false);
        const qs = await gemm.mul(q, d, c0, s, c0, nb);
        for (let i = 0; i < vb.length; i++) vb[i]! -= qs[i]!;
      }
    }
    orthonormaliseColumns(vb, d, nb);
    for (let r = 0; r < d; r++) v.set(vb.subarray(r * nb, (r + 1) * nb), r * k + c0);
  }
}

/**
 * Modified Gram-Schmidt on the columns of a d x k row-major matrix, done on its transpose so that each column is one
 * contiguous run. Each pass over a column subtracts its projection on column p and forms its dot product with column
 * p + 1 from the values just written, the same products summed in the same order as a pass for each: the same columns,
 * byte for byte, with half the passes over memory.
 */
export function orthonormaliseColumns(v: Float32Array, d: number, k: number): void {
  const t = new Float32Array(k * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < k; c++) t[c * d + r] = v[r * k + c]!;
  const col = new Float64Array(d);
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < d; r++) col[r] = t[c * d + r]!;
    let dot = 0;
    if (c > 0) for (let r = 0; r < d; r++) dot += col[r]! * t[r]!;
    for (let p = 0; p < c; p++) {
      const tp = p * d;
      if (p + 1 < c) {
        const tn = tp + d;
        let next = 0;
        for (let r = 0; r < d; r++) {
          const x = col[r]! - dot * t[tp + r]!;
          col[r] = x;
          next += x * t[tn + r]!;
        }
        dot = next;
      } else {
        for (let r = 0; r < d; r++) col[r]! -= dot * t[tp + r]!;
      }
    }
    let s = 0;
    for (let r = 0; r < d; r++) s += col[r]! * col[r]!;
    const inv = 1 / (Math.sqrt(s) || 1);
    for (let r = 0; r < d; r++) t[c * d + r] = col[r]! * inv;
  }
  for (let r = 0; r < d; r++) for (let c = 0; c < k; c++) v[r * k + c] = t[c * d + r]!;
}
