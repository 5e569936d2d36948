/**
 * The refined space ranks a photo's results by the network's predicted kind (articleType): the search vector's type part
 * holds its probabilities, and on a shopper's photo of a product the catalog does not list the top 5 are almost always
 * of the kind the network put first (docs/relevance.md, "Kind from the photo's neighbours"). So P@5 on such
 * photos is about how often that guess is right, and the network, trained on catalog photos and copies of them, guesses
 * worse on a phone photo (0.62 of TUNE-style phone-like photos) than on a catalog photo (0.82). The catalog's own labels
 * are a second opinion the network does not hold: the kinds of the photo's nearest catalog items in the same-product
 * space (src/refine/instanceProjection.ts, a projection of backbone and colour learned for identity, not for kind), each
 * weighted by softmax(cosine / temperature). The query's kind probabilities become (1 - weight) x the network's + weight
 * x the neighbours' shares, and the search runs with them (the other parts of the vector are untouched). A catalog
 * without a same-product space searches with the network's guess alone.
 */

/*
 * Chosen on TUNE-style copies and clean photos alone (bench/readings.ts, docs/relevance.md "Kind from the photo's
 * neighbours"): first with neighbours by backbone cosine (`kp-*`, 54 settings of k, temperature, weight and scope: all
 * raised phone-like P@5, 0.638 -> 0.641-0.660, and kept mild and hard copies; k 20, weight 0.5, every photo were best by
 * phone-like and then clean P@5), then the same k and weight with neighbours in the same-product space (`sp-*`): at
 * temperature 0.05 phone-like 0.668 against 0.657, clean 0.834 / strict 0.477, and that space has a graph on a large
 * catalog where the backbone space is an exact scan (~20 ms a query at 6,000 items). Studio shots take it too: clean
 * P@5 and strict P@5 both rose. HELD-OUT styles, read afterwards (bench/generalise.ts): phone-like P@5 0.655 -> 0.684,
 * hard copies' own item in the top 5 0.685 -> 0.735, mild 0.965 -> 0.970, clean 0.822 -> 0.834. Constants, not settings training chooses: choosing them needs the query path's readings
 * of copies, which training does not make (as RERANK_BETA).
 */

/** How many of the nearest catalog items in the same-product space give their kind. */
export const KIND_NEIGHBOURS = 20;
/** Softmax temperature over their cosines (nearer neighbours count more). */
export const KIND_TEMPERATURE = 0.05;
/** The neighbours' share in the query's kind probabilities (0: the network's alone, 1: the neighbours' alone). */
export const KIND_WEIGHT = 0.6;

/*
 * How the two opinions are mixed: 'geometric' (mixKindsGeometric) since issue 21's task on the kind of product in phone
 * photos. Chosen on TUNE-style copies and clean photos alone (bench/readings.ts `ke-*` variants, docs/relevance.md "The kind
 * of product in phone photos"): of the ways tried to get better kind evidence without retraining (the readings' kind
 * probabilities fused by mean, surest reading or entropy; the neighbours of every reading; other weights off a backdrop and
 * for studio shots; sharpened or flattened network probabilities; backbone or kind-blind refined neighbours mixed in), only
 * the geometric mix raised phone-like P@5 (linear at 0.5: 0.665; geometric at 0.5 / 0.6 / 0.7: 0.671 / 0.673 / 0.674) with
 * clean photos kept (0.837 -> 0.839); by the rule set before (the highest clean P@5 within 0.003 of the best phone-like,
 * then one weight for every photo), weight 0.6. Why it helps: a sum lets a sure but wrong network guess keep half its
 * weight however the catalog's neighbours vote; a product needs both opinions to allow a kind, so a kind that none of the
 * photo's 20 nearest same-product neighbours has falls back unless the network is very sure of it.
 */
/** How the network's kind probabilities and the neighbours' shares are mixed (mixKinds or mixKindsGeometric). */
export const KIND_MIX: KindMix = 'geometric';
/** With the geometric mix: the floor each opinion is kept above, so that one opinion alone never rules a kind out. */
export const KIND_FLOOR = 1e-3;
export type KindMix = 'linear' | 'geometric';

/** Each kind's share of the neighbours' votes (shares sum to 1; empty when none has a kind). */
export function neighbourKindShares(neighbours: ReadonlyArray<{ readonly kind: string | undefined; readonly similarity: number }>, temperature: number): Map<string, number> {
  const known = neighbours.filter((n): n is { kind: string; similarity: number } => n.kind !== undefined && Number.isFinite(n.similarity));
  const shares = new Map<string, number>();
  if (known.length === 0) return shares;
  // Similarities relative to the nearest, so that exp() cannot overflow at a low temperature.
  const top = Math.max(...known.map((n) => n.similarity));
  let total = 0;
  for (const n of known) {
    const w = temperature > 0 ? Math.exp((n.similarity - top) / temperature) : 1;
    shares.set(n.kind, (shares.get(n.kind) ?? 0) + w);
    total += w;
  }
  for (const [k, v] of shares) shares.set(k, v / total);
  return shares;
}

/**
 * `probs` (the network's probabilities over `classes`) mixed with the neighbours' `shares`: (1 - weight) x probs +
 * weight x shares. A kind the network has no class for is left out of the mix (the rest is scaled back to sum 1);
 * without any known share the network's probabilities are returned as they are. Returns a new array.
 */
export function mixKinds(probs: Float32Array, classes: readonly string[], shares: ReadonlyMap<string, number>, weight: number): Float32Array {
  const out = new Float32Array(probs);
  if (weight <= 0) return out;
  const neighbours = new Float32Array(classes.length);
  let known = 0;
  classes.forEach((c, j) => {
    const s = shares.get(c) ?? 0;
    neighbours[j] = s;
    known += s;
  });
  if (known <= 0) return out;
  let sum = 0;
  for (const p of probs) sum += p;
  for (let j = 0; j < out.length; j++) out[j] = (1 - weight) * (probs[j]! / (sum || 1)) + (weight * neighbours[j]!) / known;
  return out;
}

/**
 * `probs` mixed with the neighbours' `shares` as a weighted geometric mean: max(p, floor)^(1 - weight) x max(share,
 * floor)^weight, scaled back to sum 1. Kinds the network has no class for are left out as in mixKinds; without any known
 * share (or at weight 0) the network's probabilities are returned as they are. Returns a new array.
 */
export function mixKindsGeometric(probs: Float32Array, classes: readonly string[], shares: ReadonlyMap<string, number>, weight: number, floor = KIND_FLOOR): Float32Array {
  const out = new Float32Array(probs);
  if (weight <= 0) return out;
  let known = 0;
  for (const c of classes) known += shares.get(c) ?? 0;
  if (known <= 0) return out;
  let sum = 0;
  for (const p of probs) sum += p;
  let total = 0;
  classes.forEach((c, j) => {
    out[j] = Math.max(probs[j]! / (sum || 1), floor) ** (1 - weight) * Math.max((shares.get(c) ?? 0) / known, floor) ** weight;
    total += out[j]!;
  });
  for (let j = 0; j < out.length; j++) out[j] = out[j]! / total;
  return out;
}

/** The query's kind probabilities mixed with the neighbours' shares by `mix` (KIND_MIX as shipped). */
export function mixKindsBy(mix: KindMix, probs: Float32Array, classes: readonly string[], shares: ReadonlyMap<string, number>, weight: number): Float32Array {
  return mix === 'geometric' ? mixKindsGeometric(probs, classes, shares, weight) : mixKinds(probs, classes, shares, weight);
}
