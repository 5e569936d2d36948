import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedSpace } from '../../src/index/embeddedSpace.js';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { placeSlots } from '../../src/search/sameProductSlots.js';
import type { CatalogService } from '../../src/services/catalog.js';
import { SearchService } from '../../src/services/search.js';

const hits = (...ids: string[]) => ids.map((id) => ({ id }));
const rule = { slots: 2, at: 1, margin: 0.05, minSimilarity: 0, sameKind: false };

test('the same-product space nearest items take the places from `at` on, in their order; the rest of the answer follows', () => {
  const near = [{ id: 'x', similarity: 0.7 }, { id: 'c', similarity: 0.68 }, { id: 'y', similarity: 0.67 }];
  // x (not in the answer) and c (fourth) go to places 1 and 2; y is the third nearest, beyond `slots`.
  assert.deepEqual(placeSlots(hits('a', 'b', 'd', 'c'), near, rule), ['a', 'x', 'c', 'b', 'd']);
  assert.deepEqual(placeSlots(hits('a', 'b', 'd', 'c'), near, { ...rule, at: 0 }), ['x', 'c', 'a', 'b', 'd']);
  assert.deepEqual(placeSlots(hits('a', 'b'), near, { ...rule, slots: 0 }), ['a', 'b'], 'slots 0: off');
  assert.deepEqual(placeSlots(hits('a', 'b'), [], rule), ['a', 'b']);
});

test('only items within the margin of the nearest and above the floor are placed; one shown before `at` stays where it is', () => {
  const near = [{ id: 'x', similarity: 0.7 }, { id: 'c', similarity: 0.6 }];
  assert.deepEqual(placeSlots(hits('a', 'b', 'c'), near, rule), ['a', 'x', 'b', 'c'], 'c is 0.1 behind: not placed');
  assert.deepEqual(placeSlots(hits('a', 'b', 'c'), near, { ...rule, minSimilarity: 0.75 }), ['a', 'b', 'c'], 'below the floor');
  assert.deepEqual(placeSlots(hits('x', 'b', 'c'), near, rule), ['x', 'b', 'c'], 'x is first already: not moved down');
});

test('with sameKind, only items of the kind most common among the answer first five are placed (ties: the first seen)', () => {
  const answer = [{ id: 'a', kind: 'Shirts' }, { id: 'b', kind: 'Tshirts' }, { id: 'c', kind: 'Tshirts' }, { id: 'd', kind: 'Shirts' }, { id: 'e', kind: 'Tshirts' }, { id: 'f', kind: 'Shirts' }];
  const near = [{ id: 'x', similarity: 0.7, kind: 'Shirts' }, { id: 'y', similarity: 0.69, kind: 'Tshirts' }];
  // Tshirts 3 of the first five, Shirts 2 (the sixth does not count): y only.
  assert.deepEqual(placeSlots(answer, near, { ...rule, sameKind: true }), ['a', 'y', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(placeSlots(answer, near, rule), ['a', 'x', 'y', 'b', 'c', 'd', 'e', 'f'], 'without the kind test both');
  // A tie (Shirts first seen): x only.
  assert.deepEqual(placeSlots(answer.slice(0, 4), near, { ...rule, sameKind: true }), ['a', 'x', 'b', 'c', 'd']);
});

test('a pinned first hit keeps its place whatever `at` says, and does not use up a slot', () => {
  const pinned = [{ id: 'x', lookAlike: true }, ...hits('a', 'b', 'c')];
  const near = [{ id: 'x', similarity: 0.8 }, { id: 'c', similarity: 0.76 }, { id: 'd', similarity: 0.76 }];
  assert.deepEqual(placeSlots(pinned, near, { ...rule, at: 0 }), ['x', 'c', 'd', 'a', 'b']);
  // Without the pin mark, x is simply the first hit and the nearest item: it stays first, c and d take the next places.
  assert.deepEqual(placeSlots(hits('x', 'a', 'b', 'c'), near, { ...rule, at: 0 }), ['x', 'c', 'a', 'b']);
});

test('a photo search with slots answers k hits, the same-product nearest item among them although the searched space ranks it last', async () => {
  const ids = ['a', 'b', 'c', 'own'];
  // Searched space: own is the farthest of four. Same-product space: own is nearest the photo.
  const searched = [[1, 0], [0.95, 0.31], [0.9, 0.44], [0.2, 0.98]];
  const sameProduct = [[0, 1], [0.3, 0.95], [0.5, 0.87], [1, 0]];
  const metadata = ids.map((id) => ({ id }));
  const space = (rows: number[][]) => new EmbeddedSpace(ids, metadata, new ExactIndex(Float32Array.from(rows.flat()), 2));
  const catalog = { hasOutOfStock: false, has: (id: string) => ids.includes(id), item: (id: string) => ({ metadata: { id } }) } as unknown as CatalogService;
  // A pin gap no photo meets, so that only the slots can bring the own item up.
  const search = new SearchService(catalog, { search: space(searched), sameProduct: space(sameProduct) }, { k: 3, metric: 'cosine', pinGap: 10 });
  const photo = { searched: Float32Array.from([1, 0]), sameProduct: Float32Array.from([1, 0.05]) };
  const plain = await search.nearest(photo.searched, { k: 3, sameProduct: photo.sameProduct });
  assert.deepEqual(plain.hits.map((h) => h.id), ['a', 'b', 'c']);
  const slotted = await search.nearest(photo.searched, { k: 3, sameProduct: photo.sameProduct, slots: { ...rule, slots: 1, sameKind: true, offBackdropOnly: true } });
  assert.deepEqual(slotted.hits.map((h) => h.id), ['a', 'own', 'b']);
  // The placed item is answered with its own score in the searched space.
  assert.ok(Math.abs(slotted.hits[1]!.score - 0.2 / Math.hypot(0.2, 0.98)) < 1e-5);
  // It is marked as the pin's item is (placed as what looks most like the photo); the others, moved down, are not.
  assert.deepEqual(slotted.hits.map((h) => !!h.lookAlike), [false, true, false]);
  // Without the photo's same-product vector there is nothing to place.
  assert.deepEqual((await search.nearest(photo.searched, { k: 3, slots: { ...rule, slots: 1, sameKind: true, offBackdropOnly: true } })).hits.map((h) => h.id), ['a', 'b', 'c']);
});
