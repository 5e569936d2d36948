import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gemm } from '../../src/linalg/gemm.js';
import { batchGradients, learningRateSchedule, trainMlp, type HeadSpec, type LossShape, type MlpWeights, type TrainOptions } from '../../src/refine/mlp.js';
import { gaussian, mulberry32 } from './toys.js';

let gemm: Gemm;
before(async () => {
  gemm = await Gemm.create(1);
});
after(async () => {
  await gemm.close();
});

const HEADS: HeadSpec[] = [
  { field: 'articleType', classes: ['a', 'b', 'c'], weight: 1 },
  { field: 'gender', classes: ['m', 'w'], weight: 0.5 },
];

/** Random float32 weights for d inputs and h hidden units. */
function randomWeights(d: number, h: number, heads: readonly HeadSpec[], seed: number): MlpWeights {
  const g = gaussian(mulberry32(seed));
  const out = heads.reduce((s, hd) => s + hd.classes.length, 0);
  return {
    inDims: d,
    hidden: h,
    heads,
    w1: Float32Array.from({ length: d * h }, () => g() * 0.6),
    b1: Float32Array.from({ length: h }, () => g() * 0.2),
    w2: Float32Array.from({ length: h * out }, () => g() * 0.6),
    b2: Float32Array.from({ length: out }, () => g() * 0.2),
  };
}

type Params = { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array };

/**
 * The training loss written out here in float64, independent of the module: mean over the batch rows of the
 * heads' weighted cross-entropy (unlabelled rows count in the mean but add no loss); `mask` multiplies each
 * hidden activation (dropout: 0 or 1/keep).
 */
function loss64(p: Params, d: number, h: number, heads: readonly HeadSpec[], x: Float32Array, labels: readonly Int32Array[], mask: Float64Array | null, shape?: LossShape): number {
  const bs = x.length / d;
  const out = p.b2.length;
  let total = 0;
  for (let r = 0; r < bs; r++) {
    const hid = new Float64Array(h);
    for (let j = 0; j < h; j++) {
      let s = p.b1[j]!;
      for (let i = 0; i < d; i++) s += x[r * d + i]! * p.w1[i * h + j]!;
      hid[j] = Math.max(0, s) * (mask ? mask[r * h + j]! : 1);
    }
    let off = 0;
    heads.forEach((hd, k) => {
      const c = hd.classes.length;
      const y = labels[k]![r]!;
      if (y >= 0) {
        const z = Array.from({ length: c }, (_, q) => {
          let s = p.b2[off + q]!;
          for (let j = 0; j < h; j++) s += hid[j]! * p.w2[j * out + off + q]!;
          return s;
        });
        const max = Math.max(...z);
        const logSum = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
        // Written as the documented loss: row weight x sum over classes of target x -log p, target smoothed.
        const e = shape?.labelSmoothing ?? 0;
        const rw = shape && r >= shape.copiesFrom ? shape.copyWeight : 1;
        const ce = z.reduce((s, v, q) => s + ((q === y ? 1 - e : 0) + e / c) * (logSum - v), 0);
        total += hd.weight * rw * ce;
      }
      off += c;
    });
  }
  return total / bs;
}

