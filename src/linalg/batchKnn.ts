import type { Gemm } from './gemm.js';
import { TopK } from './topK.js';

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
    for (let i = 0; i < nb; i++) {
      const top = new TopK(k);
      const ex = exclude ? exclude[q0 + i]! : -1;
      const base = i * ng;
      for (let g = 0; g < ng; g++) {
        const dist = -scores[base + g]!;
        if (dist < top.worst() && g !== ex) top.offer(g, dist);
      }
      top.sorted().forEach((nb2, j) => (out[(q0 + i) * k + j] = nb2.row));
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
