import type { SearchHit } from './recommender.js';

/**
 * Confidence at and above which the best catalog item is reported as the photographed product (second-hand
 * matching). Chosen on the photo-condition benchmark (bench/conditions.ts; precision and recall in
 * docs/relevance.md): copies of catalog items must match, copies of held-back items (absent from the
 * catalog) must not.
 */
export const MATCH_THRESHOLD = 0.9;

export interface MatchResult {
  /** The matched product, or null: no confident match. */
  readonly match: SearchHit | null;
  /** Confidence of the best candidate: its cosine similarity to the photo (backbone vectors). */
  readonly confidence: number;
  readonly threshold: number;
  /** The best candidates, matched or not, for a person to check. */
  readonly candidates: SearchHit[];
}

/** Decides from the nearest catalog items (best first, cosine) whether the photo shows one of them. */
export function decideMatch(hits: readonly SearchHit[], threshold = MATCH_THRESHOLD): MatchResult {
  const best = hits[0];
  const confidence = best ? best.score : 0;
  return { match: best && confidence >= threshold ? best : null, confidence, threshold, candidates: [...hits] };
}
