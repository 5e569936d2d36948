import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedSpace } from '../../src/index/embeddedSpace.js';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { COLOUR_DIMS } from '../../src/refine/colourFeatures.js';
import { RefineModel } from '../../src/refine/refineModel.js';
import { KIND_NEIGHBOURS, KIND_TEMPERATURE, KIND_WEIGHT, mixKinds, neighbourKindShares } from '../../src/search/kindPrior.js';
import type { CatalogService } from '../../src/services/catalog.js';
import { RefinementService } from '../../src/services/refinement.js';
import { SearchService } from '../../src/services/search.js';
import { mulberry32 } from '../../src/util/random.js';
import { tinyRefinement } from './toys.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} against ${b}`);

test("the neighbours' kinds count by softmax of their cosine: nearer ones more, all alike at temperature 0", () => {
  const near = [
    { kind: 'Shirts', similarity: 0.9 },
    { kind: 'Tshirts', similarity: 0.88 },
    { kind: 'Tshirts', similarity: 0.87 },
    { kind: undefined, similarity: 0.95 },
  ];
  const even = neighbourKindShares(near, 0);
  close(even.get('Tshirts')!, 2 / 3, 'equal votes');
  close(even.get('Shirts')!, 1 / 3, 'equal votes');
  const sharp = neighbourKindShares(near, 0.01);
  const e = (x: number) => Math.exp(x / 0.01);
  close(sharp.get('Shirts')!, e(0) / (e(0) + e(-0.02) + e(-0.03)), 'softmax');
  assert.ok(sharp.get('Shirts')! > sharp.get('Tshirts')!, 'the nearest outweighs two a little further at a low temperature');
  assert.equal(neighbourKindShares([], 0.02).size, 0);
  assert.equal(neighbourKindShares([{ kind: undefined, similarity: 1 }], 0.02).size, 0, 'an item without a kind does not vote');
});

test("the query's kind probabilities are mixed with the neighbours' shares; kinds the network lacks are left out", () => {
  const classes = ['A', 'B', 'C'];
  const probs = Float32Array.from([0.7, 0.2, 0.1]);
  const mixed = mixKinds(probs, classes, new Map([['B', 0.5], ['Z', 0.5]]), 0.5);
  close(mixed[0]!, 0.35, 'A');
  close(mixed[1]!, 0.1 + 0.5, 'B: the only known share, scaled to 1');
  close(mixed[2]!, 0.05, 'C');
  assert.deepEqual([...mixKinds(probs, classes, new Map([['B', 1]]), 0)], [...probs], 'weight 0: the network alone');
  assert.deepEqual([...mixKinds(probs, classes, new Map([['Z', 1]]), 0.5)], [...probs], 'no known share: unchanged');
  assert.deepEqual([...probs], [0.7, 0.2, 0.1].map(Math.fround), 'the input is untouched');
});

/** A small refinement with two kinds, A and B (random weights: only the type part's layout matters here). */
function tinyModel(): RefineModel {
  const { header, weights } = tinyRefinement(6, 3);
  return new RefineModel(header, weights);
}

test("a query vector's type part reads back as the network's probabilities and is rebuilt as fuse() builds it", () => {
  const model = tinyModel();
  const rng = mulberry32(5);
  const q = model.queryVector(Float32Array.from({ length: 6 }, () => rng()), Float32Array.from({ length: COLOUR_DIMS }, () => rng()));
  const p = model.typeProbabilities(q);
  close(p[0]! + p[1]!, 1, 'probabilities');
  const again = model.withTypeProbabilities(q, p);
  q.forEach((x, j) => close(again[j]!, x, `entry ${j}`));
  const b = model.withTypeProbabilities(q, Float32Array.from([0, 1]));
  close(b[0]!, 0, 'A');
  close(b[1]!, 1, 'B at the type weight');
  assert.deepEqual([...b.subarray(2)], [...q.subarray(2)], 'the other parts are untouched');
});

test("a photo the network takes for the wrong kind is searched for its neighbours' kind (same-product space as shipped, or backbone)", async () => {
  const model = tinyModel();
  const refinement = new RefinementService(model);
  // Four items alike in everything the refined space holds but their labelled kind, so that the kind part alone orders them;
  // their same-product vectors (searched apart; the backbone space here holds the same rows) put the two of kind B nearest the photo.
  const ids = ['a1', 'a2', 'b1', 'b2'];
  const kinds = ['A', 'A', 'B', 'B'];
  const rng = mulberry32(7);
  const backbone = Float32Array.from({ length: 6 }, () => rng());
  const colour = Float32Array.from({ length: COLOUR_DIMS }, () => rng());
  const refined = ids.map((_, i) => [...model.itemVector(backbone, colour, { articleType: kinds[i]! })]);
  const backbones = [[0, 1, 0, 0, 0, 0], [0, 0.9, 0.1, 0, 0, 0], [1, 0, 0, 0, 0.05, 0], [0.95, 0.05, 0, 0, 0, 0]];
  const metadata = ids.map((id, i) => ({ id, articleType: kinds[i]! }));
  const space = (rows: number[][], dims: number) => new EmbeddedSpace(ids, metadata, new ExactIndex(Float32Array.from(rows.flat()), dims));
  const catalog = { hasOutOfStock: false, has: (id: string) => ids.includes(id), item: (id: string) => ({ metadata: metadata[ids.indexOf(id)]! }) } as unknown as CatalogService;
  const search = new SearchService(catalog, { search: space(refined, model.dims), sameProduct: space(backbones, 6), backbone: space(backbones, 6) }, { k: 2, metric: 'cosine', pinGap: null });
  // The network: 70% A.
  const query = model.withTypeProbabilities(model.queryVector(backbone, colour), Float32Array.from([0.7, 0.3]));
  const photoBackbone = Float32Array.from([1, 0, 0, 0, 0, 0]);

  const plain = await search.nearest(query, { k: 2 });
  assert.deepEqual(plain.hits.map((h) => h.metadata.articleType), ['A', 'A']);
  const shares = await search.neighbourKinds(photoBackbone, KIND_NEIGHBOURS, KIND_TEMPERATURE, 'sameProduct');
  assert.ok(shares.get('B')! > 0.99, `the nearest are B: ${JSON.stringify([...shares])}`);
  assert.deepEqual([...(await search.neighbourKinds(photoBackbone, KIND_NEIGHBOURS, KIND_TEMPERATURE))], [...shares], 'the backbone space alike');
  const mixed = await search.nearest(refinement.withKindShares(query, shares, KIND_WEIGHT), { k: 2 });
  assert.deepEqual(mixed.hits.map((h) => h.metadata.articleType), ['B', 'B']);
  // Without a refinement the vector is searched as it is.
  assert.equal(new RefinementService(null).withKindShares(query, shares, KIND_WEIGHT), query);
});
