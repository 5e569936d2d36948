import type { Gemm } from '../linalg/gemm.js';
import { mulberry32 } from '../util/random.js';
import { matVecRows } from '../linalg/matVec.js';
import { Adam } from './adam.js';
import { SPLIT_FIRST_LAYER_FROM, SplitFirstLayer } from './splitFirstLayer.js';

/** One softmax output of the network: a label field (articleType, baseColour, gender) and its classes. */
export interface HeadSpec {
  readonly field: string;
  readonly classes: readonly string[];
  /** Weight of this head's loss. */
  readonly weight: number;
}

export interface MlpWeights {
  readonly inDims: number;
  readonly hidden: number;
  readonly heads: readonly HeadSpec[];
  /** inDims x hidden, row-major. */
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  /** hidden x (sum of classes): all heads side by side. */
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

export interface TrainOptions {
  readonly hidden: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly dropout: number;
  readonly seed: number;
  /**
   * Epochs (may be a fraction) over which the learning rate rises linearly from near 0 to `learningRate` before its
   * cosine decay to 0 at the end of the last epoch; the decay follows every step, not each epoch.
   */
  readonly warmupEpochs?: number;
  /**
   * With validation rows: stop once this many epochs in a row have not raised the validation accuracy (the heads'
   * accuracies weighted as their losses are), and keep the weights of the best epoch. Without them (or 0), every epoch runs.
   * Accuracy, not loss: on the demo catalog the validation loss is lowest by epoch 3, long before the search vectors
   * stop improving (stopping there cost 0.014 held-back P@5).
   */
  readonly patience?: number;
  /**
   * A first layer with at least this many weights is trained in two shares, one on a worker thread
   * (src/refine/splitFirstLayer.ts; default SPLIT_FIRST_LAYER_FROM, Infinity: never); `firstLayerThreads` 1 runs both
   * shares on the calling thread (the same weights, byte for byte).
   */
  readonly splitFirstLayerFrom?: number;
  /**
   * Loss weight of the rows from `copiesFrom` on (training copies: photos as shoppers take them) against 1 for the
   * catalog's own photos (default 1).
   */
  readonly copyWeight?: number;
  /** Label smoothing: each head's target is (1 - e) on the label and e spread evenly over its classes (default 0). */
  readonly labelSmoothing?: number;
  readonly firstLayerThreads?: number;
  /** After each epoch: its mean training loss, and the validation loss and accuracy when there are validation rows. */
  readonly onEpoch?: (epoch: number, loss: number, validation?: { loss: number; accuracy: number }) => void;
}

/** Rows the network does not fit on, whose loss decides when training stops (TrainOptions.patience). */
export interface ValidationRows {
  readonly x: Float32Array;
  readonly n: number;
  /** Each head's class per row (-1: unknown). */
  readonly labels: Int32Array[];
}

/**
 * 12 epochs under the per-step cosine decay reach the validation figures that 24 did, in half the fit's time (demo
 * catalog with copies, validation P@5 / strict after the same-product pin: 24 epochs 0.8662 / 0.5712, pin gap 0.04;
 * 12: 0.8644 / 0.5745, pin gap 0.05; 10: 0.8668 / 0.5779 and 8: 0.8654 / 0.5768, but there every pin gap cost clean
 * photos just over the tolerance, so no pin was kept and fewer copies found their own item first). Chosen on the
 * validation split only; docs/bench.md has the training row.
 */
export const DEFAULT_TRAIN: TrainOptions = Object.freeze({ hidden: 1024, epochs: 12, batchSize: 256, learningRate: 1e-3, weightDecay: 1e-4, dropout: 0.3, seed: 42, patience: 0 });

/**
 * A one-hidden-layer perceptron with several softmax heads, trained by Adam with cross-entropy; labels
 * of -1 (unknown) add no loss. Matrix products run on onnxruntime (Gemm); the rest is plain loops.
 * Seeded: the same data and options give the same weights.
 */
export async function trainMlp(
  gemm: Gemm,
  x: Float32Array,
  n: number,
  d: number,
  labels: Int32Array[],
  heads: readonly HeadSpec[],
  opts: TrainOptions,
  validation?: ValidationRows,
  /** Rows from this one on are training copies (their loss weighs opts.copyWeight); default n: none. */
  copiesFrom = n,
): Promise<MlpWeights & { readonly epochsRun: number; readonly bestEpoch: number }> {
  const rand = mulberry32(opts.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const h = opts.hidden;
  const outDims = heads.reduce((s, hd) => s + hd.classes.length, 0);
  const w1 = new Float32Array(d * h).map(() => gauss() * Math.sqrt(2 / d));
  const b1 = new Float32Array(h);
  const w2 = new Float32Array(h * outDims).map(() => gauss() * Math.sqrt(1 / h));
  const b2 = new Float32Array(outDims);
  const params = [w1, b1, w2, b2];
  // Updated in place by Adam: one object for the whole run.
  const weights: MlpWeights = { inDims: d, hidden: h, heads, w1, b1, w2, b2 };
  const split = d >= 2 && d * h >= (opts.splitFirstLayerFrom ?? SPLIT_FIRST_LAYER_FROM) ? await SplitFirstLayer.start(x, n, d, w1, h, opts.batchSize, opts.firstLayerThreads ?? 2) : null;
  // With a split first layer, its shares update W1 themselves.
  const adam = new Adam(split ? [b1, w2, b2] : params);
  const order = Array.from({ length: n }, (_, i) => i);
  const B = opts.batchSize;
  const xb = new Float32Array(split ? 0 : B * d);
  const patience = validation && validation.n > 0 ? (opts.patience ?? 0) : 0;
  let best = { accuracy: -1, epoch: -1, params: [] as Float32Array[] };
  let epochsRun = 0;
  const stepsPerEpoch = Math.ceil(n / opts.batchSize);
  const schedule = learningRateSchedule(opts.learningRate, opts.epochs * stepsPerEpoch, (opts.warmupEpochs ?? 0) * stepsPerEpoch);
  let step = 0;
  const loss: LossShape = { copiesFrom, copyWeight: opts.copyWeight ?? 1, labelSmoothing: opts.labelSmoothing ?? 0 };
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let lossSum = 0;
      let lossCount = 0;
      for (let start = 0; start < n; start += B) {
        const rows = order.slice(start, start + B);
        const bs = rows.length;
        const lr = schedule(step++);
        if (split) {
          const z1 = await split.forward(rows, bs);
          const g = await afterFirstLayer(split.gemm, weights, z1, rows, labels, opts.dropout, rand, loss);
          lossSum += g.lossSum;
          lossCount += g.lossCount;
          const s = adam.next(lr, opts.weightDecay);
          await split.backward(g.dh, s);
          adam.apply([g.gb1, g.gw2, g.gb2], s);
        } else {
          rows.forEach((r, i) => xb.set(x.subarray(r * d, (r + 1) * d), i * d));
          const g = await batchGradients(gemm, weights, xb.subarray(0, bs * d), rows, labels, opts.dropout, rand, loss);
          lossSum += g.lossSum;
          lossCount += g.lossCount;
          adam.apply([g.gw1, g.gb1, g.gw2, g.gb2], adam.next(lr, opts.weightDecay));
        }
      }
      epochsRun = epoch + 1;
      if (patience > 0) {
        await split?.gather();
        const figures = await validationFigures(gemm, weights, validation!);
        opts.onEpoch?.(epoch, lossSum / Math.max(1, lossCount), figures);
        if (figures.accuracy > best.accuracy) best = { accuracy: figures.accuracy, epoch, params: params.map((p) => p.slice()) };
        else if (epoch - best.epoch >= patience) break;
      } else opts.onEpoch?.(epoch, lossSum / Math.max(1, lossCount));
    }
    await split?.gather();
  } finally {
    await split?.close();
  }
  if (best.epoch >= 0 && best.epoch < epochsRun - 1) params.forEach((p, k) => p.set(best.params[k]!));
  return { ...weights, epochsRun, bestEpoch: best.epoch >= 0 ? best.epoch + 1 : epochsRun };
}

