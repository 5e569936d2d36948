import { instanceVectors, learnInstanceProjection, MIN_INSTANCE_PAIRS, type InstanceProjection } from '../instanceProjection.js';
import type { MlpWeights } from '../mlp.js';
import { RefineModel, type RefineHeader } from '../refineModel.js';
import type { FusionChoice } from './tuneFusion.js';
import type { RowDistance } from '../../linalg/topK.js';
import { NO_PIN, nearestTwo, round, type Validation } from './validation.js';
import { pickRows } from './dataset.js';
import type { Gemm } from '../../linalg/gemm.js';
import { startWorker } from '../../workers/start.js';

/**
 * Weights of the "same product" part tried with the chosen fusion (its cosine counts weight^2, the rest about 2). Weight 2
 * was tried too and never kept: it cost clean validation photos 0.03-0.05 strict P@5 with and without a pin.
 * The grid is dense so that a small change in what a weight costs moves the choice to a neighbouring weight instead of
 * off the part altogether: with [0, 1, 1.4] alone, a catalog whose weight 1 cost clean photos a little more than the
 * allowance fell back to 0, which drops the same-product space itself (no pin, no choice of reading, matching on the
 * backbone) and halved the own-item figures on held-out styles (docs/relevance.md, "A steadier same-product choice").
 * 0.3 (the part counts ~0.09 of ~2) is the floor: it costs clean photos next to nothing, so the space is kept.
 */
export const INSTANCE_WEIGHTS = [0, 0.3, 0.5, 0.7, 0.85, 1, 1.2, 1.4];
/**
 * Pin gaps tried with each weight (src/search/sameProduct.ts); NO_PIN never moves an item. The wider gaps pin fewer
 * photos of unlisted products, so some pin stays within the allowance where the narrow ones cost too much.
 */
export const PIN_GAPS = [0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12];
/**
 * How much of P@5 + strict P@5 of clean photos (the sum tuneFusion chooses the fusion by) the "same product" part may
 * cost: 0.01 a figure on average, as the allowance was 0.01 of each figure before it was priced on their sum.
 */
export const CLEAN_TOLERANCE = 0.02;

/** One weight and pin gap as measured on validation. */
export interface SameProductPoint {
  readonly weight: number;
  readonly gap: number;
  /** P@5 and strict P@5 of clean validation photos. */
  readonly p: number;
  readonly s: number;
  /** Share of copies of validation items whose own item comes first, and comes in the first five. */
  readonly first: number;
  readonly top5: number;
}

/**
 * What a point costs clean photos against search without the part: its loss of P@5 plus its loss of strict P@5, a gain
 * on either counting as none, so a gain of P@5 never buys strict P@5 beyond the allowance (rounded as reported, so a
 * loss of exactly the allowance passes). Priced on the sum, not on the larger of the two losses (0.01 each until
 * 2026-12-02): the pin moves a look-alike of the same kind first, so its cost lands on strict P@5 (colour) and hardly on
 * P@5, and strict P@5 without the part is also where a training's luck shows. Trainings of the same 6,000-item catalog
 * put it at 0.4670, 0.4754 and 0.4782 (float, float at a later commit, SqueezeNet int8) while weight 0.7 at gap 0.04 left
 * 0.4660-0.4670 where recorded; with the larger loss held to 0.01, the two better no-part figures took weight 0.5 (the
 * float one by 0.0006 of strict P@5 on a tie of first + top five), which ranks hard copies whose pin does not fire lower
 * (hard copies' own item in the top 5 -0.020 to -0.025 in bench/generalise.ts). On the sum, the P@5 that the pin leaves
 * alone gives the strict figure that room: the float and int8 catalogs both take 0.7 / 0.03 (docs/relevance.md, "Clean
 * photos priced on P@5 + strict P@5").
 */
export function cleanCost(x: { readonly p: number; readonly s: number }, base: { readonly p: number; readonly s: number }): number {
  return round(Math.max(0, base.p - x.p) + Math.max(0, base.s - x.s));
}