/** Central differences of loss64 at a sample of entries of each array, against the module's gradients. */
function checkGradients(
  w: MlpWeights,
  grads: { gw1: Float32Array; gb1: Float32Array; gw2: Float32Array; gb2: Float32Array },
  f: (p: Params) => number,
  samplesPerArray: number,
): void {
  const p: Params = { w1: Float64Array.from(w.w1), b1: Float64Array.from(w.b1), w2: Float64Array.from(w.w2), b2: Float64Array.from(w.b2) };
  const pick = mulberry32(99);
  const eps = 1e-4;
  for (const name of ['w1', 'b1', 'w2', 'b2'] as const) {
    const arr = p[name];
    const g = grads[`g${name}` as const];
    assert.equal(g.length, arr.length, `${name} gradient size`);
    let nonTrivial = 0;
    const entries = arr.length <= samplesPerArray ? [...arr.keys()] : Array.from({ length: samplesPerArray }, () => Math.floor(pick() * arr.length));
    for (const i of entries) {
      const keep = arr[i]!;
      arr[i] = keep + eps;
      const up = f(p);
      arr[i] = keep - eps;
      const down = f(p);
      arr[i] = keep;
      const numeric = (up - down) / (2 * eps);
      const analytic = g[i]!;
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic));
      if (scale > 1e-3) nonTrivial++;
      const rel = Math.abs(numeric - analytic) / Math.max(scale, 1e-3);
      assert.ok(rel < 1e-2, `d loss / d ${name}[${i}]: analytic ${analytic}, central difference ${numeric} (relative error ${rel})`);
    }
    assert.ok(nonTrivial >= Math.min(entries.length, 4) / 2, `${name}: too few entries with a gradient to check (${nonTrivial})`);
  }
}

function batch(d: number, bs: number, seed: number): { x: Float32Array; labels: Int32Array[] } {
  const rand = mulberry32(seed);
  const x = Float32Array.from({ length: bs * d }, () => rand() * 2 - 1);
  // Some rows have no label for a head: -1 adds no loss.
  const labels = HEADS.map((hd, k) => Int32Array.from({ length: bs }, (_, r) => ((r + k) % 4 === 3 ? -1 : Math.floor(rand() * hd.classes.length))));
  return { x, labels };
}

test('training gradients (no dropout) match central differences of the loss for w1, b1, w2, b2', async () => {
  const d = 5, h = 7, bs = 6;
  const w = randomWeights(d, h, HEADS, 1);
  const { x, labels } = batch(d, bs, 2);
  const rows = Array.from({ length: bs }, (_, i) => i);
  const g = await batchGradients(gemm, w, x, rows, labels, 0, mulberry32(3));
  const f = (p: Params) => loss64(p, d, h, HEADS, x, labels, null);
  // The reported loss is the same loss, summed over rows (not yet divided by the batch size).
  const here = f({ w1: Float64Array.from(w.w1), b1: Float64Array.from(w.b1), w2: Float64Array.from(w.w2), b2: Float64Array.from(w.b2) });
  assert.ok(Math.abs(g.lossSum / bs - here) < 1e-5 * Math.max(1, here), `loss ${g.lossSum / bs} vs ${here}`);
  assert.equal(g.lossCount, labels.reduce((s, l) => s + l.filter((y) => y >= 0).length, 0));
  checkGradients(w, g, f, 16);
});

test('training gradients with dropout match central differences of the loss with the same units dropped', async () => {
  const d = 4, h = 9, bs = 5, dropout = 0.5;
  const w = randomWeights(d, h, HEADS, 4);
  const { x, labels } = batch(d, bs, 5);
  const rows = [...Array(bs).keys()];
  const g = await batchGradients(gemm, w, x, rows, labels, dropout, mulberry32(6));
  // Replay the documented draw: one rand() per active hidden unit, in row-major order; kept when < 1 - dropout.
  const rand = mulberry32(6);
  const mask = new Float64Array(bs * h);
  let dropped = 0;
  for (let r = 0; r < bs; r++) {
    for (let j = 0; j < h; j++) {
      let s = w.b1[j]!;
      for (let i = 0; i < d; i++) s += x[r * d + i]! * w.w1[i * h + j]!;
      if (s > 0) {
        if (rand() < 1 - dropout) mask[r * h + j] = 1 / (1 - dropout);
        else dropped++;
      }
    }
  }
  assert.ok(dropped > 0, 'some active units are dropped');
  const f = (p: Params) => loss64(p, d, h, HEADS, x, labels, mask);
  checkGradients(w, g, f, 16);
});

