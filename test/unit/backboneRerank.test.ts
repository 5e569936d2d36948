import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedSpace } from '../../src/index/embeddedSpace.js';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { offBackdrop, rerankByBackbone } from '../../src/search/backboneRerank.js';
import type { CatalogService } from '../../src/services/catalog.js';
import { SearchService } from '../../src/services/search.js';

const cosine = (a: readonly number[], b: readonly number[]) => {
  let d = 0, na = 0, nb = 0;
  for (let j = 0; j < a.length; j++) (d += a[j]! * b[j]!), (na += a[j]! * a[j]!), (nb += b[j]! * b[j]!);
  return d / Math.sqrt(na * nb);
};

/**
 * A photo whose refined vector sits nearest two items of the predicted kind and colour, and whose backbone vector is
 * nearly the backbone vector of the third (the photographed item, its prediction a little off).
 */
function fixture() {
  const photo = { refined: [1, 0, 0], backbone: [0.9, 0.1, 0.4] };
  const items = [
    { id: 'look-alike-a', refined: [0.99, 0.14, 0], backbone: [0.1, 0.9, 0.2] },
    { id: 'look-alike-b', refined: [0.97, 0, 0.24], backbone: [0.2, 0.3, 0.9] },
    { id: 'own', refined: [0.93, 0.37, 0], backbone: [0.88, 0.12, 0.42] },
    { id: 'far', refined: [0.5, 0.86, 0], backbone: [0.85, 0.2, 0.45] },
  ];
  const hits = items.map((it) => ({ id: it.id, score: cosine(photo.refined, it.refined) })).sort((a, b) => b.score - a.score);
  const backbone = hits.map((h) => cosine(photo.backbone, items.find((it) => it.id === h.id)!.backbone));
  return { hits, backbone };
}

test('the refined candidates are ordered again by refined + beta x backbone similarity: the item that looks like the photo comes first', () => {
  const { hits, backbone } = fixture();
  assert.deepEqual(hits.map((h) => h.id), ['look-alike-a', 'look-alike-b', 'own', 'far']);
  const out = rerankByBackbone(hits, backbone, 0.5);
  assert.equal(out[0]!.id, 'own');
  // A candidate far in the refined space (another kind) stays behind however alike its backbone is, at this weight.
  assert.equal(out.at(-1)!.id, 'far');
  assert.deepEqual(hits.map((h) => h.id), ['look-alike-a', 'look-alike-b', 'own', 'far'], 'the input is not reordered');
});

test('beta 0 keeps the refined order; a pinned look-alike stays first; an unknown backbone similarity counts as the lowest', () => {
  const { hits, backbone } = fixture();
  assert.deepEqual(rerankByBackbone(hits, backbone, 0).map((h) => h.id), hits.map((h) => h.id));
  const pinned = [{ ...hits[0]!, lookAlike: true }, ...hits.slice(1)];
  assert.deepEqual(rerankByBackbone(pinned, backbone, 0.5).map((h) => h.id).slice(0, 2), ['look-alike-a', 'own']);
  const unknown = rerankByBackbone(hits, [backbone[0]!, backbone[1]!, null, backbone[3]!], 0.5);
  assert.notEqual(unknown[0]!.id, 'own');
});

test('equal keys keep the refined order', () => {
  const hits = [{ id: 'a', score: 0.5 }, { id: 'b', score: 0.5 }, { id: 'c', score: 0.5 }];
  assert.deepEqual(rerankByBackbone(hits, [0.7, 0.7, 0.7], 1).map((h) => h.id), ['a', 'b', 'c']);
});

test("a photo search on a refined catalog puts first the candidate its backbone reading is nearest, an item search keeps the refined order", async () => {
  // The same four items as above, as spaces: refined vectors searched, backbone vectors beside them.
  const ids = ['look-alike-a', 'look-alike-b', 'own', 'far'];
  const refined = [[0.99, 0.14, 0], [0.97, 0, 0.24], [0.93, 0.37, 0], [0.5, 0.86, 0]];
  const backbone = [[0.1, 0.9, 0.2], [0.2, 0.3, 0.9], [0.88, 0.12, 0.42], [0.85, 0.2, 0.45]];
  const metadata = ids.map((id) => ({ id }));
  const space = (rows: number[][]) => new EmbeddedSpace(ids, metadata, new ExactIndex(Float32Array.from(rows.flat()), 3));
  const catalog = { hasOutOfStock: false, has: (id: string) => ids.includes(id), item: (id: string) => ({ metadata: { id } }) } as unknown as CatalogService;
  const search = new SearchService(catalog, { search: space(refined), sameProduct: null, backbone: space(backbone) }, { k: 3, metric: 'cosine', pinGap: null });
  const photo = { refined: Float32Array.from([1, 0, 0]), backbone: Float32Array.from([0.9, 0.1, 0.4]) };
  const plain = await search.nearest(photo.refined, { k: 3 });
  assert.deepEqual(plain.hits.map((h) => h.id), ['look-alike-a', 'look-alike-b', 'own']);
  const reranked = await search.nearest(photo.refined, { k: 3, backbone: photo.backbone });
  assert.equal(reranked.hits[0]!.id, 'own');
  assert.equal(reranked.hits.length, 3);
  // Euclidean searches keep the refined order: the weight was chosen on cosine similarities.
  const euclidean = await search.nearest(photo.refined, { k: 3, metric: 'euclidean', backbone: photo.backbone });
  assert.equal(euclidean.hits[0]!.id, 'look-alike-a');
});

test('only photos taken off a backdrop are re-ranked: studio shots and photos isolation left alone keep the refined order', () => {
  assert.equal(offBackdrop('replaced'), true);
  assert.equal(offBackdrop('balanced'), true);
  assert.equal(offBackdrop('studio'), false);
  assert.equal(offBackdrop('unchanged'), false);
  assert.equal(offBackdrop(undefined), false, 'a catalog that does not isolate');
});
