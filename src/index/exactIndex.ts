import { invalid } from '../errors.js';
import type { Metric } from './metric.js';
import type { Neighbor, RowFilter, RowIndex } from './rowIndex.js';
import { TopK } from '../linalg/topK.js';

/**
 * Brute-force k-nearest neighbours over a row-major float32 matrix. Squared norms are computed once, so
 * both metrics cost one dot product per row: cosine = dot / (|q||x|), euclidean² = |q|² + |x|² - 2 dot.
 */
export class ExactIndex implements RowIndex {
  private readonly norms: Float32Array;

  constructor(readonly vectors: Float32Array, readonly dims: number) {
    if (dims <= 0 || vectors.length % dims !== 0) throw invalid('vectors', `a multiple of ${dims} floats`, vectors.length);
    const n = vectors.length / dims;
    this.norms = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      const o = r * dims;
      for (let j = 0; j < dims; j++) s += vectors[o + j]! * vectors[o + j]!;
      this.norms[r] = s;
    }
  }

  get size(): number {
    return this.norms.length;
  }

  /** Exact distances of the given rows, nearest first (ties by row): an approximate index's candidates, re-ranked. */
  rescore(query: Float32Array, rows: readonly number[], metric: Metric): Neighbor[] {
    const q = this.queryNorm(query);
    const top = new TopK(Math.max(rows.length, 1));
    for (const r of rows) top.offer(r, this.distance(query, q, r, metric));
    return top.sorted();
  }

  search(query: Float32Array, k: number, metric: Metric, filter?: RowFilter): Neighbor[] {
    const d = this.dims;
    if (query.length !== d) throw invalid('query', `a vector of ${d} floats`, query.length);
    const q = this.queryNorm(query);
    const top = new TopK(k);
    for (let r = 0, n = this.size; r < n; r++) {
      if (filter && !filter(r)) continue;
      top.offer(r, this.distance(query, q, r, metric));
    }
    return top.sorted();
  }

  private queryNorm(query: Float32Array): { qq: number; qn: number } {
    let qq = 0;
    for (let j = 0; j < this.dims; j++) qq += query[j]! * query[j]!;
    return { qq, qn: Math.sqrt(qq) || 1 };
  }

  /** Cosine distance or euclidean distance from the query to row r. */
  private distance(query: Float32Array, q: { qq: number; qn: number }, r: number, metric: Metric): number {
    const d = this.dims;
    const v = this.vectors;
    const o = r * d;
    let dot = 0;
    let j = 0;
    for (; j + 3 < d; j += 4) {
      dot += v[o + j]! * query[j]! + v[o + j + 1]! * query[j + 1]! + v[o + j + 2]! * query[j + 2]! + v[o + j + 3]! * query[j + 3]!;
    }
    for (; j < d; j++) dot += v[o + j]! * query[j]!;
    return metric === 'cosine' ? 1 - dot / (q.qn * (Math.sqrt(this.norms[r]!) || 1)) : Math.sqrt(Math.max(0, q.qq + this.norms[r]! - 2 * dot));
  }
}
