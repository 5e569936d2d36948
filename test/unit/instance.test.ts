import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Gemm } from '../../src/linalg/gemm.js';
import { COLOUR_DIMS } from '../../src/refine/colourFeatures.js';
import { instanceVector, instanceVectors, learnInstanceProjection, MIN_INSTANCE_PAIRS } from '../../src/refine/instanceProjection.js';
import { RefineModel } from '../../src/refine/refineModel.js';
import { putFirst, sameProductPin } from '../../src/search/sameProduct.js';
import { mulberry32 } from '../../src/util/random.js';
import { tinyRefinement } from './toys.js';

const BD = 48;

/** Items with random features; a copy moves far along a few fixed "condition" directions and a little elsewhere. */
function world(seed: number, n: number) {
  const rng = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const backbones = Float32Array.from({ length: n * BD }, () => Math.abs(gauss()));
  const colours = Float32Array.from({ length: n * COLOUR_DIMS }, () => rng());
  const copyOf = (rows: number[]) => {
    const b = new Float32Array(rows.length * BD);
    const c = new Float32Array(rows.length * COLOUR_DIMS);
    rows.forEach((i, r) => {
      const light = gauss() * 3;
      for (let j = 0; j < BD; j++) b[r * BD + j] = backbones[i * BD + j]! + (j < 12 ? gauss() * 4 : gauss() * 0.1);
      for (let j = 0; j < COLOUR_DIMS; j++) c[r * COLOUR_DIMS + j] = Math.max(0, colours[i * COLOUR_DIMS + j]! + (j < 10 ? light * 0.3 : gauss() * 0.02));
    });
    return { backbones: b, colours: c };
  };
  return { backbones, colours, copyOf };
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0, x = 0, y = 0;
  for (let j = 0; j < a.length; j++) {
    d += a[j]! * b[j]!;
    x += a[j]! ** 2;
    y += b[j]! ** 2;
  }
  return d / Math.sqrt(x * y);
};

test('the instance projection learned from photo/copy pairs finds the very item where raw cosine does not', async () => {
  const gemm = await Gemm.create(1);
  const n = 400;
  const w = world(3, n);
  const trainRows = Array.from({ length: MIN_INSTANCE_PAIRS + 100 }, (_, i) => i);
  const copies = w.copyOf(trainRows);
  const items = { backbones: w.backbones, colours: w.colours };
  const p = await learnInstanceProjection(gemm, items, Array.from({ length: n }, (_, i) => i), copies, trainRows.map((i) => ({ copy: i, item: i })), BD, {
    colourWeight: 0.3,
    shrinkage: 0.1,
    dims: 32,
    iterations: 25,
  });
  assert.equal(p.dims, 32);
  // Fresh copies of items the projection never saw paired.
  const testRows = Array.from({ length: 100 }, (_, i) => n - 1 - i);
  const fresh = w.copyOf(testRows);
  const catalog = await instanceVectors(gemm, p, items, n);
  let hitRaw = 0, hitLearned = 0;
  testRows.forEach((own, r) => {
    const qb = fresh.backbones.subarray(r * BD, (r + 1) * BD);
    const qc = fresh.colours.subarray(r * COLOUR_DIMS, (r + 1) * COLOUR_DIMS);
    const q = instanceVector(p, qb, qc);
    let bestRaw = -1, bestLearned = -1, sRaw = -2, sLearned = -2;
    for (let i = 0; i < n; i++) {
      const raw = cosine(qb, w.backbones.subarray(i * BD, (i + 1) * BD));
      const learned = cosine(q, catalog.subarray(i * p.dims, (i + 1) * p.dims));
      if (raw > sRaw) [sRaw, bestRaw] = [raw, i];
      if (learned > sLearned) [sLearned, bestLearned] = [learned, i];
    }
    if (bestRaw === own) hitRaw++;
    if (bestLearned === own) hitLearned++;
  });
  assert.ok(hitLearned >= 90 && hitLearned > hitRaw + 20, `own item first: learned ${hitLearned}/100, raw cosine ${hitRaw}/100`);
  // One photo at a time (queries) and many at once (the catalog) give the same vector.
  const one = instanceVector(p, w.backbones.subarray(0, BD), w.colours.subarray(0, COLOUR_DIMS));
  assert.ok(cosine(one, catalog.subarray(0, p.dims)) > 0.9999);
  await expect(() => learnInstanceProjection(gemm, items, [0, 1], copies, [{ copy: 0, item: 0 }], BD));

  // Stored with the refinement: the same search vector after a save and a load.
  const tiny = tinyRefinement(BD, 9, { instance: 2 });
  const header = { ...tiny.header, instance: { colourWeight: p.colourWeight, dims: p.dims, pairs: trainRows.length } };
  const weights = tiny.weights;
  const model = new RefineModel(header, weights, p);
  const file = join(mkdtempSync(join(tmpdir(), 'fashion-instance-')), 'refine-model.bin');
  await model.save(file);
  const loaded = RefineModel.load(file);
  const qb = fresh.backbones.subarray(0, BD), qc = fresh.colours.subarray(0, COLOUR_DIMS);
  assert.equal(loaded.dims, model.dims);
  assert.deepEqual(Array.from(loaded.queryVector(qb, qc)), Array.from(model.queryVector(qb, qc)));
  await gemm.close();
});

async function expect(f: () => Promise<unknown>): Promise<void> {
  await assert.rejects(f, /at least 200 photo\/copy pairs/);
}

test('the nearest item in the same-product space goes first only when it leads the next by the gap', () => {
  const near = (a: number, b: number) => [{ row: 7, distance: a }, { row: 3, distance: b }];
  assert.equal(sameProductPin(near(0.1, 0.2), 0.05)?.row, 7);
  assert.equal(sameProductPin(near(0.1, 0.14), 0.05), null);
  // A catalog (or a filter) with one item leaves no rival: that item goes first.
  assert.equal(sameProductPin([{ row: 4, distance: 0.9 }], 0.05)?.row, 4);
  assert.equal(sameProductPin([], 0.05), null);
  const neighbors = [0, 1, 2].map((row) => ({ row, distance: row / 10 }));
  assert.deepEqual(putFirst(neighbors, { row: 2, distance: 0.2 }, (n) => n.row).map((n) => n.row), [2, 0, 1]);
  assert.deepEqual(putFirst(neighbors, { row: 9, distance: 0.5 }, (n) => n.row).map((n) => n.row), [9, 0, 1, 2]);
});
