import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, copyFileSync, statSync, existsSync } from 'node:fs';
import usearch from 'usearch';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { indexFolder } from '../src/app/indexFolder.js';
import { trainCatalog } from '../src/app/refineCatalog.js';
import { saveGraphsOfTraining, Services, type InstalledRefinement } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { ExactIndex } from '../src/index/exactIndex.js';
import { DEFAULT_HNSW, HnswIndex } from '../src/index/hnswIndex.js';
import { mulberry32 } from '../src/util/random.js';
import { Recommender } from '../src/recommend/recommender.js';
import { DEMO, makeFixture, pickIds, TYPES } from './helpers.js';

function clustered(n: number, d: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const centres = Array.from({ length: 20 }, () => Float32Array.from({ length: d }, () => rand() * 2 - 1));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[i % 20]!;
    for (let j = 0; j < d; j++) out[i * d + j] = c[j]! + (rand() - 0.5) * 0.6;
  }
  return out;
}

test('HNSW recall@5 against exact search is measured, not assumed', async () => {
  const d = 64, n = 3000;
  const v = clustered(n, d, 3);
  const exact = new ExactIndex(v, d);
  // One thread: usearch's parallel insertion makes the graph, and so the recall, vary from run to run.
  const hnsw = HnswIndex.build(exact, undefined, { ...DEFAULT_HNSW, threads: 1 });
  const queries = clustered(100, d, 99);
  let hits = 0;
  for (let q = 0; q < 100; q++) {
    const qv = queries.subarray(q * d, (q + 1) * d);
    const truth = new Set(exact.search(qv, 5, 'cosine').map((r) => r.row));
    hits += hnsw.search(qv, 5, 'cosine').filter((r) => truth.has(r.row)).length;
  }
  // Uniform noise inside each cluster makes many near-ties, a hard case; real catalog vectors reach 0.99+ (bench/ann.ts).
  assert.ok(hits / 500 >= 0.9, `recall ${hits / 500}`);
  // Another metric or an unsatisfiable approximate filter falls back to exact search.
  const qv = queries.subarray(0, d);
  assert.deepEqual(hnsw.search(qv, 5, 'euclidean'), exact.search(qv, 5, 'euclidean'));
  const rare = (r: number) => r % 997 === 0;
  assert.deepEqual(hnsw.search(qv, 3, 'cosine', rare).map((r) => r.row), exact.search(qv, 3, 'cosine', rare).map((r) => r.row));
});

test('a saved graph is updated in place when rows are added and removed', async () => {
  const d = 32;
  const dir = mkdtempSync(join(tmpdir(), 'fashion-hnsw-'));
  const file = join(dir, 'ann.usearch');
  const v = clustered(600, d, 5);
  const keysOf = (rows: number[]) => BigUint64Array.from(rows.map((r) => BigInt(1000 + r)));
  const first = Array.from({ length: 500 }, (_, i) => i);
  const sub = (rows: number[]) => {
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(v.subarray(r * d, (r + 1) * d), i * d));
    return new ExactIndex(out, d);
  };
  const a = HnswIndex.open(file, 'space-1', sub(first), keysOf(first));
  assert.equal(a.built, true);
  a.index.save(file, 'space-1');
  // Drop rows 0..49, add rows 500..599.
  const second = Array.from({ length: 550 }, (_, i) => i + 50);
  const b = HnswIndex.open(file, 'space-1', sub(second), keysOf(second));
  assert.equal(b.built, false);
  assert.equal(b.changed, true);
  assert.equal(b.index.graphSize(), 550);
  // The removed rows' vectors are gone from the graph itself (search alone would hide a stale key), the added ones are in.
  assert.deepEqual(b.index.holds(keysOf([0, 10, 49])), [false, false, false]);
  assert.deepEqual(b.index.holds(keysOf([50, 499, 500, 599])), [true, true, true, true]);
  const added = v.subarray(590 * d, 591 * d);
  assert.equal(b.index.search(added, 1, 'cosine')[0]!.row, 540);
  // Another space (e.g. a retrained refinement) is rebuilt, not patched.
  assert.equal(HnswIndex.open(file, 'space-2', sub(second), keysOf(second)).built, true);
  rmSync(dir, { recursive: true });
});