test('training copies weighed more and smoothed labels: gradients match central differences of that loss', async () => {
  const d = 5, h = 7, bs = 6;
  const w = randomWeights(d, h, HEADS, 11);
  const { x, labels } = batch(d, bs, 12);
  const rows = Array.from({ length: bs }, (_, i) => i);
  // Rows 4 and 5 are copies: their loss counts twice; every target is smoothed by 0.1.
  const shape: LossShape = { copiesFrom: 4, copyWeight: 2, labelSmoothing: 0.1 };
  const g = await batchGradients(gemm, w, x, rows, labels, 0, mulberry32(3), shape);
  const f = (p: Params) => loss64(p, d, h, HEADS, x, labels, null, shape);
  const here = f({ w1: Float64Array.from(w.w1), b1: Float64Array.from(w.b1), w2: Float64Array.from(w.w2), b2: Float64Array.from(w.b2) });
  assert.ok(Math.abs(g.lossSum / bs - here) < 1e-5 * Math.max(1, here), `loss ${g.lossSum / bs} vs ${here}`);
  checkGradients(w, g, f, 16);
  // And it is another loss than the plain one (the shape is applied).
  const plain = await batchGradients(gemm, w, x, rows, labels, 0, mulberry32(3));
  assert.ok(Math.abs(plain.lossSum - g.lossSum) > 1e-3);
});

test('a copy weight of 1 and no smoothing are the plain loss, byte for byte', async () => {
  const d = 4, h = 6, bs = 5;
  const w = randomWeights(d, h, HEADS, 13);
  const { x, labels } = batch(d, bs, 14);
  const rows = [...Array(bs).keys()];
  const plain = await batchGradients(gemm, w, x, rows, labels, 0.3, mulberry32(5));
  const shaped = await batchGradients(gemm, w, x, rows, labels, 0.3, mulberry32(5), { copiesFrom: 2, copyWeight: 1, labelSmoothing: 0 });
  for (const k of ['gw1', 'gb1', 'gw2', 'gb2'] as const) assert.deepEqual(shaped[k], plain[k]);
});

test('a head with no labels in the batch adds neither loss nor gradient', async () => {
  const d = 3, h = 4;
  const w = randomWeights(d, h, HEADS, 7);
  const x = Float32Array.from({ length: 2 * d }, (_, i) => (i % 5) - 2);
  const g = await batchGradients(gemm, w, x, [0, 1], [Int32Array.from([0, 2]), Int32Array.from([-1, -1])], 0, () => 0);
  assert.equal(g.lossCount, 2);
  // Columns 3 and 4 of w2 and entries 3, 4 of b2 belong to the unlabelled second head.
  assert.deepEqual([g.gb2[3], g.gb2[4]], [0, 0]);
  for (let j = 0; j < h; j++) assert.deepEqual([g.gw2[j * 5 + 3], g.gw2[j * 5 + 4]], [0, 0]);
});

/** Three Gaussian blobs in 4-D (head 1), and which side of a plane (head 2, a third of its labels unknown). */
function blobs(n: number, seed: number): { x: Float32Array; labels: Int32Array[] } {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const centres = [[2, 0, 0, 1], [-1, 2, 0, -1], [-1, -2, 1, 0]];
  const x = new Float32Array(n * 4);
  const type = new Int32Array(n);
  const side = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const k = r % 3;
    type[r] = k;
    for (let j = 0; j < 4; j++) x[r * 4 + j] = centres[k]![j]! + g() * 0.5;
    side[r] = r % 3 === 0 && rand() < 0.5 ? -1 : x[r * 4 + 3]! > 0 ? 1 : 0;
  }
  return { x, labels: [type, side] };
}

