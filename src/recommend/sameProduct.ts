import type { Neighbor } from '../index/vectorIndex.js';

/**
 * A shopper photographing a listed product expects that product first. In the "same product" space
 * (src/refine/instanceProjection.ts) the very product, when listed, stands out from every other item; a photo
 * of an unlisted product has a run of look-alikes at about the same similarity. So the item nearest in that
 * space goes first when its cosine exceeds the next item's by the model's gap (chosen on copies of
 * validation items, docs/relevance.md): on validation the gap told a listed product's copy from a clean photo
 * of an unlisted one far better than the cosine itself (ROC area 0.84 against 0.68).
 *
 * `nearest`: the two nearest items in that space (cosine distances), nearest first. Returns the row to put
 * first, or null.
 */
export function sameProductPin(nearest: readonly Neighbor[], gap: number): number | null {
  const first = nearest[0];
  if (!first) return null;
  const second = nearest[1];
  const margin = second ? second.distance - first.distance : Infinity;
  return margin >= gap ? first.row : null;
}

/** `neighbors` with `row` (at `distance`) moved or inserted first. */
export function putFirst(neighbors: readonly Neighbor[], first: Neighbor): Neighbor[] {
  return [first, ...neighbors.filter((n) => n.row !== first.row)];
}
