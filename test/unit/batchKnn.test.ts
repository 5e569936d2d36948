import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gemm } from '../../src/linalg/gemm.js';
import { batchKnn, weightedPartsKnn, weightedPartsKnnPrefixes } from '../../src/linalg/batchKnn.js';
import { gaussian, mulberry32 } from './toys.js';

let gemm: Gemm;
before(async () => {
  gemm = await Gemm.create(1);
});
after(async () => {
  await gemm.close();
});

test('a grid of part weightings ranks the gallery as each weighting\'s concatenated search vectors do', async () => {
  const g = gaussian(mulberry32(21));
  const dims = [3, 7, 0, 12];
  const nq = 40, ng = 300;
  const rows = (n: number) => dims.map((d) => ({ data: Float32Array.from({ length: n * d }, () => g()), dims: d }));
  const q = rows(nq), gal = rows(ng);
  // Part 0 has the same weight at every grid point (folded once), part 2 is empty, parts 1 and 3 vary, one weight is 0.
  const grid = [[1, 0.36, 5, 0.16], [1, 0.81, 5, 0.49], [1, 0, 5, 1]];
  const tops = await weightedPartsKnn(gemm, q, nq, gal, ng, grid, 5);
  const concat = (parts: typeof q, n: number, w: number[]) => {
    const d = dims.reduce((a, b) => a + b, 0);
    const out = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      let o = 0;
      parts.forEach((p, k) => {
        for (let j = 0; j < p.dims; j++) out[r * d + o + j] = p.data[r * p.dims + j]! * Math.sqrt(w[k]!);
        o += p.dims;
      });
    }
    return out;
  };
  for (const [i, w] of grid.entries()) {
    const d = dims.reduce((a, b) => a + b, 0);
    const expected = await batchKnn(gemm, concat(q, nq, w), nq, concat(gal, ng, w), ng, d, 5);
    assert.deepEqual(Array.from(tops[i]!), Array.from(expected), `weighting ${i}`);
  }
});

test('top rows against prefixes of one gallery, in one pass, are each prefix\'s own top rows (ties to the lower row)', async () => {
  const rand = mulberry32(22);
  // Scores on a coarse grid: many ties, which must go to the lower row in every prefix.
  const coarse = () => Math.round(rand() * 4) / 4;
  const dims = [2, 3, 4, 5, 6];
  const nq = 30, ng = 250;
  const rows = (n: number) => dims.map((d) => ({ data: Float32Array.from({ length: n * d }, coarse), dims: d }));
  const q = rows(nq), gal = rows(ng);
  // Up to three weighted terms take the one-pass sum; four varying parts take the other path.
  for (const grid of [[[1, 0.5, 2, 0.3, 1], [1, 0.25, 1, 0.7, 1], [1, 0, 1, 0.7, 1]], [[1, 2, 3, 4, 5], [2, 1, 1, 1, 1]], [[1, 1, 1, 1, 1]]]) {
    const ends = [0, 100, 101, ng];
    const tops = await weightedPartsKnnPrefixes(gemm, q, nq, gal, ends, grid, 5);
    for (const [e, end] of ends.entries()) {
      const own = await weightedPartsKnn(gemm, q, nq, gal.map((p) => ({ data: p.data.slice(0, end * p.dims), dims: p.dims })), end, grid, 5);
      own.forEach((t, w) => assert.deepEqual(Array.from(tops[e]![w]!), Array.from(t), `gallery of ${end} rows, weighting ${w}`));
    }
  }
  await assert.rejects(() => weightedPartsKnnPrefixes(gemm, q, nq, gal, [100, 50], [[1, 1, 1, 1, 1]], 5), /ascending/);
});
