import usearch from 'usearch';

/**
 * The k nearest rows (cosine) of every query row against a dataset, exactly, in one batched call of usearch's
 * SIMD `exactSearch` (multithreaded) instead of a JavaScript loop per query. Returns rows and cosine distances,
 * `k` per query, nearest first (fewer when the dataset is smaller).
 */
export function exactKnnBatch(dataset: Float32Array, queries: Float32Array, dims: number, k: number, threads = 0): { rows: Int32Array; distances: Float32Array; k: number } {
  const n = dataset.length / dims;
  const kk = Math.min(k, n);
  const m = usearch.exactSearch(dataset, queries, dims, kk, usearch.MetricKind.Cos, threads) as unknown as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array; k?: number };
  const q = queries.length / dims;
  const rows = new Int32Array(q * kk).fill(-1);
  const distances = new Float32Array(q * kk).fill(Infinity);
  // Batched results come as k slots per query; a single query as one list.
  const stride = m.k ?? kk;
  for (let i = 0; i < q; i++) {
    const count = m.counts ? Number(m.counts[i]) : kk;
    for (let j = 0; j < Math.min(count, kk); j++) {
      rows[i * kk + j] = Number(m.keys[i * stride + j]);
      distances[i * kk + j] = m.distances[i * stride + j]!;
    }
  }
  return { rows, distances, k: kk };
}
