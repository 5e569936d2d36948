import type { RowDistance } from '../linalg/topK.js';
import type { Metric } from './metric.js';

/**
 * The in-process search engines (exact k-NN, usearch HNSW) work on rows of one float32 matrix. They sit
 * behind the id-based port of src/index/vectorIndex.ts; nothing outside src/index sees rows.
 * A neighbour is a row and its cosine or euclidean distance (smaller is closer).
 */
export type Neighbor = RowDistance;

/** Which rows may be returned; absent means all. */
export type RowFilter = (row: number) => boolean;

/** Exact and approximate engines answer through the same call, which makes recall a plain comparison. */
export interface RowIndex {
  readonly size: number;
  readonly dims: number;
  search(query: Float32Array, k: number, metric: Metric, filter?: RowFilter): Neighbor[];
}
