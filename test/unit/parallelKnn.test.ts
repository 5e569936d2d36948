import assert from 'node:assert/strict';
import test from 'node:test';
import { weightedPartsKnnPrefixes } from '../../src/linalg/batchKnn.js';
import { Gemm } from '../../src/linalg/gemm.js';
import { weightedPartsKnnPrefixesParallel } from '../../src/linalg/parallelKnn.js';
import { mulberry32 } from '../../src/util/random.js';

test('the queries in two halves, one on a worker thread, give the rows of one call, bit for bit', async () => {
  const rand = mulberry32(5);
  const part = (n: number, dims: number) => ({ data: Float32Array.from({ length: n * dims }, () => rand() - 0.5), dims });
  const nq = 2101;
  const ng = 700;
  const q = [part(nq, 40), part(nq, 16), part(nq, 6)];
  const g = [part(ng, 40), part(ng, 16), part(ng, 6)];
  const grid = [0, 0.5, 1, 1.4].map((w) => [1, w * w, w]);
  const gemm = await Gemm.create(2);
  try {
    const one = await weightedPartsKnnPrefixes(gemm, q, nq, g, [300, ng], grid, 5);
    const two = await weightedPartsKnnPrefixesParallel(gemm, q, nq, g, [300, ng], grid, 5, 2);
    assert.equal(two.length, 2);
    two.forEach((byWeighting, e) => byWeighting.forEach((rows, w) => assert.deepEqual(rows, one[e]![w]!, `prefix ${e}, weighting ${w}`)));
    // The second half's rows are there (not left at -1).
    assert.ok(two[1]![2]!.subarray((nq - 1) * 5).every((r) => r >= 0));
  } finally {
    await gemm.close();
  }
});