/**
 * The rule: of the points that cost clean photos at most CLEAN_TOLERANCE of P@5 + strict P@5 against `base` (search
 * without the part; cleanCost), the one whose copies of validation items find their own item first and in the first five most often
 * (the sum: a shopper photographing a listed product expects it first, and at least on the first screen; the top five
 * also keeps the weight up, since at a wide enough gap the pin alone gives the first place at any weight). Ties go to
 * the point that costs clean photos less, so the choice does not sit on the allowance's edge for nothing. Returns the
 * weight-0, no-pin point when nothing passes (or `base` itself when the grid has no such point).
 */
export function chooseSameProduct(points: readonly SameProductPoint[], base: { readonly p: number; readonly s: number }): SameProductPoint {
  const cost = (x: SameProductPoint) => cleanCost(x, base);
  const score = (x: SameProductPoint) => round(x.first + x.top5);
  let chosen: SameProductPoint | null = null;
  for (const x of points) {
    if (cost(x) > CLEAN_TOLERANCE) continue;
    if (!chosen || score(x) > score(chosen) || (score(x) === score(chosen) && cost(x) < cost(chosen))) chosen = x;
  }
  return chosen ?? points.find((x) => x.weight === 0) ?? { weight: 0, gap: NO_PIN, p: base.p, s: base.s, first: 0, top5: 0 };
}

export interface SameProductChoice {
  readonly instance: InstanceProjection;
  readonly shape: { readonly colourWeight: number; readonly dims: number; readonly pairs: number };
  readonly weight: number;
  readonly gap: number;
  /** P@5 and strict P@5 of clean validation photos with it. */
  readonly p: number;
  readonly s: number;
  /** Share of copies of validation items whose own item comes first with this weight and gap. */
  readonly ownItemFirst: number;
  readonly seconds: number;
  /** The two nearest items in the same-product space: of clean validation photos and copies against the fit items, of copies against all. */
  readonly near: { readonly clean: RowDistance[][]; readonly copyFit: RowDistance[][] | null; readonly copyAll: RowDistance[][] | null };
}

/**
 * What the same-product stage needs that does not depend on the network: the projection learned from photo/copy pairs
 * and every item's and copy's nearest two in its space. It reads the backbone vectors, colours and copies only, so
 * trainRefinement starts it before the fit, on a worker thread (groundWorker.ts): it runs in the gaps the fit leaves
 * (the fit's two threads wait on each other every step), where on the calling thread its long loops (the Cholesky
 * factor, the eigenvectors, the scans) stopped the fit outright. The same arithmetic on the same floats, so the same
 * figures. Null without enough copies.
 */
export interface SameProductGround {
  readonly instance: InstanceProjection;
  /** Seconds learning the projection took (overlapped with the fit when started before it). */
  readonly seconds: number;
  /** Unit same-product vectors of every labelled item (Validation.everyRow order) and of the copy queries. */
  readonly everyInstance: Float32Array;
  readonly copyInstance: Float32Array | null;
  readonly clean: RowDistance[][];
  readonly copyFit: RowDistance[][] | null;
  readonly copyAll: RowDistance[][] | null;
}

/** What sameProductGround reads: plain arrays, so that a worker thread can be given them. */
export interface GroundInput {
  readonly backboneDims: number;
  /** Every labelled item's backbone and colour rows, fit items first (Validation.everything). */
  readonly everything: { readonly b: Float32Array; readonly c: Float32Array };
  readonly fitCount: number;
  readonly valCount: number;
  /** Copies of fit items (the pairs) with each one's original as a row of `everything`. */
  readonly pairs: { readonly b: Float32Array; readonly c: Float32Array; readonly items: Int32Array };
  /** Copies of validation items (Validation.copyQueries). */
  readonly copyQueries: { readonly b: Float32Array; readonly c: Float32Array; readonly n: number } | null;
}

/** The input of sameProductGround from training's validation (null without enough copies). */
export function groundInput(v: Validation): GroundInput | null {
  const { data, set } = v;
  const copies = data.copies;
  const { fit, val, fitCopies, valCopies } = set;
  if (!copies || fitCopies.length < MIN_INSTANCE_PAIRS) return null;
  const bd = data.backboneDims;
  const rowOf = new Map(v.everyRow.map((i, r) => [i, r]));
  const picked = pickRows(copies, fitCopies, bd);
  const q = v.copyQueries;
  return {
    backboneDims: bd,
    everything: v.everything,
    fitCount: fit.length,
    valCount: val.length,
    pairs: { ...picked, items: Int32Array.from(fitCopies, (c) => rowOf.get(copies.sources[c]!)!) },
    copyQueries: q ? { b: q.b, c: q.c, n: valCopies.length } : null,
  };
}