/**
 * The learning rate of each step (from 0): a linear rise over the first `warmup` steps (the first step at lr / warmup),
 * then a cosine decay that reaches 0 after the last of `total` steps.
 */
export function learningRateSchedule(lr: number, total: number, warmup: number): (step: number) => number {
  const w = Math.max(0, Math.min(warmup, total - 1));
  return (step) => {
    if (step < w) return (lr * (step + 1)) / w;
    return lr * 0.5 * (1 + Math.cos((Math.PI * (step - w)) / Math.max(1, total - w)));
  };
}

/** Without dropout: the mean over labelled (row, head) pairs of head weight x -log p(label), and the share right, so weighted. */
async function validationFigures(gemm: Gemm, w: MlpWeights, rows: ValidationRows): Promise<{ loss: number; accuracy: number }> {
  let sum = 0;
  let count = 0;
  let right = 0;
  let weight = 0;
  // In blocks: the hidden layer of every validation row at once would be rows x hidden floats.
  for (let r0 = 0; r0 < rows.n; r0 += 2048) {
    const nb = Math.min(2048, rows.n - r0);
    const { probs } = await mlpForward(gemm, w, rows.x.subarray(r0 * w.inDims, (r0 + nb) * w.inDims), nb);
    w.heads.forEach((hd, k) => {
      const c = hd.classes.length;
      for (let i = 0; i < nb; i++) {
        const y = rows.labels[k]![r0 + i]!;
        if (y < 0) continue;
        const p = probs[k]!.subarray(i * c, (i + 1) * c);
        sum -= hd.weight * Math.log(Math.max(1e-12, p[y]!));
        count++;
        let arg = 0;
        for (let j = 1; j < c; j++) if (p[j]! > p[arg]!) arg = j;
        if (arg === y) right += hd.weight;
        weight += hd.weight;
      }
    });
  }
  return { loss: sum / Math.max(1, count), accuracy: right / Math.max(1e-12, weight) };
}

