/**
 * Search in SQL against the in-memory exact search, on random vectors: p50/p95 of exact search in SQL, HNSW in SQL
 * (iterative scan) and the in-memory ExactIndex, and the HNSW index's build time and size.
 * Usage: FASHION_TEST_DATABASE_URL=postgres://… node --import tsx bench/pgVectorSearch.ts [items] [dims] [queries]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ExactIndex } from '../src/index/exactIndex.js';
import { ensureHnswIndexes } from '../src/index/pgIndexes.js';
import type { PgSpaceSource } from '../src/index/pgSpaceSql.js';
import { PgVectorSpace } from '../src/index/pgVectorSpace.js';
import { PostgresCatalogStore } from '../src/store/postgresStore.js';
import { mulberry32 } from '../src/util/random.js';

const url = process.env.FASHION_TEST_DATABASE_URL;
if (!url) throw new Error('set FASHION_TEST_DATABASE_URL');
const [n, dims, queries] = [Number(process.argv[2] ?? 20_000), Number(process.argv[3] ?? 1331), Number(process.argv[4] ?? 50)];
const schema = `bench_${randomBytes(4).toString('hex')}`;
const rand = mulberry32(1);
const vectors = Float32Array.from({ length: n * dims }, () => rand() * 2 - 1);
const ids = Array.from({ length: n }, (_, i) => `it${i}`);
const store = await PostgresCatalogStore.open(url, { schema, maxConnections: 2 });
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(1);
try {
  let t0 = performance.now();
  for (let s = 0; s < n; s += 2000) {
    await store.putItems(ids.slice(s, s + 2000).map((id, j) => ({ id, path: id, size: 1, mtimeMs: 1, metadata: { shard: `s${(s + j) % 10}` }, vector: vectors.slice((s + j) * dims, (s + j + 1) * dims) })));
  }
  console.log(`insert ${n} x ${dims}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const { pool } = store.sqlAccess();
  const source: PgSpaceSource = { schema, vectors: 'backbone', dims };
  t0 = performance.now();
  const [built] = await ensureHnswIndexes(pool, schema, [{ source, metric: 'cosine' }]);
  console.log(`HNSW build (CONCURRENTLY, m 16, ef_construction 64, maintenance_work_mem 512MB): ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(built!.bytes / 2 ** 20).toFixed(1)} MiB; table ${((await admin.query(`SELECT pg_total_relation_size('${schema}.items') AS b`)).rows[0].b / 2 ** 20).toFixed(0)} MiB with it`);
  const mem = new ExactIndex(vectors, dims);
  const exact = new PgVectorSpace(pool, source, { mode: 'exact' });
  const hnsw = new PgVectorSpace(pool, source, { mode: 'hnsw' });
  const qs = Array.from({ length: queries }, () => Float32Array.from({ length: dims }, () => rand() * 2 - 1));
  for (const [name, filter] of [['no filter', undefined], ['1 in 10 (metadata)', { metadata: { shard: 's3' } }]] as const) {
    const times: Record<string, number[]> = { 'SQL exact': [], 'SQL HNSW': [], 'memory exact': [] };
    let found = 0;
    for (const q of qs) {
      const query = { k: 10, metric: 'cosine' as const, ...(filter ? { filter } : {}) };
      let t = performance.now();
      const truth = await exact.search(q, query);
      times['SQL exact']!.push(performance.now() - t);
      t = performance.now();
      const approx = await hnsw.search(q, query);
      times['SQL HNSW']!.push(performance.now() - t);
      t = performance.now();
      mem.search(q, 10, 'cosine', filter ? (r) => r % 10 === 3 : undefined);
      times['memory exact']!.push(performance.now() - t);
      const want = new Set(truth.map((h) => h.id));
      found += approx.filter((h) => want.has(h.id)).length;
    }
    for (const [k, v] of Object.entries(times)) console.log(`${name}, ${k}: p50 ${pct(v, 0.5)} ms, p95 ${pct(v, 0.95)} ms`);
    console.log(`${name}, recall@10 HNSW vs exact: ${(found / (queries * 10)).toFixed(3)}`);
  }
} finally {
  await store.close();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
