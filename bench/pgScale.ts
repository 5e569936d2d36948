/**
 * pgvector HNSW at growing sizes, on synthetic vectors of the search space's width (halfvec, as src/index/pgIndexes.ts
 * builds it): build time, index and table size, query p50/p95 and recall@10 against an exact scan of the same rows, at
 * each size, then the figures extrapolated to 1,000,000 (and 10M, 100M) from the sizes that fit, labelled so.
 *
 * The vectors are a Gaussian mixture in a low-dimensional subspace (LATENT dims, CENTRES centres) mapped into the full
 * width by one fixed random matrix, plus a little isotropic noise: clustered, with the low intrinsic dimension real
 * embeddings have. Uniform random vectors make every point nearly equidistant from every other and HNSW recall
 * meaningless (0.25 was seen). The queries are fresh draws of the same mixture, never rows of the table.
 *
 * Usage: FASHION_TEST_DATABASE_URL=postgres://… node --import tsx bench/pgScale.ts [--sizes 50000,100000,200000]
 *   [--dims 1587] [--queries 50] [--maintenance-memory 2GB] [--workers 2] [--save] [--merge: keep the sizes an earlier run saved]
 * (run under `flock /tmp/fashion-heavy.lock` on a shared machine; it takes minutes per size).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { storeTypes, vectorParam } from '../src/store/pgWire.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, loadResults, percentile, round, saveResult } from './common.js';

const url = arg('database', '') || process.env.FASHION_DATABASE_URL || process.env.FASHION_TEST_DATABASE_URL;
if (!url) {
  console.error('pgScale: no database (--database or FASHION_TEST_DATABASE_URL): skipped');
  process.exit(0);
}
const sizes = arg('sizes', '50000,100000,200000').split(',').map(Number).sort((a, b) => a - b);
// The searched space's width: refined vectors with the same-product part (docs/relevance.md: 1331 -> 1587).
const dims = Number(arg('dims', '1587'));
const queries = Number(arg('queries', '50'));
const maintenanceMemory = arg('maintenance-memory', '2GB');
const workers = Number(arg('workers', '2'));
const efSearch = [40, 100];
const K = 10;
const LATENT = 48;
const CENTRES = 2000;

const rand = mulberry32(20);
const gauss = () => {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
};
// One fixed map from the latent space into the full width, and the mixture's centres in the latent space.
const W = Float32Array.from({ length: dims * LATENT }, () => gauss() / Math.sqrt(LATENT));
const centres = Float32Array.from({ length: CENTRES * LATENT }, gauss);
function draw(): Float32Array {
  const c = Math.floor(rand() * CENTRES);
  const z = new Float32Array(LATENT);
  for (let j = 0; j < LATENT; j++) z[j] = centres[c * LATENT + j]! + 0.45 * gauss();
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    let s = 0.08 * gauss();
    for (let j = 0; j < LATENT; j++) s += W[i * LATENT + j]! * z[j]!;
    v[i] = s;
  }
  return v;
}

const client = new pg.Client({ connectionString: url, application_name: 'fashion-bench' });
await client.connect();
// pgvector says when the graph outgrows maintenance_work_mem and the build goes on disk (several times slower).
client.on('notice', (n) => console.error(`pgScale: postgres: ${n.message}`));
const schema = `bench_scale_${randomBytes(3).toString('hex')}`;
const table = `"${schema}".vectors`;
const results: Array<Record<string, unknown>> = [];
const qs = Array.from({ length: queries }, draw);
try {
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await client.query(`CREATE SCHEMA "${schema}"`);
  await client.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, v halfvec(${dims}) NOT NULL)`);
  const settings = { maintenance_work_mem: maintenanceMemory, max_parallel_maintenance_workers: workers, m: 16, ef_construction: 64 };
  let have = 0;
  for (const n of sizes) {
    let t0 = performance.now();
    while (have < n) {
      const rows = Math.min(500, n - have);
      const params: unknown[] = [];
      const values: string[] = [];
      for (let r = 0; r < rows; r++) {
        params.push(have + r, vectorParam(draw()));
        values.push(`($${2 * r + 1}::int, ($${2 * r + 2}::vector)::halfvec(${dims}))`);
      }
      await client.query({ text: `INSERT INTO ${table} (id, v) VALUES ${values.join(', ')}`, values: params, types: storeTypes });
      have += rows;
      if (have % 100_000 === 0) console.error(`pgScale: ${have} rows`);
    }
    const insertS = (performance.now() - t0) / 1000;
    console.error(`pgScale: ${n} rows inserted in ${insertS.toFixed(0)} s; building the HNSW index`);
    await client.query(`VACUUM ANALYZE ${table}`);
    await client.query(`SET maintenance_work_mem = '${maintenanceMemory}'`);
    await client.query(`SET max_parallel_maintenance_workers = ${workers}`);
    t0 = performance.now();
    await client.query(`CREATE INDEX vectors_hnsw ON ${table} USING hnsw (v halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`);
    const buildS = (performance.now() - t0) / 1000;
    const size = (await client.query<{ index: string; table: string }>(`SELECT pg_relation_size('${schema}.vectors_hnsw') AS index, pg_total_relation_size('${table}') - pg_indexes_size('${table}') AS table`)).rows[0]!;
    // Exact: the same rows scanned in full (no index), the truth the graph's answers are measured against.
    const truth: Set<number>[] = [];
    const exactMs: number[] = [];
    await client.query('BEGIN; SET LOCAL enable_indexscan = off; SET LOCAL max_parallel_workers_per_gather = 0');
    for (const q of qs) {
      const t = performance.now();
      const { rows } = await client.query<{ id: number }>({ text: `SELECT id FROM ${table} ORDER BY v <=> ($1::vector)::halfvec(${dims}) LIMIT ${K}`, values: [vectorParam(q)], types: storeTypes });
      exactMs.push(performance.now() - t);
      truth.push(new Set(rows.map((r) => r.id)));
    }
    await client.query('COMMIT');
    const byEf: Record<string, unknown> = {};
    for (const ef of efSearch) {
      const ms: number[] = [];
      let found = 0;
      await client.query(`BEGIN; SET LOCAL hnsw.ef_search = ${ef}`);
      for (let i = 0; i < qs.length; i++) {
        const t = performance.now();
        const { rows } = await client.query<{ id: number }>({ text: `SELECT id FROM ${table} ORDER BY v <=> ($1::vector)::halfvec(${dims}) LIMIT ${K}`, values: [vectorParam(qs[i]!)], types: storeTypes });
        ms.push(performance.now() - t);
        found += rows.filter((r) => truth[i]!.has(r.id)).length;
      }
      await client.query('COMMIT');
      byEf[`ef${ef}`] = { recallAt10: round(found / (qs.length * K), 3), ms: { p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)) } };
    }
    const row = {
      vectors: n,
      dims,
      // Per row: a run added later with --merge may build with more memory than the earlier sizes did.
      maintenanceWorkMem: maintenanceMemory,
      insertSeconds: round(insertS, 1),
      buildSeconds: round(buildS, 1),
      indexMiB: round(Number(size.index) / 2 ** 20, 1),
      tableMiB: round(Number(size.table) / 2 ** 20, 1),
      exactMs: { p50: round(percentile(exactMs, 50)), p95: round(percentile(exactMs, 95)) },
      ...byEf,
    };
    console.log(JSON.stringify(row));
    results.push(row);
    await client.query(`DROP INDEX "${schema}".vectors_hnsw`);
  }
  // Extrapolated, not measured: sizes linearly per vector from the largest size; build time as n log n from the largest
  // size (an HNSW insert walks a graph of depth ~log n; the exponent fitted through the sizes measured is reported
  // beside it, as a check: on a shared machine it is noisy); search time with log n. The build figures assume the graph
  // fits maintenance_work_mem (about indexMiB): past it pgvector builds on disk, several times slower.
  type Row = { vectors: number; buildSeconds: number; indexMiB: number; tableMiB: number; ef100: { recallAt10: number; ms: { p50: number; p95: number } } };
  // With --merge, the sizes measured by an earlier run (bench/results.json) join these (a larger size added later).
  if (process.argv.includes('--merge')) {
    const earlier = ((loadResults().pgScale as { results?: Array<Record<string, unknown>> } | undefined)?.results ?? []).filter((r) => r.dims === dims && !results.some((x) => x.vectors === r.vectors));
    results.unshift(...earlier);
    results.sort((a, b) => (a.vectors as number) - (b.vectors as number));
  }
  const [first, last] = [results[0] as Row, results[results.length - 1] as Row];
  const fitted = last.vectors > first.vectors ? Math.log(last.buildSeconds / first.buildSeconds) / Math.log(last.vectors / first.vectors) : 1;
  const logGrowth = (to: number) => Math.log(to) / Math.log(last.vectors);
  const extrapolate = (to: number) => ({
    vectors: to,
    extrapolatedFrom: results.map((r) => r.vectors),
    fittedBuildExponent: round(fitted, 2),
    buildSeconds: round(last.buildSeconds * (to / last.vectors) * logGrowth(to), 0),
    indexMiB: round(last.indexMiB * (to / last.vectors), 0),
    tableMiB: round(last.tableMiB * (to / last.vectors), 0),
    ef100Ms: { p50: round(last.ef100.ms.p50 * logGrowth(to), 1), p95: round(last.ef100.ms.p95 * logGrowth(to), 1) },
  });
  // Only the sizes past the largest measured: a measured size is not extrapolated.
  const extrapolated = [1_000_000, 10_000_000, 100_000_000].filter((n) => n > last.vectors).map(extrapolate);
  console.log(JSON.stringify({ extrapolated }, null, 2));
  if (process.argv.includes('--save')) {
    const server = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const pgvector = (await client.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`)).rows[0]!.v;
    saveResult('pgScale', { data: `Gaussian mixture: ${CENTRES} centres in a ${LATENT}-d subspace, spread 0.45, isotropic noise 0.08, mapped to ${dims} dims`, queries, k: K, settings, server: `PostgreSQL ${server}, pgvector ${pgvector}`, results, extrapolated });
  }
} finally {
  await client.query('ROLLBACK').catch(() => undefined);
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}
