import { isHeldBack } from '../../catalog/split.js';
import type { Metadata } from '../../store/catalogStore.js';
import type { TrainingCopies } from '../augment.js';
import { COLOUR_DIMS } from '../colourFeatures.js';
import type { HeadSpec, ValidationRows } from '../mlp.js';

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

/** Backbone and colour rows of the items, or of the copies. */
export interface Rows {
  readonly backbones: Float32Array;
  readonly colours: Float32Array;
}

const HEADS: Array<{ field: string; weight: number }> = [
  { field: 'articleType', weight: 1 },
  { field: 'baseColour', weight: 1 },
  { field: 'gender', weight: 0.3 },
];

/** The network's training set: which items fit and which validate, the standardisation, the heads and the design matrix. */
export interface TrainingSet {
  /** Labelled items that fit the network (85%, by id hash). */
  readonly fit: number[];
  /** Labelled items kept for validation (15%, by id hash: the same on every run). */
  readonly val: number[];
  /** Copies of fit items (they train) and of validation items (they validate). */
  readonly fitCopies: number[];
  readonly valCopies: number[];
  readonly mean: Float64Array;
  readonly std: number[];
  readonly heads: HeadSpec[];
  /** Standardised [backbone | colour] of the fit items, then of their copies. */
  readonly x: Float32Array;
  readonly rows: number;
  readonly inDims: number;
  /** Each head's class per row of x (-1: unknown). */
  readonly labels: Int32Array[];
  /** The validation items, then their copies, standardised likewise: their loss decides when the fit stops. */
  readonly validation: ValidationRows;
}

/** Splits the labelled items, standardises the inputs on the fit items and lays out the design matrix (pure). */
export function trainingSet(data: TrainingData): TrainingSet {
  const labelled = data.ids.map((_, i) => i).filter((i) => !!data.metadata[i]!.articleType);
  const val = labelled.filter((i) => isHeldBack(`val:${data.ids[i]}`, 0.15));
  const valSet = new Set(val);
  const fit = labelled.filter((i) => !valSet.has(i));
  if (fit.length < 20 || val.length < 5) throw new Error(`Expected at least 25 labelled items to learn from but the catalog has ${labelled.length}`);

  const bd = data.backboneDims;
  const D = bd + COLOUR_DIMS;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  const feature = (i: number, j: number) => featureOf(data, bd, i, j);
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
  const fitCopies = copyRows(new Set(fit));
  const valCopies = copyRows(valSet);
  const rows = fit.length + fitCopies.length;
  const x = new Float32Array(rows * D);
  fit.forEach((i, r) => {
    for (let j = 0; j < D; j++) x[r * D + j] = (feature(i, j) - mean[j]!) / std[j]!;
  });
  fitCopies.forEach((c, k) => {
    const r = fit.length + k;
    for (let j = 0; j < D; j++) x[r * D + j] = (featureOf(copies!, bd, c, j) - mean[j]!) / std[j]!;
  });
  const sourceOf = [...fit, ...fitCopies.map((c) => copies!.sources[c]!)];
  const labelsOf = (sources: number[]) => heads.map((h) => Int32Array.from(sources.map((i) => h.classes.indexOf(data.metadata[i]![h.field] ?? ''))));
  const labels = labelsOf(sourceOf);
  const vx = new Float32Array((val.length + valCopies.length) * D);
  val.forEach((i, r) => {
    for (let j = 0; j < D; j++) vx[r * D + j] = (feature(i, j) - mean[j]!) / std[j]!;
  });
  valCopies.forEach((c, k) => {
    const r = val.length + k;
    for (let j = 0; j < D; j++) vx[r * D + j] = (featureOf(copies!, bd, c, j) - mean[j]!) / std[j]!;
  });
  const validation = { x: vx, n: val.length + valCopies.length, labels: labelsOf([...val, ...valCopies.map((c) => copies!.sources[c]!)]) };
  return { fit, val, fitCopies, valCopies, mean, std, heads, x, rows, inDims: D, labels, validation };
}

/** Input j of row i: backbone dims, then colour. */
function featureOf(from: Rows, bd: number, i: number, j: number): number {
  return j < bd ? from.backbones[i * bd + j]! : from.colours[i * COLOUR_DIMS + j - bd]!;
}

/** Rows of `from` (the items, or the copies) packed for the network. */
export function pickRows(from: Rows, rows: readonly number[], bd: number): { b: Float32Array; c: Float32Array } {
  const b = new Float32Array(rows.length * bd);
  const c = new Float32Array(rows.length * COLOUR_DIMS);
  rows.forEach((i, r) => {
    b.set(from.backbones.subarray(i * bd, (i + 1) * bd), r * bd);
    c.set(from.colours.subarray(i * COLOUR_DIMS, (i + 1) * COLOUR_DIMS), r * COLOUR_DIMS);
  });
  return { b, c };
}
