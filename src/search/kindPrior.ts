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
export const KIND_WEIGHT = 0.5;

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