/**
 * The same-product ground from `input` with `gemm`. The projection reads the fit items as rows 0..fitCount-1 of
 * `everything` (the very floats of the catalog's rows, in the same order) and each pair's original as its row there.
 */
export async function sameProductGround(gemm: Gemm, input: GroundInput): Promise<SameProductGround> {
  const bd = input.backboneDims;
  const { fitCount, valCount, everything, pairs, copyQueries } = input;
  const t0 = performance.now();
  const items = { backbones: everything.b, colours: everything.c };
  const fitRows = Array.from({ length: fitCount }, (_, r) => r);
  const copies = { backbones: pairs.b, colours: pairs.c };
  const instance = await learnInstanceProjection(gemm, items, fitRows, copies, Array.from(pairs.items, (item, k) => ({ copy: k, item })), bd);
  const seconds = round((performance.now() - t0) / 1000);
  // Nearest items in the same-product space do not depend on the weight: found once.
  const id = instance.dims;
  const all = fitCount + valCount;
  const everyInstance = await instanceVectors(gemm, instance, items, all);
  const fitInstance = everyInstance.subarray(0, fitCount * id);
  const clean = await nearestTwo(gemm, everyInstance.subarray(fitCount * id), valCount, fitInstance, fitCount, id);
  const copyInstance = copyQueries ? await instanceVectors(gemm, instance, { backbones: copyQueries.b, colours: copyQueries.c }, copyQueries.n) : null;
  const copyFit = copyInstance ? await nearestTwo(gemm, copyInstance, copyQueries!.n, fitInstance, fitCount, id) : null;
  const copyAll = copyInstance ? await nearestTwo(gemm, copyInstance, copyQueries!.n, everyInstance, all, id) : null;
  return { instance, seconds, everyInstance, copyInstance, clean, copyFit, copyAll };
}

/** sameProductGround on a worker thread of its own (groundWorker.ts), with a Gemm of `threads`. */
export function groundOnWorker(input: GroundInput, threads: number): Promise<SameProductGround> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(import.meta.url, './groundWorker', { input, threads });
    let settled = false;
    worker.once('message', (m: { ground: SameProductGround } | { error: string }) => {
      settled = true;
      if ('error' in m) reject(new Error(`the same-product ground failed: ${m.error}`));
      else resolve(m.ground);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the same-product ground's thread stopped (exit code ${code})`));
    });
  });
}

/**
 * Stage: with enough copies, learns "the same product" similarity from them. Its weight and pin gap are chosen on
 * validation items by chooseSameProduct: the pair that puts the own item of copies of validation items first and in the
 * first five most often (a shopper photographing a listed product expects that product first) while P@5 + strict P@5
 * of clean validation photos, whose product is not in the fit gallery, stays within CLEAN_TOLERANCE of search without it.
 * `ground`: sameProductGround(v), started earlier (made here when not given). Null without enough copies.
 */