/**
 * How a row's loss is counted: rows from `copiesFrom` on weigh `copyWeight`; targets smoothed by `labelSmoothing`.
 * The plain loss (weight 1, no smoothing) is the default.
 */
export interface LossShape {
  readonly copiesFrom: number;
  readonly copyWeight: number;
  readonly labelSmoothing: number;
}
const PLAIN_LOSS: LossShape = { copiesFrom: Infinity, copyWeight: 1, labelSmoothing: 0 };

/** Gradients of one batch's loss with respect to each weight array, and the loss they come from. */
export interface BatchGradients {
  readonly gw1: Float32Array;
  readonly gb1: Float32Array;
  readonly gw2: Float32Array;
  readonly gb2: Float32Array;
  /** Sum over the batch's labelled (row, head) pairs of head weight x -log p(label); the loss is this over the batch size. */
  readonly lossSum: number;
  readonly lossCount: number;
}

/**
 * One training step's gradients: batch row i is row `rows[i]` of `labels` (one Int32Array per head, -1 = no
 * label), its inputs row i of `xin`. Loss = sum over rows and heads of weight x cross-entropy, over the batch
 * size. Dropout: each active hidden unit is kept when `rand() < 1 - dropout` (drawn in row-major order) and
 * scaled by 1 / (1 - dropout).
 */
export async function batchGradients(gemm: Gemm, w: MlpWeights, xin: Float32Array, rows: readonly number[], labels: readonly Int32Array[], dropout: number, rand: () => number, loss: LossShape = PLAIN_LOSS): Promise<BatchGradients> {
  const { inDims: d, hidden: h, w1 } = w;
  const bs = rows.length;
  const z1 = await gemm.mul(xin, bs, d, w1, d, h);
  const { dh, ...rest } = await afterFirstLayer(gemm, w, z1, rows, labels, dropout, rand, loss);
  const gw1 = await gemm.mul(xin, bs, d, dh, bs, h, true, false);
  return { gw1, ...rest };
}

/**
 * The step from the first layer's products z1 = x W1 (bs x hidden, before the bias) on: the loss, the gradients of
 * b1, w2 and b2, and dh, the gradient with respect to z1 (from which W1's gradient is x^T dh).
 */