test('with index=hnsw the catalog builds its graph at index time and keeps it in step with the photos', async () => {
  const fx = makeFixture(pickIds(TYPES, 5), 'hnsw');
  const config = fx.config({ index: 'hnsw' });
  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(report.index?.kind, 'hnsw');
  let rec = await Recommender.open(config);
  assert.equal(rec.info().index, 'hnsw');
  assert.equal((await rec.similar(fx.ids[0]!, { k: 3 })).hits.length, 3);
  await rec.close();
  const extra = pickIds(['Jeans'], 1, 20)[0]!;
  copyFileSync(join(DEMO!.images, `${extra}.jpg`), join(fx.images, `${extra}.jpg`));
  rmSync(join(fx.images, `${fx.ids[1]}.jpg`));
  await indexFolder(config, fx.images, { metadata: fx.csv });
  rec = await Recommender.open(config);
  const hits = (await rec.similar(extra, { k: 29 })).hits.map((h) => h.id);
  assert.equal(hits.length, fx.ids.length - 1);
  // The saved graph was patched: the deleted photo's row is gone from the graph file itself, the new one is in.
  const file = join(fx.data, `ann-${rec.info().refinement ? 'refined' : 'raw'}.usearch`);
  const saved = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { keys: string[] };
  const graph = new usearch.Index({ dimensions: rec.info().dims, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.F16, connectivity: DEFAULT_HNSW.connectivity, expansion_add: DEFAULT_HNSW.expansionAdd, expansion_search: DEFAULT_HNSW.expansionSearch, multi: false });
  graph.load(file);
  assert.equal(graph.size(), fx.ids.length, 'one row per catalog item');
  assert.equal(saved.keys.length, fx.ids.length);
  await rec.close();
});

test('after training, the graphs are built from the vectors training committed: the ones the catalog then reads, opened as saved', async () => {
  const fx = makeFixture(pickIds(TYPES, 6), 'hnsw-trained');
  const config = fx.config({ index: 'hnsw', augment: 0 });
  await indexFolder(config, fx.images, { metadata: fx.csv, refine: false });
  let installed: InstalledRefinement | null = null;
  const store = await openCatalogStore(config, {});
  try {
    await trainCatalog(store, config.dataDir, { epochs: 2, seed: 3, onInstalled: (rows) => (installed = rows) });
  } finally {
    await store.close();
  }
  const got = installed as InstalledRefinement | null;
  assert.ok(got, 'training tells what it installed');
  assert.deepEqual(saveGraphsOfTraining(config, got), { kind: 'hnsw', items: fx.ids.length });
  const files = ['ann-refined.usearch', 'ann-same-product.usearch'].filter((f) => existsSync(join(fx.data, f)));
  // The refined space's graph, and the same-product space's when the refinement has one.
  assert.deepEqual(files, got.model.instancePart() ? ['ann-refined.usearch', 'ann-same-product.usearch'] : ['ann-refined.usearch']);
  const before = files.map((f) => ({ bytes: readFileSync(join(fx.data, f)), sidecar: readFileSync(join(fx.data, `${f}.json`), 'utf8'), mtime: statSync(join(fx.data, f)).mtimeMs }));
  const svc = await Services.open(config);
  try {
    // What the catalog reads back is what training handed over: the same items in the same order, the same vectors.
    assert.deepEqual(svc.catalog.items.map((it) => it.id), got.items.map((it) => it.id));
    const read = svc.spaces.search.exact.vectors;
    assert.ok(Buffer.from(read.buffer, read.byteOffset, read.byteLength).equals(Buffer.from(got.vectors.buffer, got.vectors.byteOffset, got.vectors.byteLength)));
    // The saved graphs are the catalog's own (its space and keys): opened, not built again, and not rewritten.
    assert.equal(svc.spaces.search.kind, 'hnsw');
    assert.equal(svc.prepareIndex({ save: true }).kind, 'hnsw');
    files.forEach((f, i) => {
      assert.ok(readFileSync(join(fx.data, f)).equals(before[i]!.bytes), `${f} unchanged`);
      assert.equal(readFileSync(join(fx.data, `${f}.json`), 'utf8'), before[i]!.sidecar);
      assert.equal(statSync(join(fx.data, f)).mtimeMs, before[i]!.mtime);
    });
    const hits = await svc.pipeline.search({ kind: 'item', id: fx.ids[2]!, k: 3, metric: 'cosine', filters: {} });
    assert.equal(hits.hits.length, 3);
  } finally {
    await svc.close();
  }
});
