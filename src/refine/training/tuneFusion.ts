import type { MlpWeights } from '../mlp.js';
import { RefineModel, type FusionWeights, type RefineHeader } from '../refineModel.js';
import type { Validation } from './validation.js';

/** Fusion weights tried on the validation items; the best sum of P@5 and strict P@5 wins. */
export const FUSION_GRID: FusionWeights[] = [];
for (const colour of [0.6, 0.9]) for (const histogram of [0.4, 0.7]) for (const hidden of [0.4, 0.7]) FUSION_GRID.push({ type: 1, colour, histogram, hidden, gender: 0.3 });

export interface FusionChoice {
  readonly score: number;
  /** P@5 and strict P@5 of clean validation photos with it. */
  readonly p: number;
  readonly s: number;
  readonly fusion: FusionWeights;
}

/** Stage: the fusion of the search vector's parts, chosen on clean validation photos; also the heads' validation accuracy. */
export async function tuneFusion(
  v: Validation,
  header: RefineHeader,
  weights: MlpWeights,
  onProgress?: (message: string) => void,
): Promise<{ best: FusionChoice; accuracy: Record<string, number> }> {
  const { fit, val } = v.set;
  let accuracy: Record<string, number> | null = null;
  let best: FusionChoice = { score: -1, p: 0, s: 0, fusion: FUSION_GRID[0]! };
  for (const fusion of FUSION_GRID) {
    const model = new RefineModel({ ...header, fusion }, weights);
    const fitGallery = (await model.vectors(v.gemm, v.fitGallery.b, v.fitGallery.c, fit.length, v.fitTruths)).vectors;
    const q = await model.vectors(v.gemm, v.cleanQueries.b, v.cleanQueries.c, val.length, null);
    const clean = v.precision(await v.fusedTop(model, q.vectors, val.length, fitGallery, fit.length), v.cleanQueries.truths);
    accuracy ??= v.headAccuracy(model, q.probs, v.cleanQueries.truths);
    onProgress?.(`fusion ${JSON.stringify(fusion)}: P@5 ${clean.p.toFixed(4)} strict ${clean.s.toFixed(4)}`);
    if (clean.p + clean.s > best.score) best = { score: clean.p + clean.s, p: clean.p, s: clean.s, fusion };
  }
  return { best, accuracy: accuracy ?? {} };
}
