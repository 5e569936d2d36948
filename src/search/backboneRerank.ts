import type { IsolatedProduct } from '../imaging/isolateProduct.js';

/**
 * The refined space ranks by predicted kind and colour and gives up some of the identity the backbone keeps: on hard
 * shopper-photo copies the backbone alone finds the photographed item in the top 5 more often than the refined search
 * (docs/relevance.md, "Re-ranking by backbone similarity"). So a photo search takes the refined space's nearest
 * candidates and orders them again by refined similarity + `beta` x the photo's backbone cosine to each candidate:
 * the refined space still decides which items are candidates (kind, colour), the backbone breaks ties between them
 * in favour of the item that looks like the photo pixel for pixel.
 */

/** How many of the refined space's nearest items are ordered again (the photographed item is almost always among them). */
export const RERANK_DEPTH = 100;

/**
 * The weight of backbone cosine against refined similarity, chosen on TUNE-style shopper copies with clean photos held
 * within 0.005 of P@5 (bench/readings.ts `rr2d100`, docs/relevance.md "Re-ranking by backbone similarity"): among 0.1-4,
 * 2 gave the most own items of hard copies and phone-like P@5 on TUNE styles; 4 cost clean photos 0.007. A constant, not a
 * setting training chooses: choosing it needs the query path's readings of copies (isolation, the averaged reading), which
 * training does not make; training could choose it per catalog on its validation copies once it does. 0 turns it off.
 */
export const RERANK_BETA = 2;

/**
 * `hits` (refined nearest first, `score` = refined similarity) ordered by score + beta x backbone similarity, the
 * backbone similarity of hit i being `backbone[i]` (null: unknown, counted as the lowest seen). A hit marked
 * `lookAlike` (the same-product pin, src/search/sameProduct.ts) stays first: the pin is the sharper identity signal.
 * Ties keep the refined order. Returns a new array; `hits` is untouched.
 */
export function rerankByBackbone<T extends { readonly score: number; readonly lookAlike?: boolean }>(
  hits: readonly T[],
  backbone: ReadonlyArray<number | null>,
  beta: number,
): T[] {
  if (beta === 0 || hits.length < 2) return [...hits];
  const known = backbone.filter((b): b is number => b !== null && Number.isFinite(b));
  const floor = known.length > 0 ? Math.min(...known) : 0;
  const pinned = hits[0]?.lookAlike ? 1 : 0;
  const rest = hits.slice(pinned).map((h, i) => {
    const b = backbone[i + pinned];
    return { h, i, key: h.score + beta * (b !== null && b !== undefined && Number.isFinite(b) ? b : floor) };
  });
  rest.sort((a, b) => b.key - a.key || a.i - b.i);
  return [...hits.slice(0, pinned), ...rest.map((r) => r.h)];
}

/**
 * Whether isolation took the photo's product off a backdrop (replaced it, or read it as a studio shot under other light):
 * a shopper's photo. Only those are re-ranked by backbone similarity. On studio shots (catalog-style photos, white or
 * near-white backdrops) the re-rank at beta 2 kept P@5 (0.823 -> 0.821) but cost strict P@5 (kind and colour) 0.467 ->
 * 0.433 on the 6,000-item catalog, while on shoppers' photos it is what finds the very product (docs/relevance.md,
 * "Re-ranking by backbone similarity").
 */
export function offBackdrop(isolation: IsolatedProduct['method'] | undefined): boolean {
  return isolation === 'replaced' || isolation === 'balanced';
}