export async function afterFirstLayer(gemm: Gemm, w: MlpWeights, z1: Float32Array, rows: readonly number[], labels: readonly Int32Array[], dropout: number, rand: () => number, loss: LossShape = PLAIN_LOSS): Promise<Omit<BatchGradients, 'gw1'> & { readonly dh: Float32Array }> {
  const { hidden: h, heads, b1, w2, b2 } = w;
  const bs = rows.length;
  const outDims = b2.length;
  const offsets = heads.map((_, i) => heads.slice(0, i).reduce((s, hd) => s + hd.classes.length, 0));
  let lossSum = 0;
  let lossCount = 0;
  const hid = new Float32Array(bs * h);
  const mask = new Float32Array(bs * h);
  const keep = 1 - dropout;
  for (let r = 0, i = 0; r < bs; r++) {
    for (let j = 0; j < h; j++, i++) {
      const a = z1[i]! + b1[j]!;
      if (a > 0 && rand() < keep) {
        hid[i] = a / keep;
        mask[i] = 1 / keep;
      }
    }
  }
  const z2 = await gemm.mul(hid, bs, h, w2, h, outDims);
  const dz = new Float32Array(bs * outDims);
  heads.forEach((hd, k) => {
    const off = offsets[k]!;
    const c = hd.classes.length;
    for (let i = 0; i < bs; i++) {
      const y = labels[k]![rows[i]!]!;
      if (y < 0) continue;
      const base = i * outDims + off;
      let max = -Infinity;
      for (let j = 0; j < c; j++) max = Math.max(max, z2[base + j]! + b2[off + j]!);
      let sum = 0;
      for (let j = 0; j < c; j++) {
        const e = Math.exp(z2[base + j]! + b2[off + j]! - max);
        dz[base + j] = e;
        sum += e;
      }
      const rw = rows[i]! >= loss.copiesFrom ? loss.copyWeight : 1;
      const e = loss.labelSmoothing;
      let rowLoss = 0;
      for (let j = 0; j < c; j++) {
        const p = dz[base + j]! / sum;
        const target = (j === y ? 1 - e : 0) + e / c;
        if (target > 0) rowLoss -= target * Math.log(Math.max(1e-12, p));
        dz[base + j] = (p - target) * ((hd.weight * rw) / bs);
      }
      lossSum += hd.weight * rw * rowLoss;
      lossCount++;
    }
  });
  const gw2 = await gemm.mul(hid, bs, h, dz, bs, outDims, true, false);
  const gb2 = new Float32Array(outDims);
  for (let i = 0; i < bs; i++) for (let j = 0; j < outDims; j++) gb2[j]! += dz[i * outDims + j]!;
  const dh = await gemm.mul(dz, bs, outDims, w2, h, outDims, false, true);
  for (let i = 0; i < bs * h; i++) dh[i]! *= mask[i]!;
  const gb1 = new Float32Array(h);
  for (let i = 0; i < bs; i++) for (let j = 0; j < h; j++) gb1[j]! += dh[i * h + j]!;
  return { dh, gb1, gw2, gb2, lossSum, lossCount };
}

/** Hidden activations and per-head softmax probabilities for many rows at once (Gemm). */
export async function mlpForward(gemm: Gemm, w: MlpWeights, x: Float32Array, n: number): Promise<{ hidden: Float32Array; probs: Float32Array[] }> {
  const h = w.hidden;
  const z1 = await gemm.mul(x, n, w.inDims, w.w1, w.inDims, h);
  for (let i = 0; i < n * h; i++) z1[i] = Math.max(0, z1[i]! + w.b1[i % h]!);
  const outDims = w.b2.length;
  const z2 = await gemm.mul(z1, n, h, w.w2, h, outDims);
  return { hidden: z1, probs: softmaxHeads(w, z2, n) };
}

/** The same for one row, in plain JavaScript (a query: no session round trip needed). */
/** w1 transposed (hidden x inDims), made once per model: one query's hidden layer then reads memory in order. */
const transposedW1 = new WeakMap<MlpWeights, Float32Array>();

function w1ByUnit(w: MlpWeights): Float32Array {
  let t = transposedW1.get(w);
  if (!t) {
    const h = w.hidden;
    t = new Float32Array(w.w1.length);
    for (let i = 0; i < w.inDims; i++) for (let j = 0; j < h; j++) t[j * w.inDims + i] = w.w1[i * h + j]!;
    transposedW1.set(w, t);
  }
  return t;
}

export function mlpForwardOne(w: MlpWeights, x: Float32Array): { hidden: Float32Array; probs: Float32Array[] } {
  const h = w.hidden;
  const d = w.inDims;
  const t = w1ByUnit(w);
  // Dot products per hidden unit (W1 stored by unit): ~4x faster than updating every unit per input.
  const hid = matVecRows(t, h, d, x, w.b1);
  for (let j = 0; j < h; j++) if (!(hid[j]! > 0)) hid[j] = 0;
  const outDims = w.b2.length;
  const z2 = new Float32Array(outDims);
  for (let j = 0; j < h; j++) {
    const hj = hid[j]!;
    if (hj === 0) continue;
    const row = j * outDims;
    for (let c = 0; c < outDims; c++) z2[c]! += hj * w.w2[row + c]!;
  }
  return { hidden: hid, probs: softmaxHeads(w, z2, 1) };
}

function softmaxHeads(w: MlpWeights, z2: Float32Array, n: number): Float32Array[] {
  const outDims = w.b2.length;
  let off = 0;
  return w.heads.map((hd) => {
    const c = hd.classes.length;
    const p = new Float32Array(n * c);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < c; j++) max = Math.max(max, z2[i * outDims + off + j]! + w.b2[off + j]!);
      let sum = 0;
      for (let j = 0; j < c; j++) {
        const e = Math.exp(z2[i * outDims + off + j]! + w.b2[off + j]! - max);
        p[i * c + j] = e;
        sum += e;
      }
      for (let j = 0; j < c; j++) p[i * c + j]! /= sum;
    }
    off += c;
    return p;
  });
}
