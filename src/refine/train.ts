import { isHeldBack } from '../catalog/split.js';
import type { Gemm } from '../embedding/gemm.js';
import type { Metadata } from '../store/catalogStore.js';
import { batchKnn } from './batchKnn.js';
import type { TrainingCopies } from './augment.js';
import { COLOUR_DIMS, COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import { DEFAULT_TRAIN, trainMlp, type HeadSpec, type TrainOptions } from './mlp.js';
import { RefineModel, type FusionWeights } from './refineModel.js';

export interface TrainingData {
  readonly ids: readonly string[];
  readonly metadata: readonly Metadata[];
  /** n x backboneDims. */
  readonly backbones: Float32Array;
  /** n x COLOUR_DIMS. */
  readonly colours: Float32Array;
  readonly backboneDims: number;
  readonly backboneKey: string;
  /** Re-photographed copies of some items (src/refine/augment.ts): they train with their original's labels, on its side of the split. */
  readonly copies?: TrainingCopies;
}

export interface TrainReport {
  readonly items: number;
  readonly fitItems: number;
  readonly validationItems: number;
  readonly epochs: number;
  readonly trainSeconds: number;
  readonly validationAccuracy: Record<string, number>;
  /** Copies that trained with the fit items, and the accuracy on copies of validation items (photos as shoppers take them). */
  readonly copies: { readonly fit: number; readonly validation: number; readonly validationAccuracy: Record<string, number> };
  readonly validation: { precisionAt5: number; strictPrecisionAt5: number };
  readonly fusion: FusionWeights;
  readonly modelBytes: number;
  readonly seed: number;
}

const HEADS: Array<{ field: string; weight: number }> = [
  { field: 'articleType', weight: 1 },
  { field: 'baseColour', weight: 1 },
  { field: 'gender', weight: 0.3 },
];

/** Fusion weights tried on the validation items; the best sum of P@5 and strict P@5 wins. */
const FUSION_GRID: FusionWeights[] = [];
for (const colour of [0.6, 0.9]) for (const histogram of [0.4, 0.7]) for (const hidden of [0.4, 0.7]) FUSION_GRID.push({ type: 1, colour, histogram, hidden, gender: 0.3 });

/**
 * Learns the refinement from the catalog's own labels: 85% of the labelled items fit the network, the
 * other 15% (chosen by id hash, so the same on every run) choose the fusion weights and give the
 * validation figures. Deterministic for a given seed.
 */
export async function trainRefinement(gemm: Gemm, data: TrainingData, options: Partial<TrainOptions> & { onProgress?: (message: string) => void } = {}): Promise<{ model: RefineModel; report: TrainReport }> {
  const opts: TrainOptions = { ...DEFAULT_TRAIN, ...options };
  const started = performance.now();
  const n = data.ids.length;
  const labelled = data.ids.map((_, i) => i).filter((i) => !!data.metadata[i]!.articleType);
  const val = labelled.filter((i) => isHeldBack(`val:${data.ids[i]}`, 0.15));
  const valSet = new Set(val);
  const fit = labelled.filter((i) => !valSet.has(i));
  if (fit.length < 20 || val.length < 5) throw new Error(`Expected at least 25 labelled items to learn from but the catalog has ${labelled.length}`);

  const bd = data.backboneDims;
  const D = bd + COLOUR_DIMS;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  /** Input j of row i of the items, or of the copies: backbone dims, then colour. */
  type Rows = { readonly backbones: Float32Array; readonly colours: Float32Array };
  const featureOf = (from: Rows, i: number, j: number) => (j < bd ? from.backbones[i * bd + j]! : from.colours[i * COLOUR_DIMS + j - bd]!);
  const feature = (i: number, j: number) => featureOf(data, i, j);
  for (const i of fit) for (let j = 0; j < D; j++) mean[j]! += feature(i, j);
  for (let j = 0; j < D; j++) mean[j]! /= fit.length;
  for (const i of fit) for (let j = 0; j < D; j++) sq[j]! += (feature(i, j) - mean[j]!) ** 2;
  const std = Array.from(sq, (s) => Math.sqrt(s / fit.length) + 1e-3);

  const heads: HeadSpec[] = HEADS.map((h) => ({
    field: h.field,
    weight: h.weight,
    classes: [...new Set(fit.map((i) => data.metadata[i]![h.field] ?? '').filter(Boolean))].sort(),
  })).filter((h) => h.classes.length >= 2);
  // Copies go with their original: a copy of a validation item never trains.
  const copies = data.copies;
  const copyRows = (side: Set<number>) => (copies ? [...copies.sources.keys()].filter((c) => side.has(copies.sources[c]!)) : []);
  const fitSet = new Set(fit);
  const fitCopies = copyRows(fitSet);
  const valCopies = copyRows(valSet);
  const rowsN = fit.length + fitCopies.length;
  const x = new Float32Array(rowsN * D);
  fit.forEach((i, r) => {
    for (let j = 0; j < D; j++) x[r * D + j] = (feature(i, j) - mean[j]!) / std[j]!;
  });
  fitCopies.forEach((c, k) => {
    const r = fit.length + k;
    for (let j = 0; j < D; j++) x[r * D + j] = (featureOf(copies!, c, j) - mean[j]!) / std[j]!;
  });
  const sourceOf = [...fit, ...fitCopies.map((c) => copies!.sources[c]!)];
  const labels = heads.map((h) => Int32Array.from(sourceOf.map((i) => h.classes.indexOf(data.metadata[i]![h.field] ?? ''))));
  options.onProgress?.(`training on ${fit.length} items and ${fitCopies.length} copies (${val.length} items kept for validation)`);
  const weights = await trainMlp(gemm, x, rowsN, D, labels, heads, { ...opts, onEpoch: (e, loss) => options.onProgress?.(`epoch ${e + 1}/${opts.epochs} loss ${loss.toFixed(3)}`) });

  const header = {
    version: 1 as const,
    backboneKey: data.backboneKey,
    colourVersion: COLOUR_FEATURES_VERSION,
    backboneDims: bd,
    mean: Array.from(mean),
    std,
    hidden: opts.hidden,
    heads,
    fusion: FUSION_GRID[0]!,
    trainedAt: new Date().toISOString(),
    report: {},
  };
  let model = new RefineModel(header, weights);
  /** Rows of `from` (the items, or the copies) packed for the network. */
  const pick = (from: Rows, rows: number[]) => {
    const b = new Float32Array(rows.length * bd);
    const c = new Float32Array(rows.length * COLOUR_DIMS);
    rows.forEach((i, r) => {
      b.set(from.backbones.subarray(i * bd, (i + 1) * bd), r * bd);
      c.set(from.colours.subarray(i * COLOUR_DIMS, (i + 1) * COLOUR_DIMS), r * COLOUR_DIMS);
    });
    return { b, c };
  };
  /** Share of rows whose predicted label is the truth, per head; rows without that label do not count. */
  const headAccuracy = (probs: Float32Array[], truths: readonly Metadata[]) => {
    const out: Record<string, number> = {};
    for (const h of heads) {
      let ok = 0;
      let count = 0;
      truths.forEach((m, r) => {
        const truth = m[h.field];
        if (!truth) return;
        count++;
        if (model.predictions(probs, r)[h.field]!.value === truth) ok++;
      });
      out[h.field] = round(ok / Math.max(1, count));
    }
    return out;
  };
  const vq = pick(data, val);
  const gq = pick(data, fit);
  let accuracy: Record<string, number> | null = null;
  let best = { score: -1, p: 0, s: 0, fusion: FUSION_GRID[0]! };
  for (const fusion of FUSION_GRID) {
    model = new RefineModel({ ...header, fusion }, weights);
    const q = await model.vectors(gemm, vq.b, vq.c, val.length, null);
    const g = await model.vectors(gemm, gq.b, gq.c, fit.length, fit.map((i) => data.metadata[i]!));
    accuracy ??= headAccuracy(q.probs, val.map((i) => data.metadata[i]!));
    const top = await batchKnn(gemm, q.vectors, val.length, g.vectors, fit.length, model.dims, 5);
    let p = 0, s = 0;
    val.forEach((i, r) => {
      const m = data.metadata[i]!;
      for (let j = 0; j < 5; j++) {
        const other = data.metadata[fit[top[r * 5 + j]!]!]!;
        if (other.articleType === m.articleType) {
          p++;
          if (other.baseColour === m.baseColour) s++;
        }
      }
    });
    p /= val.length * 5;
    s /= val.length * 5;
    options.onProgress?.(`fusion ${JSON.stringify(fusion)}: P@5 ${p.toFixed(4)} strict ${s.toFixed(4)}`);
    if (p + s > best.score) best = { score: p + s, p, s, fusion };
  }
  let copyAccuracy: Record<string, number> = {};
  if (valCopies.length > 0) {
    const cq = pick(copies!, valCopies);
    const q = await model.vectors(gemm, cq.b, cq.c, valCopies.length, null);
    copyAccuracy = headAccuracy(q.probs, valCopies.map((k) => data.metadata[copies!.sources[k]!]!));
  }
  const report: TrainReport = {
    items: n,
    fitItems: fit.length,
    validationItems: val.length,
    epochs: opts.epochs,
    trainSeconds: round((performance.now() - started) / 1000),
    validationAccuracy: accuracy ?? {},
    copies: { fit: fitCopies.length, validation: valCopies.length, validationAccuracy: copyAccuracy },
    validation: { precisionAt5: round(best.p), strictPrecisionAt5: round(best.s) },
    fusion: best.fusion,
    modelBytes: (weights.w1.length + weights.b1.length + weights.w2.length + weights.b2.length) * 4 + JSON.stringify(header).length,
    seed: opts.seed,
  };
  model = new RefineModel({ ...header, fusion: best.fusion, report: report as unknown as Record<string, unknown> }, weights);
  return { model, report };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
