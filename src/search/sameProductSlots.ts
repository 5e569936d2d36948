/**
 * Places on the first screen of a photo search for the same-product space's nearest items (src/refine/instanceProjection.ts).
 *
 * Why: the search ranks by the fused vector (refined kind / colour / gender parts + weight² x the same-product part), and
 * on a large catalog that pushes the photographed product itself away. On the 31,776-item catalog of issue 21, of 300
 * hard copies in TUNE styles, the same-product space alone had the own item in its first five 0.710 of the time and the
 * search's answer 0.600; 43 of them were in the former's first five and not in the latter's (docs/relevance.md, "At the
 * scale the issue measures"). The pin (src/search/sameProduct.ts) moves one item, and only when it leads the next by the
 * pin gap; a hard copy's own item is often second or third in that space, close behind a look-alike.
 *
 * The rule: of the same-product space's first `slots` items (the pinned item left out, it is first already), those whose
 * cosine is within `margin` of the nearest one's and at least `minSimilarity` (and, with `sameKind`, whose kind is the one
 * most common among the answer's first five) go to positions `at`, `at + 1`, ... of the answer (never before a pinned first
 * hit), in their same-product order; an item the answer already shows before `at` stays where it is; the rest of the answer
 * follows in its order.
 *
 * Why the kind: the same-product space knows identity, not kind; for a photo of a product the shop does not list, its
 * nearest items are of the photo's kind less often than the answer's (TUNE phone-like photos: first item 0.632 against
 * 0.686). Without the kind test every rule that gained hard copies cost phone-like P@5 more than 0.005; with it the
 * kind the answer's first five agree on (the refinement's and the neighbours' vote) keeps phone-like P@5, and the own
 * item of a hard copy, which the answer lost mostly to look-alikes of the right kind in another colour, still gets in.
 * A colour test as well (the pair kind + colour among the first five) kept hardly any of the gain (0.628 -> 0.632).
 */

export interface SlotRule {
  /** How many of the same-product space's nearest items may be placed (0: the rule is off). */
  readonly slots: number;
  /** The first position (0-based) they take; a pinned first hit keeps position 0 whatever `at` says. */
  readonly at: number;
  /** Placed only when the item's cosine is at least the nearest item's minus this. */
  readonly margin: number;
  /** Placed only when the item's cosine is at least this. */
  readonly minSimilarity: number;
  /** Placed only when of the kind most common among the answer's first five (ties: the one that comes first). */
  readonly sameKind: boolean;
  /** Only for photos taken off a backdrop (src/search/backboneRerank.ts offBackdrop): studio shots keep their ranking. */
  readonly offBackdropOnly: boolean;
}

/**
 * The shipped rule, chosen on TUNE-style copies and clean photos of the 31,776-item catalog (bench/slotProbe.ts dump,
 * bench/slotSim.ts; docs/relevance.md "The same-product space's nearest items on the first screen"): the most hard copies'
 * own items in the top 5 with clean P@5 and strict P@5 within 0.005, phone-like P@5 within 0.005 and its strict P@5 within
 * 0.01, mild copies' own item first not lower. The first of the same-product space's three nearest (within 0.02 of the
 * nearest, of the answer's kind) takes the fifth place: hard 0.628 -> 0.650, clean 0.873 / 0.561 -> 0.873 / 0.561, phone-like
 * 0.696 / 0.365 -> 0.696 / 0.357, mild 0.986 (unchanged: the first four places never move). Two slots from the first place
 * gained one copy more (0.652) and cost phone-like strict P@5 0.011; margins up to 0.1 gained up to 0.004 more and cost
 * strict P@5 more; without the kind test no rule gained more than 0.012 within the allowance.
 */
export const SLOT_RULE: SlotRule = { slots: 3, at: 4, margin: 0.02, minSimilarity: 0, sameKind: true, offBackdropOnly: true };

/**
 * The answer's ids in their new order. `hits`: the answer as ranked (a first hit marked `lookAlike` is the pin); `near`:
 * the photo's nearest items in the same-product space, nearest first, with their cosine. Ids only in `near` are added
 * (the caller makes their hits); the answer's length grows by at most `rule.slots`.
 */
export function placeSlots(
  hits: ReadonlyArray<{ readonly id: string; readonly lookAlike?: boolean; readonly kind?: string }>,
  near: ReadonlyArray<{ readonly id: string; readonly similarity: number; readonly kind?: string }>,
  rule: Omit<SlotRule, 'offBackdropOnly'>,
): string[] {
  const ids = hits.map((h) => h.id);
  if (rule.slots <= 0 || near.length === 0) return ids;
  const pinned = hits[0]?.lookAlike ? hits[0].id : null;
  const start = Math.min(Math.max(rule.at, pinned !== null ? 1 : 0), ids.length);
  const best = near[0]!.similarity;
  const before = new Set(ids.slice(0, start));
  const kind = rule.sameKind ? commonKind(hits.slice(0, 5)) : null;
  const placed = near
    .filter((n) => n.id !== pinned)
    .slice(0, rule.slots)
    .filter((n) => n.similarity >= best - rule.margin && n.similarity >= rule.minSimilarity && !before.has(n.id) && (kind === null || n.kind === kind))
    .map((n) => n.id);
  if (placed.length === 0) return ids;
  const moved = new Set(placed);
  return [...ids.slice(0, start), ...placed, ...ids.slice(start).filter((id) => !moved.has(id))];
}

/** The kind most hits have (ties: the one that comes first); null when none has a kind. */
function commonKind(hits: ReadonlyArray<{ readonly kind?: string }>): string | null {
  const counts = new Map<string, number>();
  for (const h of hits) if (h.kind) counts.set(h.kind, (counts.get(h.kind) ?? 0) + 1);
  let best: string | null = null;
  for (const [k, n] of counts) if (best === null || n > counts.get(best)!) best = k;
  return best;
}
