/**
 * A shopper photographing a listed product expects that product first. In the "same product" space
 * (src/refine/instanceProjection.ts) the very product, when listed, stands out from every other item; a photo
 * of an unlisted product has a run of look-alikes at about the same similarity. So the item nearest in that
 * space goes first when its cosine exceeds the next item's by the model's gap (chosen on copies of
 * validation items, docs/relevance.md): on validation the gap told a listed product's copy from a clean photo
 * of an unlisted one far better than the cosine itself (ROC area 0.84 against 0.68).
 *
 * `nearest`: the two nearest items in that space (cosine distances), nearest first. Returns the one to put
 * first, or null.
 */
export function sameProductPin<T extends { readonly distance: number }>(nearest: readonly T[], gap: number): T | null {
  const first = nearest[0];
  if (!first) return null;
  const second = nearest[1];
  const margin = second ? second.distance - first.distance : Infinity;
  return margin >= gap ? first : null;
}

/** `neighbors` with `first` moved or inserted first (the same item: the same `key`). */
export function putFirst<T extends { readonly distance: number }>(neighbors: readonly T[], first: T, key: (n: T) => string | number): T[] {
  const k = key(first);
  return [first, ...neighbors.filter((n) => key(n) !== k)];
}
