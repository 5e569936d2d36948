import type { Gemm } from '../linalg/gemm.js';
import { COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import { DEFAULT_TRAIN, trainMlp, type TrainOptions } from './mlp.js';
import { RefineModel, type FusionWeights, type RefineHeader } from './refineModel.js';
import { trainingSet, type TrainingData } from './training/dataset.js';
import { FUSION_GRID, tuneFusion } from './training/tuneFusion.js';
import { tuneMatchGap } from './training/tuneMatchGap.js';
import { groundInput, groundOnWorker, tuneSameProduct } from './training/tuneSameProduct.js';
import { round, Validation } from './training/validation.js';

export type { TrainingData } from './training/dataset.js';

/** onnxruntime threads of the same-product ground's worker: one, beside the fit's two. */
const GROUND_THREADS = 1;

export interface TrainReport {
  readonly items: number;
  readonly fitItems: number;
  readonly validationItems: number;
  /** Epochs run (early stopping may end the fit before the most asked), and the one whose weights were kept. */
  readonly epochs: number;
  /** Absent in reports of models trained before early stopping. */
  readonly bestEpoch?: number;
  readonly trainSeconds: number;
  readonly validationAccuracy: Record<string, number>;
  /** Copies that trained with the fit items, and the accuracy on copies of validation items (photos as shoppers take them). */
  readonly copies: { readonly fit: number; readonly validation: number; readonly validationAccuracy: Record<string, number> };
  readonly validation: { precisionAt5: number; strictPrecisionAt5: number };
  readonly fusion: FusionWeights;
  /** The "same product" part (src/refine/instanceProjection.ts): photo/copy pairs it learned from, its size, its chosen weight and pin gap. */
  readonly instance: {
    readonly pairs: number;
    readonly dims: number;
    readonly weight: number;
    readonly pinGap: number;
    readonly matchGap: number;
    /** Share of copies of validation items whose own item comes first (absent in reports of older models). */
    readonly ownItemFirst?: number;
    readonly seconds: number;
  } | null;
  readonly modelBytes: number;
  readonly seed: number;
}

/**
 * Learns the refinement from the catalog's own labels, in stages (src/refine/training/): the data set (85% of the
 * labelled items fit the network, the other 15%, chosen by id hash so the same on every run, validate), the fit, the
 * fusion weights, the same-product part with its weight and pin gap (with copies), the match gap, and the report.
 * Deterministic for a given seed.
 */
export async function trainRefinement(gemm: Gemm, data: TrainingData, options: Partial<TrainOptions> & { onProgress?: (message: string) => void } = {}): Promise<{ model: RefineModel; report: TrainReport }> {
  const opts: TrainOptions = { ...DEFAULT_TRAIN, ...options };
  const onProgress = options.onProgress;
  const started = performance.now();
  const set = trainingSet(data);
  const { fit, val, fitCopies, valCopies, heads } = set;
  onProgress?.(`training on ${fit.length} items and ${fitCopies.length} copies (${val.length} items kept for validation)`);
  const onEpoch = (e: number, loss: number, val?: { loss: number; accuracy: number }) =>
    onProgress?.(`epoch ${e + 1}/${opts.epochs} loss ${loss.toFixed(3)}${val ? ` validation loss ${val.loss.toFixed(3)} accuracy ${val.accuracy.toFixed(4)}` : ''}`);
  const v = new Validation(gemm, data, set);
  // The same-product projection and its nearest items need no network: started now on a thread of their own, they run
  // in the gaps the fit's threads leave (each waits on the other every step) instead of after it. Awaited by
  // tuneSameProduct; a failure meanwhile is never left unhandled.
  const input = groundInput(v);
  const ground = input ? groundOnWorker(input, GROUND_THREADS) : undefined;
  ground?.catch(() => undefined);
  // The design matrix holds the fit items, then their copies (src/refine/training/dataset.ts): copies start at fit.length.
  const fitted = await trainMlp(gemm, set.x, set.rows, set.inDims, set.labels, heads, { ...opts, onEpoch }, set.validation, fit.length);
  const { epochsRun, bestEpoch, ...weights } = fitted;
  if (epochsRun < opts.epochs) onProgress?.(`stopped after epoch ${epochsRun}: validation accuracy has not improved since epoch ${bestEpoch}`);

  let header: RefineHeader = {
    version: 1 as const,
    backboneKey: data.backboneKey,
    colourVersion: COLOUR_FEATURES_VERSION,
    backboneDims: data.backboneDims,
    mean: Array.from(set.mean),
    std: set.std,
    hidden: opts.hidden,
    heads,
    fusion: FUSION_GRID[0]!,
    trainedAt: new Date().toISOString(),
    report: {},
  };
  const fusion = await tuneFusion(v, header, weights, onProgress);
  let best = fusion.best;
  const same = await tuneSameProduct(v, header, weights, best, onProgress, ground);
  let instanceReport: TrainReport['instance'] = null;
  if (same) {
    best = { ...best, p: same.p, s: same.s, fusion: { ...best.fusion, instance: same.weight } };
    const matchGap = tuneMatchGap(v, same, onProgress);
    instanceReport = { pairs: fitCopies.length, dims: same.instance.dims, weight: same.weight, pinGap: same.gap, matchGap, ownItemFirst: same.ownItemFirst, seconds: same.seconds };
    header = { ...header, instance: { ...same.shape, pinGap: same.gap, matchGap } };
  }
  const instance = same?.instance ?? null;
  let model = new RefineModel({ ...header, fusion: best.fusion }, weights, instance);
  let copyAccuracy: Record<string, number> = {};
  const copyNet = await v.copyNetwork(model);
  if (v.copyQueries && copyNet) copyAccuracy = v.headAccuracy(model, copyNet.probs, v.copyQueries.truths);
  const report: TrainReport = {
    items: data.ids.length,
    fitItems: fit.length,
    validationItems: val.length,
    epochs: epochsRun,
    bestEpoch,
    trainSeconds: round((performance.now() - started) / 1000),
    validationAccuracy: fusion.accuracy,
    copies: { fit: fitCopies.length, validation: valCopies.length, validationAccuracy: copyAccuracy },
    validation: { precisionAt5: round(best.p), strictPrecisionAt5: round(best.s) },
    fusion: best.fusion,
    instance: instanceReport,
    modelBytes: (weights.w1.length + weights.b1.length + weights.w2.length + weights.b2.length + (instance ? instance.mean.length + instance.matrix.length : 0)) * 4 + JSON.stringify(header).length,
    seed: opts.seed,
  };
  model = new RefineModel({ ...header, fusion: best.fusion, report: report as unknown as Record<string, unknown> }, weights, instance);
  return { model, report };
}
