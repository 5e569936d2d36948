/**
 * HNSW recall against exact search on a real catalog, on both backends: pgvector's HNSW in SQL against exact SQL, and
 * the embedded usearch graph against the in-memory exact index, on the same vectors (the searched space of a catalog:
 * the refined vectors of a refined catalog, else the backbone's), without a filter and with metadata filters that keep
 * ~10% and ~1% of the items (iterative scan on and off). Also: whether exact SQL and exact in memory return the same
 * top k, and each path's latency.
 *
 * The catalog is read through the store port from a SQLite catalog (a copy: nothing is written to it) and copied into a
 * PostgreSQL schema of its own, kept with --schema NAME for later runs (else dropped at the end). The queries are
 * held-back items' own vectors (src/catalog/split.ts), the item itself left out, as more-like-this asks.
 *
 * Recall counts a returned item as found when it is one of the exact top k or ties with the k-th (the refined space has
 * many items at the same distance, items that share their labels; which of them exact search lists is arbitrary).
 *
 * Usage (under the CPU lock: builds take minutes):
 *   FASHION_TEST_DATABASE_URL=postgres://… flock /tmp/fashion-heavy.lock node --import tsx bench/pgRecall.ts \
 *     --catalog /tmp/cat-copy [--items 39930] [--queries 200] [--builds 16:64,16:128] [--ef 40,100,200,400] [--schema NAME] [--save]
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { isHeldBack } from '../src/catalog/split.js';
import { ExactIndex } from '../src/index/exactIndex.js';
import { DEFAULT_HNSW, HnswIndex } from '../src/index/hnswIndex.js';
import type { Metric } from '../src/index/metric.js';
import { ensureHnswIndexes, type HnswBuild } from '../src/index/pgIndexes.js';
import type { PgSpaceSource } from '../src/index/pgSpaceSql.js';
import { PgVectorSpace, type PgSearchOptions } from '../src/index/pgVectorSpace.js';
import type { IdDistance, VectorFilter } from '../src/index/vectorIndex.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { PostgresCatalogStore } from '../src/store/postgresStore.js';
import { SqliteCatalogStore } from '../src/store/sqliteStore.js';
import { arg, percentile, round, saveResult } from './common.js';

const url = process.env.FASHION_TEST_DATABASE_URL ?? process.env.FASHION_DATABASE_URL;
if (!url) throw new Error('set FASHION_TEST_DATABASE_URL (scripts/services.sh up; eval "$(scripts/services.sh env)")');
const catalogDir = arg('catalog', '');
if (!catalogDir) throw new Error('--catalog DIR: a SQLite catalog (a copy of one: it is opened read-only)');
const maxItems = Number(arg('items', '1000000000'));
const queryCount = Number(arg('queries', '200'));
const builds: HnswBuild[] = arg('builds', '16:64,16:128').split(',').map((s) => {
  const [m, e] = s.split(':').map(Number);
  return { m: m!, efConstruction: e! };
});
const efs = arg('ef', '40,100,200,400').split(',').map(Number);
const metric = arg('metric', 'cosine') as Metric;
const keep = arg('schema', '');
const schema = keep || `recall_${randomBytes(4).toString('hex')}`;
const save = process.argv.includes('--save');

// ------------------------------------------------------------------ the catalog, read through the store port
const source = new SqliteCatalogStore(join(catalogDir, 'catalog.sqlite'), { readonly: true });
const all = await source.loadAll();
const n = Math.min(maxItems, all.items.length);
const items = all.items.slice(0, n);
const ids = items.map((it) => it.id);
const refined = await source.loadFeatures('refined', ids);
const searchDims = refined ? refined.length / n : all.dims;
const backbone = all.vectors.subarray(0, n * all.dims);
const vectors = refined ?? backbone;
const colours = await source.loadFeatures('colour', ids);
await source.close();
const space: PgSpaceSource = { schema, vectors: refined ? 'refined' : 'backbone', dims: searchDims };
console.log(`${n} items, ${refined ? 'refined' : 'backbone'} space of ${searchDims} dims, metric ${metric}`);

// ------------------------------------------------------------------ the same catalog in PostgreSQL
const store = await PostgresCatalogStore.open(url, { schema, maxConnections: 4 });
const admin = new pg.Client({ connectionString: url });
await admin.connect();
let loadMs = 0;
if ((await store.count()) !== n) {
  const t0 = performance.now();
  await store.clearItems();
  const cd = colours ? colours.length / n : 0;
  for (let s = 0; s < n; s += 1000) {
    const batch = items.slice(s, s + 1000).map((it, j) => ({
      ...it,
      vector: backbone.slice((s + j) * all.dims, (s + j + 1) * all.dims),
      ...(colours ? { colour: colours.slice((s + j) * cd, (s + j + 1) * cd) } : {}),
    }));
    await store.putItems(batch);
    if (refined) await store.putFeatures('refined', new Map(batch.map((it, j) => [it.id, refined.slice((s + j) * searchDims, (s + j + 1) * searchDims)])));
  }
  await admin.query(`ANALYZE "${schema}".items`);
  loadMs = performance.now() - t0;
  console.log(`copied into schema ${schema} in ${(loadMs / 1000).toFixed(1)} s`);
}
const { pool } = store.sqlAccess();

// ------------------------------------------------------------------ queries and filters
const queryRows = ids.map((id, row) => ({ id, row })).filter((q) => isHeldBack(q.id)).slice(0, queryCount);
const queryOf = (row: number) => vectors.slice(row * searchDims, (row + 1) * searchDims);

/** A label value that keeps the share of items nearest `share` (the fields a shopper filters by). */
function filterNear(share: number): { field: string; value: string; share: number } {
  const counts = new Map<string, number>();
  for (const it of items) for (const f of ['masterCategory', 'subCategory', 'articleType', 'baseColour', 'usage', 'season']) {
    const v = it.metadata[f];
    if (v) counts.set(`${f}\u0000${v}`, (counts.get(`${f}\u0000${v}`) ?? 0) + 1);
  }
  let best = { key: '', d: Infinity, c: 0 };
  for (const [key, c] of counts) {
    const d = Math.abs(Math.log(c / n / share));
    if (d < best.d || (d === best.d && key < best.key)) best = { key, d, c };
  }
  const [field, value] = best.key.split('\u0000') as [string, string];
  return { field, value, share: best.c / n };
}
const filters = [
  { name: 'none', filter: undefined as { field: string; value: string; share: number } | undefined },
  { name: '10%', filter: filterNear(0.1) },
  { name: '1%', filter: filterNear(0.01) },
];
const vectorFilter = (f: (typeof filters)[number]['filter'], self: string): VectorFilter => ({ excludeIds: [self], ...(f ? { metadata: { [f.field]: f.value } } : {}) });
const rowFilter = (f: (typeof filters)[number]['filter'], self: number) => (row: number) => row !== self && (!f || (items[row]!.metadata as Metadata)[f.field] === f.value);