/** Predicted class per head, by a float64 forward pass written here (ReLU hidden layer, argmax of the logits). */
function predict(w: MlpWeights, x: Float32Array, n: number): number[][] {
  const out = w.b2.length;
  const preds = w.heads.map(() => [] as number[]);
  for (let r = 0; r < n; r++) {
    const hid = Array.from({ length: w.hidden }, (_, j) => {
      let s = w.b1[j]!;
      for (let i = 0; i < w.inDims; i++) s += x[r * w.inDims + i]! * w.w1[i * w.hidden + j]!;
      return Math.max(0, s);
    });
    let off = 0;
    w.heads.forEach((hd, k) => {
      let best = 0, bestZ = -Infinity;
      for (let c = 0; c < hd.classes.length; c++) {
        let z = w.b2[off + c]!;
        for (let j = 0; j < w.hidden; j++) z += hid[j]! * w.w2[j * out + off + c]!;
        if (z > bestZ) [best, bestZ] = [c, z];
      }
      preds[k]!.push(best);
      off += hd.classes.length;
    });
  }
  return preds;
}

const SMALL: TrainOptions = { hidden: 24, epochs: 20, batchSize: 32, learningRate: 1e-2, weightDecay: 1e-4, dropout: 0.1, seed: 7 };

test('learns separable Gaussian blobs: training accuracy above 0.95 on both heads, loss going down', async () => {
  const n = 300;
  const { x, labels } = blobs(n, 11);
  const losses: number[] = [];
  const w = await trainMlp(gemm, x, n, 4, labels, HEADS, { ...SMALL, onEpoch: (_e, l) => losses.push(l) });
  assert.equal(losses.length, SMALL.epochs);
  assert.ok(losses.at(-1)! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses.at(-1)}`);
  const preds = predict(w, x, n);
  labels.forEach((l, k) => {
    let right = 0, count = 0;
    l.forEach((y, r) => {
      if (y < 0) return;
      count++;
      if (preds[k]![r] === y) right++;
    });
    assert.ok(right / count > 0.95, `head ${HEADS[k]!.field}: accuracy ${right / count}`);
  });
});

test('training is seeded: the same seed gives byte-identical weights, another seed other weights', async () => {
  const n = 90;
  const { x, labels } = blobs(n, 12);
  const opts = { ...SMALL, epochs: 3, dropout: 0.3 };
  const bytes = (w: MlpWeights) => [w.w1, w.b1, w.w2, w.b2].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const a = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, opts));
  const b = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, opts));
  const c = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, seed: 8 }));
  a.forEach((buf, i) => assert.ok(buf.equals(b[i]!), `array ${i} differs with the same seed`));
  for (const i of [0, 2]) assert.ok(!a[i]!.equals(c[i]!), `weights ${i} are the same with another seed`);
  assert.equal(a[0]!.length, 4 * 24 * 4);
});

test('a first layer split in two shares, the second on a worker thread: the same weights as both shares on one thread, and it learns', async () => {
  const n = 300;
  const { x, labels } = blobs(n, 15);
  const opts = { ...SMALL, epochs: 12, dropout: 0.3, splitFirstLayerFrom: 0 };
  const bytes = (w: MlpWeights) => [w.w1, w.b1, w.w2, w.b2].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const losses: number[] = [];
  const two = await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, onEpoch: (_e, l) => losses.push(l) });
  const one = await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, firstLayerThreads: 1 });
  const [a, b] = [bytes(two), bytes(one)];
  a.forEach((buf, i) => assert.ok(buf.equals(b[i]!), `array ${i} differs between the worker and the calling thread`));
  // Both shares' rows of W1 moved from where they started (the worker's came back), and the split network learns.
  const start = await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, epochs: 0 });
  for (const rows of [[0, 2], [2, 4]]) {
    const part = (w: MlpWeights) => Buffer.from(w.w1.slice(rows[0]! * SMALL.hidden, rows[1]! * SMALL.hidden).buffer);
    assert.ok(!part(start).equals(part(two)), `W1 rows ${rows} did not change`);
  }
  assert.ok(losses.at(-1)! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses.at(-1)}`);
  const preds = predict(two, x, n);
  let right = 0, count = 0;
  labels[0]!.forEach((y, r) => {
    count++;
    if (preds[0]![r] === y) right++;
  });
  assert.ok(right / count > 0.95, `articleType accuracy ${right / count}`);
});