export async function tuneSameProduct(
  v: Validation,
  header: RefineHeader,
  weights: MlpWeights,
  best: FusionChoice,
  onProgress?: (message: string) => void,
  ground?: Promise<SameProductGround | null>,
): Promise<SameProductChoice | null> {
  const { data, set } = v;
  const copies = data.copies;
  const { fit, val, fitCopies, valCopies } = set;
  const input = ground ? null : groundInput(v);
  const made = ground ? await ground : input ? await sameProductGround(v.gemm, input) : null;
  if (!copies || !made) return null;
  const { instance, seconds, everyInstance, copyInstance, clean, copyFit, copyAll } = made;
  const id = instance.dims;
  const fitInstance = everyInstance.subarray(0, fit.length * id);
  const copyQueries = v.copyQueries;
  const shape = { colourWeight: instance.colourWeight, dims: instance.dims, pairs: fitCopies.length };
  // The chosen fusion's search vectors without the same-product part, made once; each weight's ranking is their cosine
  // plus weight^2 x the same-product cosine (Validation.gridTop), as the model with that weight would rank.
  const base = new RefineModel({ ...header, fusion: best.fusion }, weights);
  const bd2 = base.dims;
  // The network's outputs are the fusion stage's (Validation runs it once per set of rows).
  const net = await v.everyNetwork(base);
  const gallery = base.fuseRows(net, 0, v.everyRow.length, v.everything.c, null, v.everyTruth);
  const fitGallery = gallery.subarray(0, fit.length * bd2);
  const cleanVectors = base.fuseRows(net, fit.length, val.length, v.everything.c, null, null);
  const copyNet = await v.copyNetwork(base);
  const copyVectors = copyQueries && copyNet ? base.fuseRows(copyNet, 0, valCopies.length, copyQueries.c, null, null) : null;
  const grid = INSTANCE_WEIGHTS.map((w) => [1, w * w]);
  const parts = (fused: Float32Array, same: Float32Array) => [{ data: fused, dims: bd2 }, { data: same, dims: id }];
  const cleanTops = await v.gridTop(parts(cleanVectors, everyInstance.subarray(fit.length * id)), val.length, parts(fitGallery, fitInstance), fit.length, grid);
  // Copies against the fit items and against every item: the fit items are the first rows of every item, so one pass gives both.
  const copyTops = copyVectors ? await v.gridTopPrefixes(parts(copyVectors, copyInstance!), valCopies.length, parts(gallery, everyInstance), [fit.length, v.everyRow.length], grid) : null;
  const copyTopsFit = copyTops?.[0] ?? null;
  const copyTopsAll = copyTops?.[1] ?? null;
  const points: SameProductPoint[] = [];
  for (const [wi, weight] of INSTANCE_WEIGHTS.entries()) {
    const cleanTop = cleanTops[wi]!;
    const copyTopFit = copyTopsFit?.[wi] ?? null;
    const copyTopAll = copyTopsAll?.[wi] ?? null;
    for (const gap of weight > 0 ? [NO_PIN, ...PIN_GAPS] : [NO_PIN]) {
      const cleanP = v.precision(v.withPin(cleanTop, clean, gap), v.cleanQueries.truths);
      const copy = copyTopFit ? v.precision(v.withPin(copyTopFit, copyFit, gap), copyQueries!.truths) : null;
      const firstRows = copyTopAll ? v.withPin(copyTopAll, copyAll, gap) : null;
      const own = (r: number, c: number, n: number) => firstRows!.subarray(r * 5, r * 5 + n).some((row) => v.everyRow[row] === copies.sources[c]);
      const first = firstRows ? valCopies.filter((c, r) => own(r, c, 1)).length / valCopies.length : 0;
      const top5 = firstRows ? valCopies.filter((c, r) => own(r, c, 5)).length / valCopies.length : 0;
      const kept = cleanCost(cleanP, best) <= CLEAN_TOLERANCE;
      onProgress?.(
        `instance weight ${weight}, pin gap ${gap >= NO_PIN ? 'none' : gap}: P@5 ${cleanP.p.toFixed(4)}${copy ? ` / ${copy.p.toFixed(4)}` : ''} strict ${cleanP.s.toFixed(4)}${copy ? ` / ${copy.s.toFixed(4)}` : ''} (clean / copies), copies' own item first ${first.toFixed(4)}, in the first five ${top5.toFixed(4)}${kept ? '' : ' (costs clean photos too much)'}`,
      );
      points.push({ weight, gap, p: cleanP.p, s: cleanP.s, first, top5 });
    }
  }
  const chosen = chooseSameProduct(points, best);
  onProgress?.(`same-product weight ${chosen.weight}, pin gap ${chosen.gap >= NO_PIN ? 'none' : chosen.gap} chosen: own item first ${chosen.first.toFixed(4)}, in the first five ${chosen.top5.toFixed(4)}`);
  return { instance, shape, weight: chosen.weight, gap: chosen.gap, p: chosen.p, s: chosen.s, ownItemFirst: round(chosen.first), seconds, near: { clean, copyFit, copyAll } };
}
