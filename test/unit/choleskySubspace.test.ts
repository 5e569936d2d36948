import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cholesky, inverseLower } from '../../src/linalg/cholesky.js';
import { Gemm } from '../../src/linalg/gemm.js';
import { orthonormaliseBlocks, orthonormaliseColumns, topEigenvectors } from '../../src/linalg/subspace.js';
import { mulberry32 } from '../../src/util/random.js';

// The loops as they were written one entry, one row, one pass at a time: the faster ones must give the same bytes.
function choleskyReference(a: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]!;
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * d + j]!;
    }
  }
  return l;
}

function inverseLowerReference(l: Float64Array, d: number): Float64Array {
  const x = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const xi = i * d;
    x[xi + i] = 1;
    for (let k = 0; k < i; k++) {
      const lik = l[xi + k]!;
      for (let c = 0; c <= k; c++) x[xi + c]! -= lik * x[k * d + c]!;
    }
    for (let c = 0; c <= i; c++) x[xi + c]! /= l[xi + i]!;
  }
  return x;
}

function orthonormaliseReference(v: Float32Array, d: number, k: number): void {
  const t = new Float32Array(k * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < k; c++) t[c * d + r] = v[r * k + c]!;
  const col = new Float64Array(d);
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < d; r++) col[r] = t[c * d + r]!;
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += col[r]! * t[p * d + r]!;
      for (let r = 0; r < d; r++) col[r]! -= dot * t[p * d + r]!;
    }
    let s = 0;
    for (let r = 0; r < d; r++) s += col[r]! * col[r]!;
    const inv = 1 / (Math.sqrt(s) || 1);
    for (let r = 0; r < d; r++) t[c * d + r] = col[r]! * inv;
  }
  for (let r = 0; r < d; r++) for (let c = 0; c < k; c++) v[r * k + c] = t[c * d + r]!;
}

/** A random symmetric positive definite d x d matrix: B B^T / n plus a small ridge. */
function spd(seed: number, d: number): Float64Array {
  const rng = mulberry32(seed);
  const n = d + 5;
  const b = Float64Array.from({ length: d * n }, () => rng() - 0.5);
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += b[i * n + k]! * b[j * n + k]!;
    a[i * d + j] = a[j * d + i] = s / n + (i === j ? 1e-3 : 0);
  }
  return a;
}

const sameBytes = (x: Float64Array | Float32Array, y: Float64Array | Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));

test('Cholesky factor and triangular inverse four at a time are the one-at-a-time ones, byte for byte', () => {
  // Sizes around the blocks of four, and one large enough for many of them.
  for (const d of [1, 2, 3, 4, 5, 7, 8, 9, 66, 131]) {
    const a = spd(d, d);
    const l = cholesky(a, d);
    assert.ok(sameBytes(l, choleskyReference(a, d)), `cholesky, d = ${d}`);
    assert.ok(sameBytes(inverseLower(l, d), inverseLowerReference(l, d)), `inverse, d = ${d}`);
  }
  // And they are what they claim: L L^T = A, L^-1 L = I.
  const d = 37;
  const a = spd(5, d);
  const l = cholesky(a, d);
  const inv = inverseLower(l, d);
  let err = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let s = 0, e = 0;
    for (let k = 0; k < d; k++) {
      s += l[i * d + k]! * l[j * d + k]!;
      e += inv[i * d + k]! * l[k * d + j]!;
    }
    err = Math.max(err, Math.abs(s - a[i * d + j]!), Math.abs(e - (i === j ? 1 : 0)));
  }
  assert.ok(err < 1e-9, `largest error ${err}`);
});

test('Gram-Schmidt with fused passes gives the columns of one pass per step, byte for byte, and they are orthonormal', () => {
  for (const [d, k] of [[1, 1], [5, 1], [5, 2], [9, 3], [64, 17], [203, 40]] as const) {
    const rng = mulberry32(d * 100 + k);
    const v = Float32Array.from({ length: d * k }, () => rng() - 0.5);
    const want = v.slice();
    orthonormaliseReference(want, d, k);
    orthonormaliseColumns(v, d, k);
    assert.ok(sameBytes(v, want), `d = ${d}, k = ${k}`);
    for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) {
      let s = 0;
      for (let r = 0; r < d; r++) s += v[r * k + a]! * v[r * k + b]!;
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-5, `column ${a} . column ${b} = ${s}`);
    }
  }
});

test('Gram-Schmidt in blocks of columns gives the columns of one at a time within float32 rounding, and the same leading eigenvectors', async () => {
  const gemm = await Gemm.create(1);
  try {
    // Block sizes that divide the columns, that do not, and one block.
    // The last: nearly parallel columns (as after a product with a matrix of widely spread eigenvalues), where one
    // classical pass would leave columns far from orthogonal in float32; the second pass is what keeps them so.
    for (const [d, k, block, spread] of [[50, 12, 4, 1], [203, 70, 32, 1], [64, 17, 32, 1], [80, 24, 8, 1e-3]] as const) {
      const rng = mulberry32(d + k);
      const common = Float32Array.from({ length: d }, () => rng() - 0.5);
      const v = Float32Array.from({ length: d * k }, (_, i) => common[Math.floor(i / k)]! * (spread < 1 ? 1 : 0) + (rng() - 0.5) * spread);
      const want = v.slice();
      orthonormaliseColumns(want, d, k);
      await orthonormaliseBlocks(gemm, v, d, k, block);
      let worst = 0;
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i]! - want[i]!));
      assert.ok(worst < (spread < 1 ? 1e-2 : 1e-5), `d = ${d}, k = ${k}, block ${block}: largest difference ${worst}`);
      for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) {
        let s = 0;
        for (let r = 0; r < d; r++) s += v[r * k + a]! * v[r * k + b]!;
        assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-5, `column ${a} . column ${b} = ${s}`);
      }
    }
    // A symmetric matrix with known eigenvectors (a random rotation of a falling spectrum): the leading ones are found.
    const d = 120, k = 10;
    const rng = mulberry32(11);
    const basis = Float32Array.from({ length: d * d }, () => rng() - 0.5);
    orthonormaliseColumns(basis, d, d);
    const m = new Float32Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += basis[i * d + e]! * basis[j * d + e]! * 0.8 ** e;
      m[i * d + j] = s;
    }
    const top = await topEigenvectors(gemm, m, d, k, 60);
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += top[r * k + c]! * basis[r * d + c]!;
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-3, `eigenvector ${c}: |cosine| ${Math.abs(dot)}`);
    }
  } finally {
    await gemm.close();
  }
});
