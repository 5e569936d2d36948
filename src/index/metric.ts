export type Metric = 'cosine' | 'euclidean';

/** Converts a distance into a similarity score in [0, 1] for display: cosine similarity, or 1/(1+d). */
export function scoreOf(distance: number, metric: Metric): number {
  return metric === 'cosine' ? 1 - distance : 1 / (1 + distance);
}
