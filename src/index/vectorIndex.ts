export type Metric = 'cosine' | 'euclidean';

export interface Neighbor {
  /** Row of the vector in the index. */
  readonly row: number;
  /** Cosine distance (1 - cosine similarity) or euclidean distance: smaller is closer. */
  readonly distance: number;
}

/** Which rows may be returned; absent means all. */
export type RowFilter = (row: number) => boolean;

/** Exact and approximate indexes answer through the same call, which makes recall a plain comparison. */
export interface VectorIndex {
  readonly size: number;
  readonly dims: number;
  search(query: Float32Array, k: number, metric: Metric, filter?: RowFilter): Neighbor[];
}

/** Converts a distance into a similarity score in [0, 1] for display: cosine similarity, or 1/(1+d). */
export function scoreOf(distance: number, metric: Metric): number {
  return metric === 'cosine' ? 1 - distance : 1 / (1 + distance);
}
