import type { MlpWeights } from '../mlp.js';
import { RefineModel, type FusionWeights, type RefineHeader } from '../refineModel.js';
import { splitParts, type Validation } from './validation.js';

/**
 * Fusion weights tried on the validation items; the best sum of P@5 and strict P@5 wins. Colour-head weight 0.9 was
 * tried too and never won (every recorded training of the default backbone chose 0.6, and on the demo catalog with
 * copies each 0.9 point scored below its 0.6 twin): dropping it halves the grid's scoring, and the colour part, then
 * the same at every point, is summed once.
 */
export const FUSION_GRID: FusionWeights[] = [];
for (const colour of [0.6]) for (const histogram of [0.4, 0.7]) for (const hidden of [0.4, 0.7]) FUSION_GRID.push({ type: 1, colour, histogram, hidden, gender: 0.3 });

/** Every part at weight 1: the search vector's parts each of unit length, from which any weighting's scores are sums. */
const UNIT_FUSION: FusionWeights = { type: 1, colour: 1, histogram: 1, hidden: 1, gender: 1 };

/** Squared weights of the parts in the search vector's order (src/refine/refineModel.ts, fuse): what each part's cosine counts. */
export function partWeights(f: FusionWeights): number[] {
  return [f.type, f.colour, f.histogram, f.hidden, f.gender, f.instance ?? 0].map((w) => w * w);
}

export interface FusionChoice {
  readonly score: number;
  /** P@5 and strict P@5 of clean validation photos with it. */
  readonly p: number;
  readonly s: number;
  readonly fusion: FusionWeights;
}

/**
 * Stage: the fusion of the search vector's parts, chosen on clean validation photos; also the heads' validation accuracy.
 * The network runs once: the whole grid is scored from the unit parts' cosines (Validation.gridTop), which rank the
 * gallery exactly as each grid point's own search vectors would.
 */
export async function tuneFusion(
  v: Validation,
  header: RefineHeader,
  weights: MlpWeights,
  onProgress?: (message: string) => void,
): Promise<{ best: FusionChoice; accuracy: Record<string, number> }> {
  const { fit, val } = v.set;
  const unit = new RefineModel({ ...header, fusion: UNIT_FUSION }, weights);
  // The fit items (the gallery) and the validation items (the clean queries) are the two ends of `everything`.
  const net = await v.everyNetwork(unit);
  const gallery = unit.fuseRows(net, 0, fit.length, v.everything.c, null, v.everyTruth);
  const queries = unit.fuseRows(net, fit.length, val.length, v.everything.c, null, null);
  const accuracy = v.headAccuracy(unit, net.probs, v.cleanQueries.truths, fit.length);
  const sizes = unit.partSizes;
  const tops = await v.gridTop(splitParts(queries, val.length, sizes), val.length, splitParts(gallery, fit.length, sizes), fit.length, FUSION_GRID.map(partWeights));
  let best: FusionChoice = { score: -1, p: 0, s: 0, fusion: FUSION_GRID[0]! };
  FUSION_GRID.forEach((fusion, i) => {
    const clean = v.precision(tops[i]!, v.cleanQueries.truths);
    onProgress?.(`fusion ${JSON.stringify(fusion)}: P@5 ${clean.p.toFixed(4)} strict ${clean.s.toFixed(4)}`);
    if (clean.p + clean.s > best.score) best = { score: clean.p + clean.s, p: clean.p, s: clean.s, fusion };
  });
  return { best, accuracy };
}
