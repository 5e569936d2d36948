import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { mulberry32 } from '../../src/util/random.js';

function naive(vectors: Float32Array, dims: number, q: Float32Array, k: number, metric: 'cosine' | 'euclidean') {
  const n = vectors.length / dims;
  const rows = [];
  for (let r = 0; r < n; r++) {
    const x = vectors.subarray(r * dims, (r + 1) * dims);
    let dot = 0, nx = 0, nq = 0, d2 = 0;
    for (let j = 0; j < dims; j++) {
      dot += x[j]! * q[j]!;
      nx += x[j]! ** 2;
      nq += q[j]! ** 2;
      d2 += (x[j]! - q[j]!) ** 2;
    }
    rows.push({ row: r, distance: metric === 'cosine' ? 1 - dot / Math.sqrt(nx * nq) : Math.sqrt(d2) });
  }
  return rows.sort((a, b) => a.distance - b.distance || a.row - b.row).slice(0, k);
}

test('exact search equals a naive scan for both metrics, with and without a filter', () => {
  const rand = mulberry32(7);
  const dims = 37;
  const n = 500;
  const v = new Float32Array(n * dims).map(() => rand() * 2 - 1);
  const idx = new ExactIndex(v, dims);
  for (let t = 0; t < 20; t++) {
    const q = new Float32Array(dims).map(() => rand() * 2 - 1);
    for (const metric of ['cosine', 'euclidean'] as const) {
      const got = idx.search(q, 7, metric);
      const want = naive(v, dims, q, 7, metric);
      assert.deepEqual(got.map((g) => g.row), want.map((w) => w.row));
      got.forEach((g, i) => assert.ok(Math.abs(g.distance - want[i]!.distance) < 1e-4));
      const even = idx.search(q, 5, metric, (r) => r % 2 === 0);
      assert.ok(even.every((g) => g.row % 2 === 0));
      assert.equal(even.length, 5);
    }
  }
});

test('k larger than the catalog returns everything, sorted', () => {
  const idx = new ExactIndex(new Float32Array([1, 0, 0, 1, 1, 1]), 2);
  const res = idx.search(new Float32Array([1, 0]), 10, 'cosine');
  assert.deepEqual(res.map((r) => r.row), [0, 2, 1]);
});
