import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gemm } from '../../src/linalg/gemm.js';
import { mulberry32 } from '../../src/util/random.js';
import { matVecRows } from '../../src/linalg/matVec.js';
import { mlpForward, mlpForwardOne, type MlpWeights } from '../../src/refine/mlp.js';

const random = (n: number, rng: () => number) => Float32Array.from({ length: n }, () => rng() - 0.5);

test('matVecRows equals a row-by-row product, with and without bias, for row counts not a multiple of four', () => {
  const rng = mulberry32(7);
  for (const rows of [1, 4, 7, 10]) {
    const d = 13;
    const m = random(rows * d, rng), x = random(d, rng), bias = random(rows, rng);
    const got = matVecRows(m, rows, d, x, bias);
    const plain = matVecRows(m, rows, d, x, null);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += m[r * d + i]! * x[i]!;
      assert.ok(Math.abs(got[r]! - (s + bias[r]!)) < 1e-5, `row ${r} of ${rows}`);
      assert.ok(Math.abs(plain[r]! - s) < 1e-5);
    }
  }
});

test('one photo through the network (JS) gives what the batched pass (onnxruntime Gemm) gives', async () => {
  const rng = mulberry32(3);
  const inDims = 37, hidden = 22;
  const heads = [{ field: 'articleType', classes: ['a', 'b', 'c'], weight: 1 }, { field: 'gender', classes: ['m', 'w'], weight: 1 }];
  const w: MlpWeights = { inDims, hidden, heads, w1: random(inDims * hidden, rng), b1: random(hidden, rng), w2: random(hidden * 5, rng), b2: random(5, rng) };
  const x = random(2 * inDims, rng);
  const gemm = await Gemm.create(1);
  try {
    const batch = await mlpForward(gemm, w, x, 2);
    for (const row of [0, 1]) {
      const one = mlpForwardOne(w, x.subarray(row * inDims, (row + 1) * inDims));
      for (let j = 0; j < hidden; j++) assert.ok(Math.abs(one.hidden[j]! - batch.hidden[row * hidden + j]!) < 1e-4, `hidden ${j}`);
      heads.forEach((h, k) => {
        for (let c = 0; c < h.classes.length; c++) assert.ok(Math.abs(one.probs[k]![c]! - batch.probs[k]![row * h.classes.length + c]!) < 1e-4);
      });
    }
  } finally {
    await gemm.close();
  }
});
