import { isHeldBack } from '../catalog/split.js';
import type { Gemm } from '../linalg/gemm.js';
import type { Metadata } from '../store/catalogStore.js';
import { precisionAtK } from '../eval/metrics.js';
import { batchKnn } from '../linalg/batchKnn.js';
import type { TrainingCopies } from './augment.js';
import { COLOUR_DIMS, COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import type { Neighbor } from '../index/rowIndex.js';
import { sameProductPin } from '../search/sameProduct.js';
import { instanceVectors, learnInstanceProjection, MIN_INSTANCE_PAIRS, type InstanceProjection } from './instanceProjection.js';
import { DEFAULT_TRAIN, trainMlp, type HeadSpec, type TrainOptions } from './mlp.js';
import { RefineModel, type FusionWeights, type RefineHeader } from './refineModel.js';

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
  /** The "same product" part (src/refine/instanceProjection.ts): photo/copy pairs it learned from, its size, its chosen weight and pin gap. */
  readonly instance: { readonly pairs: number; readonly dims: number; readonly weight: number; readonly pinGap: number; readonly matchGap: number; readonly seconds: number } | null;
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

/** Weights of the "same product" part tried with the chosen fusion (its cosine counts weight^2, the rest about 2). */
const INSTANCE_WEIGHTS = [0, 1, 1.4, 2];
/** Pin gaps tried with each weight (src/search/sameProduct.ts); NO_PIN never moves an item (cosines differ by at most 2). */
const PIN_GAPS = [0.02, 0.025, 0.03, 0.035, 0.04, 0.05];
const NO_PIN = 2;
/** Match thresholds tried (src/recommend/match.ts): the smallest whose validation precision reaches MATCH_PRECISION is kept. */
const MATCH_GAPS = [0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2];
const MATCH_PRECISION = 0.8;
/** How much P@5 or strict P@5 of clean photos the "same product" part may cost. */
const CLEAN_TOLERANCE = 0.01;

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

  let header: RefineHeader = {
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
  // Every labelled item packed once, fit items first: the fit items' rows (and search vectors) are its prefix,
  // the validation items' its suffix.
  const everyRow = [...fit, ...val];
  const everything = pick(data, everyRow);
  const everyTruth = everyRow.map((i) => data.metadata[i]!);
  const gq = { b: everything.b.subarray(0, fit.length * bd), c: everything.c.subarray(0, fit.length * COLOUR_DIMS) };
  const vq = { b: everything.b.subarray(fit.length * bd), c: everything.c.subarray(fit.length * COLOUR_DIMS) };
  const fitTruths = everyTruth.slice(0, fit.length);
  const cleanQueries = { ...vq, truths: everyTruth.slice(fit.length) };
  const copyQueries = valCopies.length > 0 ? { ...pick(copies!, valCopies), truths: valCopies.map((k) => data.metadata[copies!.sources[k]!]!) } : null;
  /** Each query's first 5 gallery rows by the search vectors of `m`. */
  const fusedTop = (m: RefineModel, q: Float32Array, nq: number, g: Float32Array, ng: number) => batchKnn(gemm, q, nq, g, ng, m.dims, 5);
  /** The same rows as a photo search returns them: the very product first when it stands out (src/search/sameProduct.ts). */
  const withPin = (top: Int32Array, nearest: Neighbor[][] | null, gap: number) => {
    if (!nearest || gap >= NO_PIN) return top;
    const out = top.slice();
    nearest.forEach((near, r) => {
      const pin = sameProductPin(near, gap)?.row ?? null;
      if (pin !== null) out.set([pin, ...Array.from(top.subarray(r * 5, r * 5 + 5)).filter((x) => x !== pin)].slice(0, 5), r * 5);
    });
    return out;
  };
  /** P@5 and strict P@5 of first-five rows of the fit items against the queries' truths. */
  const precision = (top: Int32Array, truths: readonly Metadata[]) => {
    let p = 0, s = 0;
    truths.forEach((truth, r) => {
      const atK = precisionAtK(truth, Array.from(top.subarray(r * 5, r * 5 + 5), (row) => fitTruths[row]!), 5);
      p += atK.type;
      s += atK.strict;
    });
    return { p: p / truths.length, s: s / truths.length };
  };
  /** The two gallery rows nearest each query in the "same product" space (unit rows), with their cosine distances. */
  const nearestTwo = async (q: Float32Array, nq: number, g: Float32Array, ng: number, d: number) => {
    const rows = await batchKnn(gemm, q, nq, g, ng, d, 2);
    return Array.from({ length: nq }, (_, r) =>
      [rows[r * 2]!, rows[r * 2 + 1]!].filter((row) => row >= 0).map((row) => {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += q[r * d + j]! * g[row * d + j]!;
        return { row, distance: 1 - dot };
      }),
    );
  };
  let accuracy: Record<string, number> | null = null;
  let best = { score: -1, p: 0, s: 0, fusion: FUSION_GRID[0]! };
  for (const fusion of FUSION_GRID) {
    model = new RefineModel({ ...header, fusion }, weights);
    const fitGallery = (await model.vectors(gemm, gq.b, gq.c, fit.length, fitTruths)).vectors;
    const q = await model.vectors(gemm, cleanQueries.b, cleanQueries.c, val.length, null);
    const clean = precision(await fusedTop(model, q.vectors, val.length, fitGallery, fit.length), cleanQueries.truths);
    accuracy ??= headAccuracy(q.probs, cleanQueries.truths);
    options.onProgress?.(`fusion ${JSON.stringify(fusion)}: P@5 ${clean.p.toFixed(4)} strict ${clean.s.toFixed(4)}`);
    if (clean.p + clean.s > best.score) best = { score: clean.p + clean.s, p: clean.p, s: clean.s, fusion };
  }

  // With enough copies: learn "the same product" similarity from them. Its weight and pin gap are the pair that puts
  // the own item of most copies of validation items first (a shopper photographing a listed product expects that
  // product first) while P@5 and strict P@5 of clean validation photos, whose product is not in the fit gallery,
  // stay within 0.01 of search without it.
  let instance: InstanceProjection | null = null;
  let instanceReport: TrainReport['instance'] = null;
  if (copies && fitCopies.length >= MIN_INSTANCE_PAIRS) {
    const t0 = performance.now();
    instance = await learnInstanceProjection(gemm, data, fit, copies, fitCopies.map((c) => ({ copy: c, item: copies.sources[c]! })), bd);
    const seconds = round((performance.now() - t0) / 1000);
    // Nearest items in the same-product space do not depend on the weight: found once.
    const id = instance.dims;
    const everyInstance = await instanceVectors(gemm, instance, { backbones: everything.b, colours: everything.c }, everyRow.length);
    const fitInstance = everyInstance.subarray(0, fit.length * id);
    const cleanNear = await nearestTwo(everyInstance.subarray(fit.length * id), val.length, fitInstance, fit.length, id);
    const copyInstance = copyQueries ? await instanceVectors(gemm, instance, { backbones: copyQueries.b, colours: copyQueries.c }, valCopies.length) : null;
    const copyNearFit = copyInstance ? await nearestTwo(copyInstance, valCopies.length, fitInstance, fit.length, id) : null;
    const copyNearAll = copyInstance ? await nearestTwo(copyInstance, valCopies.length, everyInstance, everyRow.length, id) : null;
    const shape = { colourWeight: instance.colourWeight, dims: instance.dims, pairs: fitCopies.length };
    let chosen = { hit: -1, p: best.p, s: best.s, weight: 0, gap: NO_PIN };
    for (const weight of INSTANCE_WEIGHTS) {
      const m = new RefineModel({ ...header, instance: shape, fusion: { ...best.fusion, instance: weight } }, weights, instance);
      const gallery = (await m.vectors(gemm, everything.b, everything.c, everyRow.length, everyTruth)).vectors;
      const fitGallery = gallery.subarray(0, fit.length * m.dims);
      const cleanTop = await fusedTop(m, (await m.vectors(gemm, cleanQueries.b, cleanQueries.c, val.length, null)).vectors, val.length, fitGallery, fit.length);
      const copyVectors = copyQueries ? (await m.vectors(gemm, copyQueries.b, copyQueries.c, valCopies.length, null)).vectors : null;
      const copyTopFit = copyVectors ? await fusedTop(m, copyVectors, valCopies.length, fitGallery, fit.length) : null;
      const copyTopAll = copyVectors ? await fusedTop(m, copyVectors, valCopies.length, gallery, everyRow.length) : null;
      for (const gap of weight > 0 ? [NO_PIN, ...PIN_GAPS] : [NO_PIN]) {
        const clean = precision(withPin(cleanTop, cleanNear, gap), cleanQueries.truths);
        const copy = copyTopFit ? precision(withPin(copyTopFit, copyNearFit, gap), copyQueries!.truths) : null;
        const firstRows = copyTopAll ? withPin(copyTopAll, copyNearAll, gap) : null;
        const hit = firstRows ? valCopies.filter((c, r) => everyRow[firstRows[r * 5]!] === copies.sources[c]).length / valCopies.length : 0;
        const kept = clean.p >= best.p - CLEAN_TOLERANCE && clean.s >= best.s - CLEAN_TOLERANCE;
        options.onProgress?.(
          `instance weight ${weight}, pin gap ${gap >= NO_PIN ? 'none' : gap}: P@5 ${clean.p.toFixed(4)}${copy ? ` / ${copy.p.toFixed(4)}` : ''} strict ${clean.s.toFixed(4)}${copy ? ` / ${copy.s.toFixed(4)}` : ''} (clean / copies), copies' own item first ${hit.toFixed(4)}${kept ? '' : ' (costs clean photos too much)'}`,
        );
        if (kept && hit > chosen.hit) chosen = { hit, p: clean.p, s: clean.s, weight, gap };
      }
    }
    best = { ...best, p: chosen.p, s: chosen.s, fusion: { ...best.fusion, instance: chosen.weight } };
    // `fashion match` names the nearest item by the same rule at a stricter gap: the smallest at which validation precision
    // reaches MATCH_PRECISION, with as many photos of unlisted products (clean photos and copies of validation items against
    // the fit items) as copies of listed ones (against all items).
    let matchGap = MATCH_GAPS[MATCH_GAPS.length - 1]!;
    if (copyNearAll && copyNearFit) {
      const absent = [...cleanNear, ...copyNearFit];
      for (const gap of MATCH_GAPS) {
        let answered = 0, right = 0;
        copyNearAll.forEach((near, r) => {
          const pin = sameProductPin(near, gap)?.row ?? null;
          if (pin === null) return;
          answered++;
          if (everyRow[pin] === copies.sources[valCopies[r]!]) right++;
        });
        const wrongly = absent.filter((near) => sameProductPin(near, gap) !== null).length / absent.length;
        const precision = right / Math.max(1, answered + wrongly * valCopies.length);
        options.onProgress?.(`match gap ${gap}: precision ${precision.toFixed(4)}, copies matched to their item ${(right / valCopies.length).toFixed(4)}, unlisted photos matched ${wrongly.toFixed(4)}`);
        if (precision >= MATCH_PRECISION) {
          matchGap = gap;
          break;
        }
      }
    }
    instanceReport = { pairs: fitCopies.length, dims: instance.dims, weight: chosen.weight, pinGap: chosen.gap, matchGap, seconds };
    header = { ...header, instance: { ...shape, pinGap: chosen.gap, matchGap } };
  }
  model = new RefineModel({ ...header, fusion: best.fusion }, weights, instance);
  let copyAccuracy: Record<string, number> = {};
  if (copyQueries) {
    const q = await model.vectors(gemm, copyQueries.b, copyQueries.c, valCopies.length, null);
    copyAccuracy = headAccuracy(q.probs, copyQueries.truths);
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
    instance: instanceReport,
    modelBytes: (weights.w1.length + weights.b1.length + weights.w2.length + weights.b2.length + (instance ? instance.mean.length + instance.matrix.length : 0)) * 4 + JSON.stringify(header).length,
    seed: opts.seed,
  };
  model = new RefineModel({ ...header, fusion: best.fusion, report: report as unknown as Record<string, unknown> }, weights, instance);
  return { model, report };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
