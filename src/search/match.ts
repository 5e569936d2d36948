import type { SearchHit } from './types.js';

/**
 * Second-hand matching decides on the margin between the best catalog item and the next one: an exact
 * product stands out from its look-alikes, while a photo of a product the shop does not carry lands among
 * several similar ones. In a catalog whose refinement has a "same product" space (src/refine/instanceProjection.ts)
 * the margin is taken there, against the threshold that training chose on validation copies (the model's
 * matchGap); otherwise on backbone cosine, against the next distinct item (not a duplicate listing of the best),
 * with this threshold, chosen on the photo-condition benchmark for the default backbone (bench/conditions.ts --isolate on;
 * docs/relevance.md): at 0.03 precision 0.86, recall 0.47, where MobileNetV2 alone had 0.81 / 0.42 at 0.02.
 */
export const MATCH_THRESHOLD = 0.03;
/** Below this backbone cosine the best item is not the photographed product, whatever the margin. */
export const MATCH_MIN_SIMILARITY = 0.85;
/** Candidates at least this similar to the best one are the same photo listed twice, not a rival. */
export const SAME_PRODUCT_SIMILARITY = 0.97;

export interface MatchResult {
  /** The matched product, or null: no confident match. */
  readonly match: SearchHit | null;
  /** Margin of the best candidate's similarity over the next distinct candidate's (0 when none). */
  readonly confidence: number;
  /** The best candidate's cosine similarity to the photo. */
  readonly similarity: number;
  readonly threshold: number;
  /** Where similarity was measured: the refinement's same-product space, or the backbone vectors. */
  readonly space: MatchSpace;
  /** The best candidates, matched or not, for a person to check. */
  readonly candidates: SearchHit[];
}

export type MatchSpace = 'same-product' | 'backbone';

/**
 * Decides from the nearest catalog items (best first) whether the photo shows the best one. `rivalScore`
 * is the similarity of the first candidate that is not a duplicate listing of the best (null: none).
 */
export function decideMatch(hits: readonly SearchHit[], rivalScore: number | null, threshold = MATCH_THRESHOLD, space: MatchSpace = 'backbone'): MatchResult {
  const best = hits[0];
  const similarity = best ? best.score : 0;
  const confidence = best ? Math.round((similarity - (rivalScore ?? 0)) * 1e6) / 1e6 : 0;
  // In the same-product space the margin alone decides: there it separated listed from unlisted products better than any floor on similarity.
  const floor = space === 'backbone' ? MATCH_MIN_SIMILARITY : -1;
  const matched = best !== undefined && similarity >= floor && confidence >= threshold;
  return { match: matched ? best : null, confidence, similarity, threshold, space, candidates: [...hits] };
}
