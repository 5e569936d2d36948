/**
 * The refined space ranks a photo's results by the network's predicted kind (articleType): the search vector's type part
 * holds its probabilities, and on a shopper's photo of a product the catalog does not list the top 5 are almost always
 * of the kind the network put first (docs/relevance.md, "Kind from the photo's backbone neighbours"). So P@5 on such
 * photos is about how often that guess is right, and the network, trained on catalog photos and copies of them, guesses
 * worse on a phone photo (0.62 of TUNE-style phone-like photos) than on a catalog photo (0.82). The catalog's own labels
 * are a second opinion the network does not hold: the kinds of the photo's nearest catalog items by backbone cosine,
 * each weighted by softmax(cosine / temperature). The query's kind probabilities become (1 - weight) x the network's
 * + weight x the neighbours' shares, and the search runs with them (the other parts of the vector are untouched).
 */

/*
 * The three constants were chosen together on TUNE-style copies and clean photos alone (bench/readings.ts `kp-*` variants,
 * docs/relevance.md "Kind from the photo's backbone neighbours"): of 54 settings (k 10 / 20 / 50, temperature 0.01 / 0.02 /
 * 0.05, weight 0.35 / 0.5 / 0.65, photos off a backdrop only or every photo) all raised phone-like P@5 (0.638 -> 0.641-0.660)
 * and kept mild and hard copies; of those within 0.003 of the best, this one raised clean P@5 most (0.822 -> 0.835, strict
 * 0.466 -> 0.477), so studio shots take it too. On HELD-OUT styles, read once afterwards: phone-like 0.655 -> 0.671, hard
 * copies' own item in the top 5 0.685 -> 0.760, mild 0.965 -> 0.975. Constants, not settings training chooses: choosing
 * them needs the query path's readings of copies, which training does not make (as RERANK_BETA).
 */

/** How many of the nearest catalog items by backbone cosine give their kind. */
export const KIND_NEIGHBOURS = 20;
/** Softmax temperature over their backbone cosines (nearer neighbours count more). */
export const KIND_TEMPERATURE = 0.02;
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
