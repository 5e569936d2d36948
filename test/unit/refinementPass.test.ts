import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedGemm } from '../../src/linalg/sharedGemm.js';
import { COLOUR_DIMS } from '../../src/refine/colourFeatures.js';
import { RefineModel } from '../../src/refine/refineModel.js';
import { RefinementService } from '../../src/services/refinement.js';
import { mulberry32 } from '../../src/util/random.js';
import { tinyRefinement } from './toys.js';

const BD = 40;

/** A small refinement (two heads, 24 hidden units, no same-product part) with seeded weights. */
function toyModel(): RefineModel {
  const rng = mulberry32(5);
  const heads = [
    { field: 'articleType', weight: 1, classes: ['Tshirts', 'Shirts', 'Watches'] },
    { field: 'baseColour', weight: 1, classes: ['Red', 'Blue'] },
  ];
  const inDims = BD + COLOUR_DIMS, hidden = 24, outDims = 5;
  const weights = {
    inDims,
    hidden,
    heads,
    w1: Float32Array.from({ length: inDims * hidden }, () => rng() - 0.5),
    b1: Float32Array.from({ length: hidden }, () => (rng() - 0.5) * 0.1),
    w2: Float32Array.from({ length: hidden * outDims }, () => rng() - 0.5),
    b2: Float32Array.from({ length: outDims }, () => (rng() - 0.5) * 0.1),
  };
  const header = {
    version: 1 as const,
    backboneKey: 'test',
    colourVersion: RefineModel.colourVersion(),
    backboneDims: BD,
    mean: Array.from({ length: inDims }, () => rng() * 0.1),
    std: Array.from({ length: inDims }, () => 0.5 + rng()),
    hidden,
    heads,
    fusion: { type: 1, colour: 0.6, histogram: 0.4, hidden: 0.7, gender: 0.3 },
    trainedAt: 'now',
    report: {},
  };
  return new RefineModel(header, weights);
}

test("a query's refinement pass runs its products on the shared Gemm, with the JavaScript pass's vector and labels", async () => {
  const model = toyModel();
  const rng = mulberry32(11);
  const shared = new SharedGemm(1);
  let asked = 0;
  const counting = { get: () => (asked++, shared.get()), close: () => shared.close() } as unknown as SharedGemm;
  const service = new RefinementService(model, undefined, counting);
  try {
    for (let k = 0; k < 5; k++) {
      const f = { vector: Float32Array.from({ length: BD }, () => rng() * 2), colour: Float32Array.from({ length: COLOUR_DIMS }, () => rng()) };
      const js = model.analyse(f.vector, f.colour);
      const a = await service.analyse(f);
      assert.equal(a.searchVector.length, js.vector.length);
      // float32 sums on onnxruntime against double sums in JavaScript: equal to ~1e-6.
      js.vector.forEach((x, j) => assert.ok(Math.abs(x - a.searchVector[j]!) < 1e-5, `dim ${j}: ${x} vs ${a.searchVector[j]}`));
      assert.deepEqual(Object.keys(a.predicted!), ['articleType', 'baseColour']);
      for (const field of ['articleType', 'baseColour']) {
        assert.equal(a.predicted![field]!.value, js.predicted[field]!.value);
        assert.ok(Math.abs(a.predicted![field]!.confidence - js.predicted[field]!.confidence) <= 0.001);
      }
    }
    assert.equal(asked, 5, 'every pass went through the Gemm');
    // Without a Gemm (a service made without one) the pass is the JavaScript one, exactly.
    const f = { vector: Float32Array.from({ length: BD }, () => rng()), colour: Float32Array.from({ length: COLOUR_DIMS }, () => rng()) };
    assert.deepEqual((await new RefinementService(model).analyse(f)).searchVector, model.analyse(f.vector, f.colour).vector);
  } finally {
    await shared.close();
  }
});

test('the shared Gemm is made once, on first use, and made again after it is closed', async () => {
  const shared = new SharedGemm(1);
  const [a, b] = await Promise.all([shared.get(), shared.get()]);
  assert.equal(a, b);
  assert.deepEqual(Array.from(await a.mul(Float32Array.of(1, 2), 1, 2, Float32Array.of(3, 4), 2, 1)), [11]);
  await shared.close();
  const c = await shared.get();
  assert.notEqual(c, a);
  await shared.close();
});

test("a photo's same-product vector made while its readings were compared is the one its refinement pass uses, not made again", async () => {
  const { header, weights } = tinyRefinement(BD, 9, { instance: 2 });
  const rng = mulberry32(17);
  const dims = 6, d = BD + COLOUR_DIMS;
  const projection = { colourWeight: 0.5, backboneDims: BD, dims, mean: Float32Array.from({ length: d }, () => rng() * 0.1), matrix: Float32Array.from({ length: dims * d }, () => rng() - 0.5) };
  const model = new RefineModel({ ...header, instance: { colourWeight: 0.5, dims, pairs: 0 } }, weights, projection);
  const shared = new SharedGemm(1);
  try {
    for (const service of [new RefinementService(model), new RefinementService(model, undefined, shared)]) {
      const f = { vector: Float32Array.from({ length: BD }, () => rng() * 2), colour: Float32Array.from({ length: COLOUR_DIMS }, () => rng()) };
      const [given] = service.sameProductVectors([f]);
      const fresh = await service.analyse(f);
      const reused = await service.analyse(f, given);
      // The same projection of the same features: the pass is the same, bit for bit.
      assert.deepEqual(reused, fresh);
      // And it is the given vector that is used (another one changes the same-product part).
      const other = Float32Array.from(given!, (x) => -x);
      assert.notDeepEqual((await service.analyse(f, other)).sameProductVector, fresh.sameProductVector);
    }
  } finally {
    await shared.close();
  }
});
