/**
 * A photo's search vector with some of its parts weighed differently at query time (src/refine/refineModel.ts: the parts
 * are type, base colour, colour histogram, hidden layer, gender, then "same product"; each is scaled to its fusion weight
 * when the vector is made). Cosine search reads the query's parts in proportion to their lengths, so multiplying one part
 * by x multiplies its share of every item's dot product by x; the catalog's item vectors are left as they are.
 *
 * Why: a photo taken off a backdrop (phone light, casts, a room behind it) is where the refinement misreads colour most,
 * and its own item is then lost to look-alikes of the right kind in the colour it read (docs/relevance.md, "The same-product
 * space's nearest items on the first screen"). The pipeline applies OFF_BACKDROP_SCALES to such photos only.
 */

/** A multiplier per part of the search vector (1 where unset). */
export interface PartScales {
  readonly type?: number;
  readonly colour?: number;
  readonly histogram?: number;
  readonly hidden?: number;
  readonly gender?: number;
  readonly sameProduct?: number;
}

/** The parts in the order of RefineModel.partSizes. */
const ORDER = ['type', 'colour', 'histogram', 'hidden', 'gender', 'sameProduct'] as const;

/**
 * The scales for photos taken off a backdrop (src/search/backboneRerank.ts offBackdrop): base colour and histogram at half,
 * same product at 2.5. Chosen on TUNE-style copies and clean photos of the 31,776-item catalog with the slots on
 * (bench/partWeights.ts; docs/relevance.md "Less weight on colour, more on the same product, for photos taken off a backdrop"
 * and "A heavier same-product part"), within the allowance (clean P@5 and strict within 0.005, phone-like P@5 within 0.003
 * and strict within 0.01 of the row before, mild own item first not lower): against no scales, hard copies' own item in the
 * top 5 0.650 -> 0.690, phone-like 0.696 / 0.357 -> 0.697 / 0.341, clean 0.873 / 0.561 -> 0.873 / 0.560, mild 0.986 -> 0.988.
 * Colour at 0.35 gained no more and cost strict P@5 0.017; colour at 0 cost it 0.052; same product 1.5 and 2 gained 0.676
 * and 0.684. HELD-OUT, read once for 1.5 and once for 2.5 (`generalise-all-colourweight-final`, `generalise-all-hard3-final`):
 * hard 0.584 -> 0.612 (+14 / -0 paired), phone-like P@5 0.700 -> 0.698 (paired -0.003, one standard error 0.002) and strict
 * 0.324 -> 0.319: the exact product on the first screen more often, for a price within noise on the kind. The helper's
 * pre-set ship rule asked phone-like P@5 to stay at 0.70 or above and so would not ship it; the lead did (docs/relevance.md).
 */
export const OFF_BACKDROP_SCALES: PartScales = { colour: 0.5, histogram: 0.5, sameProduct: 2.5 };

/** Whether `scales` changes nothing. */
export function isIdentity(scales: PartScales): boolean {
  return ORDER.every((p) => (scales[p] ?? 1) === 1);
}

/**
 * `vector` (a search vector whose parts have `partSizes`, in ORDER) with each part multiplied by its scale: a new array,
 * or `vector` itself when nothing changes. Throws when the sizes do not add up to the vector's length.
 */
export function scaleParts(vector: Float32Array, partSizes: readonly number[], scales: PartScales): Float32Array {
  if (isIdentity(scales)) return vector;
  if (partSizes.length > ORDER.length || partSizes.reduce((a, b) => a + b, 0) !== vector.length) throw new Error(`part sizes ${partSizes.join('+')} do not make a vector of ${vector.length}`);
  const out = new Float32Array(vector);
  let o = 0;
  partSizes.forEach((size, k) => {
    const x = scales[ORDER[k]!] ?? 1;
    if (x !== 1) for (let j = o; j < o + size; j++) out[j] = out[j]! * x;
    o += size;
  });
  return out;
}
