import type { Neighbor } from '../index/vectorIndex.js';
import type { InstancePart } from '../refine/instanceProjection.js';

/** How many of a photo search's nearest items are checked for the very product. */
export const SAME_PRODUCT_CANDIDATES = 50;

/**
 * Instance cosine from which the candidate most like the photo goes first. Chosen on copies of validation
 * items (docs/relevance.md, "same product" block): at 0.6 the own item of a re-photographed copy ranked first
 * 0.59 of the time instead of 0.45, while P@5 of clean validation photos, which have no twin, moved by -0.0006.
 */
export const SAME_PRODUCT_PIN = 0.6;

/**
 * A shopper photographing a listed product expects that product first: among the candidates of a photo
 * search, the one with the highest "same product" similarity moves to the top when it reaches the threshold.
 * Returns the candidates in their new order and the row moved, if any.
 */
export function sameProductFirst(
  candidates: readonly Neighbor[],
  query: Float32Array,
  vectorOf: (row: number) => Float32Array,
  part: InstancePart,
  threshold = SAME_PRODUCT_PIN,
): { neighbors: Neighbor[]; pinned: number | null } {
  const end = part.offset + part.dims;
  const scale = 1 / (part.weight * part.weight);
  let best = -1;
  let bestSim = -Infinity;
  candidates.forEach((c, i) => {
    const v = vectorOf(c.row);
    let dot = 0;
    for (let j = part.offset; j < end; j++) dot += query[j]! * v[j]!;
    if (dot * scale > bestSim) [bestSim, best] = [dot * scale, i];
  });
  if (best < 0 || bestSim < threshold) return { neighbors: [...candidates], pinned: null };
  const moved = candidates[best]!;
  return { neighbors: [moved, ...candidates.filter((_, i) => i !== best)], pinned: moved.row };
}