test('early stopping: stops once the validation accuracy has not improved for `patience` epochs and keeps the best epoch\'s weights', async () => {
  const n = 300;
  const { x, labels } = blobs(n, 13);
  // Validation rows whose labels have nothing to do with their inputs: their accuracy soon stops improving.
  const val = blobs(90, 14);
  const rand = mulberry32(5);
  const noise = val.labels.map((l, k) => Int32Array.from(l, () => Math.floor(rand() * HEADS[k]!.classes.length)));
  const valAccuracy: number[] = [];
  const opts = { ...SMALL, epochs: 40, patience: 3, onEpoch: (_e: number, _l: number, v?: { accuracy: number }) => valAccuracy.push(v!.accuracy) };
  const w = await trainMlp(gemm, x, n, 4, labels, HEADS, opts, { x: val.x, n: 90, labels: noise });
  const best = valAccuracy.indexOf(Math.max(...valAccuracy));
  assert.ok(w.epochsRun < 40, `ran all ${w.epochsRun} epochs`);
  assert.equal(w.epochsRun, best + 1 + 3, 'stopped `patience` epochs after the best');
  assert.equal(w.bestEpoch, best + 1);
  // The weights returned are the best epoch's: their validation accuracy (a float64 forward pass written here) is the best one.
  const preds = predict(w, val.x, 90);
  let right = 0, total = 0;
  HEADS.forEach((hd, k) => noise[k]!.forEach((y, r) => {
    total += hd.weight;
    if (preds[k]![r] === y) right += hd.weight;
  }));
  assert.ok(Math.abs(right / total - valAccuracy[best]!) < 1e-9, `${right / total} vs best ${valAccuracy[best]} (last ${valAccuracy.at(-1)})`);
  const again = await trainMlp(gemm, x, n, 4, labels, HEADS, { ...SMALL, epochs: 40, patience: 0 }, { x: val.x, n: 90, labels: noise });
  assert.equal(again.epochsRun, 40, 'with patience 0 every epoch runs');
});

test('learning-rate schedule: a linear rise over the warm-up steps, then a cosine decay that reaches 0 after the last step', () => {
  const lr = learningRateSchedule(0.01, 100, 10);
  assert.ok(Math.abs(lr(0) - 0.001) < 1e-12, `first step ${lr(0)}`);
  assert.ok(Math.abs(lr(9) - 0.01) < 1e-12, `last warm-up step ${lr(9)}`);
  assert.ok(Math.abs(lr(10) - 0.01) < 1e-12, `first decay step ${lr(10)}`);
  assert.ok(Math.abs(lr(55) - 0.005) < 1e-12, `half way through the decay ${lr(55)}`);
  for (let s = 11; s < 100; s++) assert.ok(lr(s) < lr(s - 1), `not decreasing at step ${s}`);
  assert.ok(lr(99) > 0 && lr(99) < 0.01 * 0.001, `last step ${lr(99)}`);
  // Without warm-up the first step runs at the full rate.
  assert.equal(learningRateSchedule(0.01, 100, 0)(0), 0.01);
});

test('warm-up changes the weights (the schedule is applied) and training stays seeded with it', async () => {
  const n = 90;
  const { x, labels } = blobs(n, 13);
  const opts = { ...SMALL, epochs: 3 };
  const bytes = (w: MlpWeights) => Buffer.from(w.w1.buffer, w.w1.byteOffset, w.w1.byteLength);
  const plain = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, opts));
  const a = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, warmupEpochs: 1 }));
  const b = bytes(await trainMlp(gemm, x, n, 4, labels, HEADS, { ...opts, warmupEpochs: 1 }));
  assert.ok(a.equals(b), 'the same options gave other weights');
  assert.ok(!a.equals(plain), 'warm-up made no difference');
});
