import type pg from 'pg';
import { storeTypes } from '../store/pgWire.js';
import type { Metric } from './metric.js';
import { indexName, opclassOf, spaceSql, type PgSpaceSource } from './pgSpaceSql.js';

export interface BuiltIndex {
  readonly name: string;
  /** Whether it was built now (false: it was there already). */
  readonly built: boolean;
  readonly ms: number;
  /** pg_relation_size of the index. */
  readonly bytes: number;
}

/** Memory for one build (pgvector builds the graph in memory when it fits, several times faster than on disk). */
const BUILD_MEMORY = '512MB';

/** pgvector's HNSW build parameters: links per node (m) and candidates kept while linking (ef_construction). */
export interface HnswBuild {
  readonly m: number;
  readonly efConstruction: number;
}

/**
 * m 16 (pgvector's default), ef_construction 128 (pgvector's is 64; usearch's expansion_add here is 128): on 10,000 of
 * the demo catalog's refined vectors, recall@5 with a filter keeping 10% of the items went from 0.9575 to 0.98 (and
 * 0.9925 to 0.995 unfiltered) for a build 40% longer (bench/pgRecall.ts; docs/sql-search.md).
 */
export const DEFAULT_PG_HNSW: HnswBuild = Object.freeze({ m: 16, efConstruction: 128 });

/**
 * Makes the catalog's HNSW indexes what its spaces need: one per space and metric (an expression index on the halfvec
 * of the space's width, partial on the rows of that width, and on the refined features). Indexes of this kind that no space
 * needs any more (another refinement's width, another metric) are dropped; one left invalid by a build that died is
 * built again. Writers call it after an ingest or a training, as the embedded backend saves its graphs then.
 *
 * Built CONCURRENTLY: a plain CREATE INDEX holds a SHARE lock on the table for the whole build (minutes from a few
 * hundred thousand rows), which would stop every API server's writes meanwhile; the catalog's writer lock is an advisory
 * lock and does not cover it. Searches would not wait either way. The price: a slower build, no transaction around it,
 * and an invalid index left behind when it fails (dropped and built again by the next call).
 */
export async function ensureHnswIndexes(
  pool: pg.Pool,
  schema: string,
  indexes: ReadonlyArray<{ readonly source: PgSpaceSource; readonly metric: Metric }>,
  params: HnswBuild = DEFAULT_PG_HNSW,
): Promise<BuiltIndex[]> {
  // The parameters are part of the name: an index built with others is dropped and built again.
  const wanted = new Map(indexes.map((x) => [indexName(x.source, x.metric, params), x]));
  const { rows: have } = await pool.query<{ name: string; valid: boolean }>(
    `SELECT c.relname AS name, x.indisvalid AS valid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname LIKE 'hnsw\\_%'`,
    [schema],
  );
  for (const h of have) {
    if (!wanted.has(h.name) || !h.valid) await pool.query(`DROP INDEX CONCURRENTLY IF EXISTS "${schema}"."${h.name}"`);
  }
  const present = new Set(have.filter((h) => h.valid).map((h) => h.name));
  const out: BuiltIndex[] = [];
  for (const [name, { source, metric }] of wanted) {
    const t0 = performance.now();
    const built = !present.has(name);
    if (built) await build(pool, name, source, metric, params);
    const { rows } = await pool.query<{ bytes: number }>({ text: `SELECT pg_relation_size($1::regclass) AS bytes`, values: [`"${schema}"."${name}"`], types: storeTypes });
    out.push({ name, built, ms: built ? performance.now() - t0 : 0, bytes: rows[0]!.bytes });
  }
  return out;
}

async function build(pool: pg.Pool, name: string, source: PgSpaceSource, metric: Metric, params: HnswBuild): Promise<void> {
  const sql = spaceSql(source);
  const client = await pool.connect();
  try {
    // Session settings on a pooled connection: reset before it goes back.
    await client.query(`SET maintenance_work_mem = '${BUILD_MEMORY}'`);
    await client.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${name}" ON ${sql.table} USING hnsw ((${sql.column}::halfvec(${source.dims})) ${opclassOf(metric)})` +
        ` WITH (m = ${int(params.m)}, ef_construction = ${int(params.efConstruction)}) WHERE ${sql.predicate}`,
    );
    await client.query('ANALYZE ' + sql.table);
  } finally {
    await client.query('RESET maintenance_work_mem').catch(() => undefined);
    client.release();
  }
}

/** A build parameter as SQL text: an integer made here, never a caller's text. */
function int(x: number): number {
  if (!Number.isInteger(x) || x < 2 || x > 1000) throw new RangeError(`Expected an HNSW build parameter from 2 to 1000 but received ${x}`);
  return x;
}