// ------------------------------------------------------------------ exact truth (SQL) and exact in memory
const exactSql = new PgVectorSpace(pool, space, { mode: 'exact' });
const exactMem = new ExactIndex(vectors, searchDims);
const ks = [5, 10] as const;
type Truth = Map<number, IdDistance[]>;
const truth = new Map<string, Truth>();
const exactFigures: Record<string, unknown> = {};
for (const f of filters) {
  const byQuery: Truth = new Map();
  const sqlMs: number[] = [];
  const memMs: number[] = [];
  let same = 0;
  let sameUpToTies = 0;
  for (const q of queryRows) {
    const v = queryOf(q.row);
    let t = performance.now();
    const hits = await exactSql.search(v, { k: 10, metric, filter: vectorFilter(f.filter, q.id) });
    sqlMs.push(performance.now() - t);
    t = performance.now();
    const mem = exactMem.search(v, 10, metric, rowFilter(f.filter, q.row)).map((h) => ({ id: ids[h.row]!, distance: h.distance }));
    memMs.push(performance.now() - t);
    byQuery.set(q.row, hits);
    if (hits.map((h) => h.id).join() === mem.map((h) => h.id).join()) same++;
    if (found(mem, hits, 10) === hits.length && hits.length === mem.length) sameUpToTies++;
  }
  truth.set(f.name, byQuery);
  exactFigures[f.name] = {
    filter: f.filter ? `${f.filter.field}=${f.filter.value} (${round(f.filter.share * 100, 1)}% of items)` : 'none',
    sameTop10: round(same / queryRows.length, 3),
    sameTop10UpToTies: round(sameUpToTies / queryRows.length, 3),
    sqlExactMs: { p50: round(percentile(sqlMs, 50), 1), p95: round(percentile(sqlMs, 95), 1) },
    memoryExactMs: { p50: round(percentile(memMs, 50), 1), p95: round(percentile(memMs, 95), 1) },
  };
  console.log(`exact, filter ${f.name}:`, JSON.stringify(exactFigures[f.name]));
}

/** How many of `got` are in the exact top k or tie with its k-th (within float16-free float32 rounding). */
function found(got: readonly IdDistance[], exact: readonly IdDistance[], k: number): number {
  const top = exact.slice(0, k);
  const want = new Set(top.map((h) => h.id));
  const kth = top.at(-1)?.distance ?? Infinity;
  return got.slice(0, k).filter((h) => want.has(h.id) || h.distance <= kth + 1e-6).length;
}

