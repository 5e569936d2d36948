/**
 * The PostgreSQL block of `npm run bench`, on the demo catalog migrated into PostgreSQL (`fashion migrate`, which copies
 * nothing when the schema is already up to date) and searched in SQL (FASHION_SQL_SEARCH=on, HNSW):
 *   - the HNSW indexes' build time and size (dropped and built again, as `fashion index` builds them), and the tables';
 *   - recall@5 of SQL HNSW against exact SQL search, queried by the held-back items' own vectors (themselves left out);
 *   - filtered recall at ~1% and ~10% selectivity (a metadata value that many items have), hnsw.iterative_scan on
 *     (relaxed_order, what the product runs) and off;
 *   - query p50/p95 over HTTP at 1, 8 and 32 concurrent clients against 1 and 2 `fashion serve` processes on the one
 *     database, photo uploads and item queries ({"id"}), as bench/load.ts sends them;
 *   - ingest with 1 and 2 queue workers: bench/queueIngest.ts measures it (BullMQ workers); its figures are shown
 *     here when bench/results.json has them.
 * Skipped with a message when no database is given.
 * Usage: node --import tsx bench/postgres.ts --database postgres://… [--from DIR (the embedded demo catalog)]
 *   [--schema bench_demo] [--pg-data DIR] [--queries 200] [--requests 64]
 *   [--only build: the indexes dropped and built again | --only load: the load rows only (the indexes built if missing),
 *    the other figures kept as bench/results.json has them]
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Services } from '../src/app/services.js';
import { isHeldBack } from '../src/catalog/split.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { sqlCondition } from '../src/index/pgFilter.js';
import { spaceSql, type PgSpaceSource } from '../src/index/pgSpaceSql.js';
import { PgVectorSpace } from '../src/index/pgVectorSpace.js';
import { storeTypes, vectorParam } from '../src/store/pgWire.js';
import { arg, loadResults, percentile, round, saveResult, startServerProcess } from './common.js';

const url = arg('database', '') || process.env.FASHION_DATABASE_URL || process.env.FASHION_TEST_DATABASE_URL || '';
if (!url) {
  console.error('postgres bench: skipped (no database: pass --database postgres://… or set FASHION_TEST_DATABASE_URL; scripts/services.sh up starts one)');
  process.exit(0);
}
const from = arg('from', arg('data', '.fashion'));
const schema = arg('schema', 'bench_demo');
const pgData = arg('pg-data', join(tmpdir(), 'fashion-bench-pg'));
const nQueries = Number(arg('queries', '200'));
const requests = Number(arg('requests', '64'));
const only = arg('only', '');
const K = 5;

// 1. The catalog in PostgreSQL, through the product's own command.
const t0 = performance.now();
const migrated = JSON.parse(
  execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'fashion.js'), 'migrate', '--from', from, '--data', pgData, '--database', url, '--database-schema', schema, '--no-search-index', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!,
) as { upToDate: boolean; items: { copied: number; total: number }; seconds: number };
console.error(`migrate: ${migrated.upToDate ? 'up to date' : `${migrated.items.copied} items copied`} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const config = { ...resolveConfig({ dataDir: pgData }), databaseUrl: url, databaseSchema: schema, sqlSearch: true, index: 'hnsw' as const };
const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'fashion-bench' });
const out: Record<string, unknown> = { schema, items: migrated.items.total, migrate: migrated.upToDate ? null : { items: migrated.items.copied, seconds: round(migrated.seconds, 1) } };
try {
  // 2. The HNSW indexes, built again from nothing, as `fashion index`/`fashion migrate` build them.
  const { rows: old } = await pool.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'hnsw\\_%'`, [schema]);
  if (only === '' || only === 'build') for (const o of old) await pool.query(`DROP INDEX "${schema}"."${o.name}"`);
  const svc = await Services.open(config);
  let source: PgSpaceSource;
  // --only load: what an earlier run measured of the rest is kept (the load rows are measured again after a fix).
  const earlier = only === 'load' ? ((loadResults().postgres ?? {}) as Record<string, unknown>) : {};
  try {
    if (!svc.sql) throw new Error('the catalog is not searched in SQL (a refined catalog with other photos is searched in memory)');
    const built = await svc.prepareSqlIndexes();
    out.indexes = built.map((b) => ({ name: b.name, built: b.built, seconds: round(b.ms / 1000, 1), MiB: round(b.bytes / 2 ** 20, 1) }));
    console.error(`indexes: ${JSON.stringify(out.indexes)}`);
    if (only === 'load' && earlier.indexes) out.indexes = earlier.indexes;
    source = svc.sql.search.source;
  } finally {
    await svc.close();
  }
  const sizes = await pool.query<{ t: string; b: string }>(`SELECT c.relname AS t, pg_total_relation_size(c.oid) AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`, [schema]);
  out.tablesMiB = Object.fromEntries(sizes.rows.map((r) => [r.t, round(Number(r.b) / 2 ** 20, 1)]));
  out.space = { vectors: source.vectors, dims: source.dims };

  // 3. Recall@5, SQL HNSW (the product's path) against exact SQL, by the held-back items' vectors.
  const measure = only !== 'load';
  const exact = new PgVectorSpace(pool, source, { mode: 'exact' });
  const hnsw = new PgVectorSpace(pool, source, { mode: 'hnsw' });
  const { rows: idRows } = await pool.query<{ id: string; metadata: Record<string, string> }>(`SELECT id, metadata FROM "${schema}".items ORDER BY id`);
  const queryIds = idRows.map((r) => r.id).filter((id) => isHeldBack(id)).slice(0, nQueries);
  const vectors = new Map<string, Float32Array>();
  for (const id of queryIds) vectors.set(id, (await exact.get(id))!);
  const ms: Record<string, number[]> = { exact: [], hnsw: [] };
  let found = 0;
  const truths = new Map<string, Set<string>>();
  for (const id of measure ? queryIds : []) {
    const q = vectors.get(id)!;
    let t = performance.now();
    const truth = (await exact.search(q, { k: K + 1, metric: 'cosine' })).filter((h) => h.id !== id).slice(0, K);
    ms.exact!.push(performance.now() - t);
    t = performance.now();
    const approx = (await hnsw.search(q, { k: K + 1, metric: 'cosine' })).filter((h) => h.id !== id).slice(0, K);
    ms.hnsw!.push(performance.now() - t);
    const want = new Set(truth.map((h) => h.id));
    truths.set(id, want);
    found += approx.filter((h) => want.has(h.id)).length;
  }
  out.recall = !measure ? earlier.recall : { queries: queryIds.length, recallAt5: round(found / (queryIds.length * K), 3), exactMs: stats(ms.exact!), hnswMs: stats(ms.hnsw!) };
  console.error(`recall: ${JSON.stringify(out.recall)}`);

  // 4. Filtered recall: a metadata value held by ~1% and by ~10% of the items, iterative scan on and off.
  const counts = new Map<string, number>();
  for (const r of idRows) for (const f of ['articleType', 'baseColour']) if (r.metadata[f]) counts.set(`${f}=${r.metadata[f]}`, (counts.get(`${f}=${r.metadata[f]}`) ?? 0) + 1);
  const closest = (share: number) => [...counts].sort((a, b) => Math.abs(a[1] / idRows.length - share) - Math.abs(b[1] / idRows.length - share))[0]!;
  const filtered: unknown[] = [];
  const sql = spaceSql(source);
  for (const share of measure ? [0.01, 0.1] : []) {
    const [name, n] = closest(share);
    const [field, value] = name.split('=') as [string, string];
    const filter = { metadata: { [field]: value } };
    const where = sqlCondition(filter, 3);
    const truth = new Map<string, Set<string>>();
    for (const id of queryIds.slice(0, 100)) truth.set(id, new Set((await exact.search(vectors.get(id)!, { k: K, metric: 'cosine', filter })).map((h) => h.id)));
    for (const iterative of ['relaxed_order', 'off']) {
      const times: number[] = [];
      let hit = 0;
      let short = 0;
      const client = await pool.connect();
      try {
        for (const [id, want] of truth) {
          const t = performance.now();
          // The product's filtered HNSW query (src/index/pgVectorSpace.ts), with the iterative scan as asked.
          await client.query(`BEGIN READ ONLY; SET LOCAL hnsw.iterative_scan = ${iterative}; SET LOCAL hnsw.ef_search = 100; SET LOCAL enable_sort = off`);
          const { rows } = await client.query<{ id: string }>({
            text: `SELECT i.id FROM ${sql.from} AND ${where.sql} ORDER BY ${sql.indexed} <=> ($1::vector)::halfvec(${source.dims}) LIMIT $2`,
            values: [vectorParam(vectors.get(id)!), K, ...where.params],
            types: storeTypes,
          });
          await client.query('COMMIT');
          times.push(performance.now() - t);
          if (rows.length < K) short++;
          hit += rows.filter((r) => want.has(r.id)).length;
        }
      } finally {
        client.release();
      }
      // Of the true top 5 (fewer when fewer items pass the filter), the share returned.
      const wanted = [...truth.values()].reduce((s, w) => s + w.size, 0);
      const row = { filter: name, share: round(n / idRows.length, 3), iterativeScan: iterative === 'off' ? 'off' : 'on', recallAt5: round(hit / wanted, 3), fewerThanK: short, queries: truth.size, ms: stats(times) };
      console.error(`filtered: ${JSON.stringify(row)}`);
      filtered.push(row);
    }
  }
  out.filtered = measure ? filtered : earlier.filtered;

  // 5. Query latency over HTTP: 1 and 2 server processes on the one database, 1/8/32 clients, photos and items.
  const demo = demoCatalog();
  const photos = queryIds.slice(0, 64).map((id) => readFileSync(join(demo!.images, `${id}.jpg`)));
  const env = { FASHION_DATABASE_URL: url, FASHION_DATABASE_SCHEMA: schema, FASHION_SQL_SEARCH: 'on', FASHION_INDEX: 'hnsw', FASHION_RATE_LIMIT: '0', FASHION_LOG_LEVEL: 'info' };
  const load: unknown[] = [];
  for (const processes of [1, 2]) {
    const servers: Array<{ url: string; stop: () => Promise<void> }> = [];
    try {
      for (let p = 0; p < processes; p++) servers.push(await startServerProcess(pgData, env));
      const ask = async (n: number, kind: 'photo' | 'item') => {
        const base = servers[n % servers.length]!.url;
        if (kind === 'item') return fetch(`${base}/api/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: queryIds[n % queryIds.length], k: K }) });
        const form = new FormData();
        form.append('image', new Blob([photos[n % photos.length]!], { type: 'image/jpeg' }), 'q.jpg');
        return fetch(`${base}/api/search`, { method: 'POST', body: form });
      };
      for (let w = 0; w < 8; w++) await (await ask(w, 'photo')).arrayBuffer();
      for (const kind of ['photo', 'item'] as const) {
        for (const clients of [1, 8, 32]) {
          const times: number[] = [];
          let errors = 0;
          let next = 0;
          const t = performance.now();
          await Promise.all(
            Array.from({ length: clients }, async () => {
              while (next < requests) {
                const n = next++;
                const s = performance.now();
                const res = await ask(n, kind);
                await res.arrayBuffer();
                times.push(performance.now() - s);
                if (res.status !== 200) errors++;
              }
            }),
          );
          const row = { processes, kind, clients, requests, errors, ms: stats(times), perSecond: round(requests / ((performance.now() - t) / 1000), 1) };
          console.error(`load: ${JSON.stringify(row)}`);
          load.push(row);
        }
      }
    } finally {
      for (const s of servers) await s.stop();
    }
  }
  out.load = load;
  out.loadMeasuredAt = new Date().toISOString();
  // 6. Ingest through the queue (bench/queueIngest.ts, BullMQ workers): shown when measured.
  out.ingest = (loadResults().queue_ingest as unknown) ?? null;
  // current_setting gives the value with its unit (pg_settings' setting counts the unit, 8kB pages for shared_buffers:
  // "16384" and "8kB" read as 163848kB, not 128MB).
  const settings = await pool.query<{ name: string; setting: string }>(`SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ('shared_buffers', 'maintenance_work_mem', 'max_parallel_maintenance_workers', 'work_mem', 'effective_cache_size')`);
  out.server = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
  console.log(JSON.stringify(out, null, 2));
  saveResult('postgres', out);
} finally {
  await pool.end();
}

function stats(xs: number[]) {
  return { p50: round(percentile(xs, 50)), p95: round(percentile(xs, 95)) };
}
