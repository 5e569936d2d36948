/**
 * Products with several photos in the live space: a search lists each product once, at its nearest photo, and the
 * k products it returns are exactly the k nearest by that rule (a naive scan over every photo says which), with
 * filters, with products written and deleted since the snapshot, through both metrics. (Distances agree to 2e-3:
 * a euclidean distance near 0 is the square root of a float32 difference.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedSpace } from '../../src/index/embeddedSpace.js';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { LiveSpace } from '../../src/index/liveSpace.js';
import type { Metric } from '../../src/index/metric.js';
import { mulberry32 } from '../../src/util/random.js';

const DIMS = 16;
const rand = mulberry32(11);
const vec = () => new Float32Array(DIMS).map(() => rand() * 2 - 1);

function distance(q: Float32Array, x: Float32Array, metric: Metric): number {
  let dot = 0, nq = 0, nx = 0, d2 = 0;
  for (let j = 0; j < DIMS; j++) {
    dot += q[j]! * x[j]!;
    nq += q[j]! ** 2;
    nx += x[j]! ** 2;
    d2 += (q[j]! - x[j]!) ** 2;
  }
  return metric === 'cosine' ? 1 - dot / Math.sqrt(nq * nx) : Math.sqrt(d2);
}

test('each product is listed once at its nearest photo, and the k returned are the k nearest products (both metrics, filters, writes)', async () => {
  // 60 products in the snapshot; a third have 1-3 other photos.
  const ids = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(2, '0')}`);
  const colour = (i: number) => (i % 3 === 0 ? 'Red' : 'Blue');
  const first = ids.map(() => vec());
  const photos = new Map<string, Float32Array[]>(ids.map((id, i) => [id, [first[i]!]]));
  const meta = new Map(ids.map((id, i) => [id, { baseColour: colour(i) }]));
  const base = new EmbeddedSpace(ids, ids.map((id) => meta.get(id)!), new ExactIndex(Float32Array.from(first.flatMap((v) => [...v])), DIMS));
  const live = new LiveSpace(base);
  const others = ids.filter((_, i) => i % 3 !== 2).slice(0, 20).map((id, i) => ({ id, vectors: Array.from({ length: 1 + (i % 3) }, vec), metadata: meta.get(id)! }));
  live.setSnapshotPhotos(others);
  for (const o of others) photos.get(o.id)!.push(...o.vectors);
  // Writes since: a new product with three photos, a snapshot product replaced by one photo, one with others deleted.
  const added = [vec(), vec(), vec()];
  live.put('new', added[0]!, { baseColour: 'Red' }, added.slice(1));
  photos.set('new', added);
  meta.set('new', { baseColour: 'Red' });
  const replaced = vec();
  live.put(others[0]!.id, replaced, meta.get(others[0]!.id)!);
  photos.set(others[0]!.id, [replaced]);
  live.remove(others[1]!.id);
  photos.delete(others[1]!.id);

  for (const metric of ['cosine', 'euclidean'] as const) {
    for (let t = 0; t < 30; t++) {
      const q = t % 3 === 0 ? [...photos.values()][t % photos.size]![0]! : vec();
      const k = 1 + (t % 7);
      const red = t % 2 === 0;
      const expected = [...photos]
        .filter(([id]) => !red || meta.get(id)!.baseColour === 'Red')
        .map(([id, vs]) => {
          const ds = vs.map((v) => distance(q, v, metric));
          const best = Math.min(...ds);
          return { id, distance: best, photo: ds.indexOf(best) };
        })
        .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1))
        .slice(0, k);
      const got = await live.search(q, { k, metric, ...(red ? { filter: { metadata: { baseColour: ['Red'] } } } : {}) });
      assert.equal(new Set(got.map((g) => g.id)).size, got.length, 'each product once');
      assert.deepEqual(got.map((g) => g.id), expected.map((e) => e.id), `query ${t} ${metric} k=${k}${red ? ' red' : ''}`);
      got.forEach((g, i) => {
        assert.ok(Math.abs(g.distance - expected[i]!.distance) < 2e-3, `${g.id}: ${g.distance} vs ${expected[i]!.distance}`);
        assert.equal(g.photo ?? 0, expected[i]!.photo, `${g.id}: the photo that matched`);
      });
      // A product's distance, asked directly, is its nearest photo's too.
      const some = expected.map((e) => e.id);
      const direct = await live.distances(q, some, metric);
      for (const e of expected) assert.ok(Math.abs(direct.find((d) => d.id === e.id)!.distance - e.distance) < 2e-3);
    }
  }
});

test('a product whose several photos crowd the nearest rows does not hide the next product', async () => {
  const q = vec();
  const near = (scale: number) => q.map((x) => x + (rand() - 0.5) * scale);
  const ids = ['a', 'b', 'c', 'd'];
  const base = new EmbeddedSpace(ids, ids.map(() => ({})), new ExactIndex(Float32Array.from([vec(), vec(), near(0.5), vec()].flatMap((v) => [...v])), DIMS));
  const live = new LiveSpace(base);
  // a: three other photos right by the query; b: one other photo a little further; c: its first photo further still.
  live.setSnapshotPhotos([
    { id: 'a', vectors: [near(0.01), near(0.01), near(0.01)], metadata: {} },
    { id: 'b', vectors: [near(0.1)], metadata: {} },
  ]);
  const got = await live.search(q, { k: 3, metric: 'euclidean' });
  assert.deepEqual(got.map((g) => g.id), ['a', 'b', 'c']);
  assert.equal(got[1]!.photo, 1);
});