function recallOf(results: Map<number, IdDistance[]>, name: string, k: number): { recall: number; short: number } {
  let hit = 0;
  let want = 0;
  let short = 0;
  for (const [row, got] of results) {
    const exact = truth.get(name)!.get(row)!;
    const top = Math.min(k, exact.length);
    want += top;
    hit += Math.min(top, found(got, exact, k));
    if (got.length < top) short++;
  }
  return { recall: round(hit / Math.max(1, want), 4), short };
}

// ------------------------------------------------------------------ pgvector HNSW
const pgFigures: unknown[] = [];
for (const params of builds) {
  const t0 = performance.now();
  const [built] = await ensureHnswIndexes(pool, schema, [{ source: space, metric }], params);
  const buildS = (performance.now() - t0) / 1000;
  console.log(`pgvector HNSW m ${params.m} ef_construction ${params.efConstruction}: ${built!.built ? `built in ${buildS.toFixed(1)} s` : 'was there'}, ${(built!.bytes / 2 ** 20).toFixed(1)} MiB`);
  for (const ef of efs) {
    for (const f of filters) {
      for (const scan of f.filter ? (['relaxed_order', 'off'] as const) : (['relaxed_order'] as const)) {
        const options: PgSearchOptions = { mode: 'hnsw', efSearch: ef, iterativeScan: scan };
        const hnsw = new PgVectorSpace(pool, space, options);
        const row: Record<string, unknown> = { m: params.m, efConstruction: params.efConstruction, efSearch: ef, filter: f.name, iterativeScan: scan };
        for (const k of ks) {
          const results = new Map<number, IdDistance[]>();
          const ms: number[] = [];
          for (const q of queryRows) {
            const t = performance.now();
            results.set(q.row, await hnsw.search(queryOf(q.row), { k, metric, filter: vectorFilter(f.filter, q.id) }));
            ms.push(performance.now() - t);
          }
          const r = recallOf(results, f.name, k);
          row[`recall@${k}`] = r.recall;
          row[`short@${k}`] = r.short;
          row[`ms@${k}`] = { p50: round(percentile(ms, 50), 1), p95: round(percentile(ms, 95), 1) };
        }
        console.log('pgvector', JSON.stringify(row));
        pgFigures.push(row);
      }
    }
  }
  pgFigures.push({ m: params.m, efConstruction: params.efConstruction, buildS: built!.built ? round(buildS, 1) : null, indexMiB: round(built!.bytes / 2 ** 20, 1) });
}

// ------------------------------------------------------------------ usearch HNSW (the embedded backend's graph)
const usearchFigures: unknown[] = [];
{
  const options = { ...DEFAULT_HNSW, metric };
  const t0 = performance.now();
  const graph = HnswIndex.build(exactMem, undefined, options);
  const buildS = (performance.now() - t0) / 1000;
  console.log(`usearch HNSW (connectivity ${options.connectivity}, expansion_add ${options.expansionAdd}, expansion_search ${options.expansionSearch}, f16) built in ${buildS.toFixed(1)} s`);
  for (const f of filters) {
    const row: Record<string, unknown> = { connectivity: options.connectivity, expansionAdd: options.expansionAdd, expansionSearch: options.expansionSearch, filter: f.name };
    for (const k of ks) {
      const results = new Map<number, IdDistance[]>();
      const ms: number[] = [];
      for (const q of queryRows) {
        const t = performance.now();
        const hits = graph.search(queryOf(q.row), k, metric, rowFilter(f.filter, q.row));
        ms.push(performance.now() - t);
        results.set(q.row, hits.map((h) => ({ id: ids[h.row]!, distance: h.distance })));
      }
      const r = recallOf(results, f.name, k);
      row[`recall@${k}`] = r.recall;
      row[`ms@${k}`] = { p50: round(percentile(ms, 50), 1), p95: round(percentile(ms, 95), 1) };
    }
    console.log('usearch', JSON.stringify(row));
    usearchFigures.push(row);
  }
  usearchFigures.push({ buildS: round(buildS, 1), memoryMiB: round(graph.memoryBytes() / 2 ** 20, 1) });
}

await store.close();
if (!keep) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await admin.end();

if (save) {
  saveResult('pgRecall', {
    command: `node --import tsx bench/pgRecall.ts ${process.argv.slice(2).join(' ')}`,
    items: n,
    space: `${refined ? 'refined' : 'backbone'} ${searchDims} dims, ${metric}`,
    queries: `${queryRows.length} held-back items' own vectors, the item left out`,
    recall: 'found in the exact SQL top k or tied with its k-th, over the exact top k (exact SQL and exact in memory agree up to ties: see exact)',
    ...(loadMs ? { copyS: round(loadMs / 1000, 1) } : {}),
    exact: exactFigures,
    pgvector: pgFigures,
    usearch: usearchFigures,
  });
}
