import type pg from 'pg';
import { storeTypes, vectorFromSql, vectorParam, vectorSql } from '../store/pgWire.js';
import type { Metric } from './metric.js';
import { sqlCondition } from './pgFilter.js';
import { operatorOf, spaceSql, type PgSpaceSource, type SpaceSql } from './pgSpaceSql.js';
import type { IdDistance, VectorQuery, VectorSpace } from './vectorIndex.js';

export interface PgSearchOptions {
  /**
   * 'exact': every row that passes the filter is measured at full precision (small catalogs, checks); 'hnsw': the rows
   * come from the HNSW index on the space's halfvec expression (src/index/pgIndexes.ts), then are measured at full
   * precision and re-ranked.
   */
  readonly mode: 'exact' | 'hnsw';
  /** hnsw.ef_search: candidates the graph keeps (raised to k; pgvector allows 1 to 1000). */
  readonly efSearch?: number;
  /** Whether the products' other photos (the photos table) are searched too: only the backbone has their vectors stored. */
  readonly photos?: boolean;
  /**
   * hnsw.iterative_scan: 'relaxed_order' (default) goes on walking the graph until k rows pass the filter; 'off' stops
   * at ef_search candidates, so a filter that keeps few rows returns fewer than k (for measurements only).
   */
  readonly iterativeScan?: 'relaxed_order' | 'strict_order' | 'off';
  /** hnsw.max_scan_tuples: how many rows an iterative scan visits at most (pgvector's default 20,000). */
  readonly maxScanTuples?: number;
}

const DEFAULT_EF_SEARCH = 100;
const MAX_EF_SEARCH = 1000;
/** At most this many items named by onlyIds are measured exactly rather than looked for in the graph. */
const FEW_IDS = 2000;

type Row = { id: string; distance: number; photo: number };

/**
 * The vector port on PostgreSQL + pgvector: each search is one SQL query, with the filter in its WHERE.
 *
 * With the HNSW index, the query orders by the index's expression (the halfvec of the space) and runs in a transaction
 * with `hnsw.iterative_scan = relaxed_order`, so a filter that rejects most of the graph's nearest rows makes the scan
 * go on rather than return fewer than k; the k rows it returns are measured again at full precision and sorted (relaxed
 * order may return them slightly out of order).
 *
 * A product with other photos (photos table, backbone space) is found by any of them and listed once, at its nearest
 * photo, as src/index/liveSpace.ts does: its other photos are measured exactly (they are few next to the products) and
 * merged with the products' first photos by id, nearest kept.
 */
export class PgVectorSpace implements VectorSpace {
  private readonly sql: SpaceSql;

  constructor(
    private readonly pool: pg.Pool,
    readonly source: PgSpaceSource,
    private readonly options: PgSearchOptions,
  ) {
    if (options.photos && (source.vectors !== 'backbone' || source.slice)) throw new Error('only the backbone space has its other photos\' vectors stored');
    this.sql = spaceSql(source);
  }

  get kind(): 'exact' | 'hnsw' {
    return this.options.mode;
  }

  get dims(): number {
    return this.source.dims;
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>({ text: `SELECT count(*) AS n FROM ${this.sql.from}`, types: storeTypes });
    return rows[0]!.n;
  }

  async search(vector: Float32Array, query: VectorQuery): Promise<IdDistance[]> {
    this.check(vector);
    const k = query.k;
    if (k <= 0) return [];
    const op = operatorOf(query.metric);
    const where = sqlCondition(query.filter, 3);
    const params = [vectorParam(vector), k, ...where.params];
    const distance = `${this.sql.vector} ${op} $1::vector`;
    const graph = this.usesGraph(query);
    const order = graph ? `${this.sql.indexed} ${op} ($1::vector)::halfvec(${this.dims})` : `${distance}, i.id`;
    const first = `SELECT i.id, ${distance} AS distance, 0 AS photo FROM ${this.sql.from} AND ${where.sql} ORDER BY ${order} LIMIT $2`;
    const text = this.options.photos ? withPhotos(first, this.source.schema, op, where.sql, true) : `SELECT * FROM (${first}) c ORDER BY distance, id`;
    let rows = await this.inScan(graph ? k : null, text, params);
    if (graph && rows.length < k) {
      // The walk stopped short (hnsw.max_scan_tuples reached before k rows passed a very selective filter: 1-2 of 150
      // queries with a 1% filter on the demo catalog, bench/pgRecall.ts): measured exactly instead, as the embedded
      // graph does, so results are never silently short while k items pass.
      const exact = `SELECT i.id, ${distance} AS distance, 0 AS photo FROM ${this.sql.from} AND ${where.sql} ORDER BY ${distance}, i.id LIMIT $2`;
      rows = await this.inScan(null, this.options.photos ? withPhotos(exact, this.source.schema, op, where.sql, true) : `SELECT * FROM (${exact}) c ORDER BY distance, id`, params);
    }
    return rows.map(hit);
  }

  /**
   * Whether a search goes through the HNSW index: in hnsw mode, unless the filter names a few items (onlyIds), which
   * are measured exactly through the primary key faster than a graph walk would find them among the rest.
   */
  private usesGraph(query: VectorQuery): boolean {
    const only = query.filter?.onlyIds;
    return this.options.mode === 'hnsw' && !(only && only.size <= FEW_IDS);
  }

  async distances(vector: Float32Array, ids: readonly string[], metric: Metric): Promise<IdDistance[]> {
    this.check(vector);
    if (ids.length === 0) return [];
    const op = operatorOf(metric);
    const first = `SELECT i.id, ${this.sql.vector} ${op} $1::vector AS distance, 0 AS photo FROM ${this.sql.from} AND i.id = ANY($2::text[])`;
    const text = this.options.photos ? withPhotos(first, this.source.schema, op, 'i.id = ANY($2::text[])', false) : `SELECT * FROM (${first}) c ORDER BY distance, id`;
    const { rows } = await this.pool.query<Row>({ text, values: [vectorParam(vector), [...new Set(ids)]], types: storeTypes });
    return rows.map(hit);
  }

  async get(id: string): Promise<Float32Array | null> {
    const { rows } = await this.pool.query<{ v: string }>({ text: `SELECT ${vectorSql(this.sql.vector)} AS v FROM ${this.sql.from} AND i.id = $1`, values: [id] });
    return rows[0] ? vectorFromSql(rows[0].v) : null;
  }

  /** The query's plan (EXPLAIN), for checks that the index is used. */
  async explain(vector: Float32Array, query: VectorQuery): Promise<string> {
    const op = operatorOf(query.metric);
    const where = sqlCondition(query.filter, 3);
    const graph = this.usesGraph(query);
    const order = graph ? `${this.sql.indexed} ${op} ($1::vector)::halfvec(${this.dims})` : `${this.sql.vector} ${op} $1::vector`;
    const text = `EXPLAIN SELECT i.id FROM ${this.sql.from} AND ${where.sql} ORDER BY ${order} LIMIT $2`;
    const values = [vectorParam(vector), query.k, ...where.params];
    const rows = await this.inScan(graph ? query.k : null, text, values);
    return rows.map((r) => (r as unknown as Record<string, string>)['QUERY PLAN']).join('\n');
  }

  /**
   * Runs a query in a transaction of its own with its settings (SET LOCAL: they end with it): without JIT always, and
   * for a walk of the graph (`k` given) the HNSW scan's settings.
   */
  private async inScan(k: number | null, text: string, values: unknown[]): Promise<Row[]> {
    // JIT off: the planner's cost of a scan over every row (exact), or of the walk once sorting is priced out (below),
    // passes jit_above_cost, and compiling the query then took ~150 ms of a search whose scan takes ~7 ms (measured
    // with EXPLAIN ANALYZE on 3,000 refined vectors; bench/pgRecall.ts).
    let settings = 'SET LOCAL jit = off';
    if (k !== null) {
      // ef is an integer made here, never a caller's text. The planner cannot estimate how many rows a metadata filter
      // keeps (expressions on jsonb have no statistics) and, guessing few, would sort every row that passes instead of
      // walking the graph: sorting is made to cost more than any walk, so the graph is walked, and iterative scan walks
      // on until k rows pass.
      const ef = Math.min(MAX_EF_SEARCH, Math.max(k, this.options.efSearch ?? DEFAULT_EF_SEARCH));
      const scan = this.options.iterativeScan ?? 'relaxed_order';
      const tuples = this.options.maxScanTuples ? `; SET LOCAL hnsw.max_scan_tuples = ${Math.max(1, Math.floor(this.options.maxScanTuples))}` : '';
      settings += `; SET LOCAL hnsw.iterative_scan = ${scan}; SET LOCAL hnsw.ef_search = ${ef}; SET LOCAL enable_sort = off${tuples}`;
    }
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // One round trip for the settings.
      await client.query(`BEGIN READ ONLY; ${settings}`);
      const { rows } = await client.query<Row>({ text, values, types: storeTypes });
      await client.query('COMMIT');
      return rows;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        // The connection is unusable: the pool must drop it rather than lend it again.
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private check(vector: Float32Array): void {
    if (vector.length !== this.dims) throw new RangeError(`Expected a vector of ${this.dims} floats but received ${vector.length}`);
  }
}

/**
 * The products' first photos (`first`: id, distance, photo 0) with their other photos (the photos table, measured
 * exactly, filtered by `condition` on their item `i`), each product once at its nearest photo, nearest first; with
 * `limitK`, k ($2) at most (a product whose nearest photo is among the k nearest first photos is in `first`; one
 * whose nearest photo is another is among the k products nearest by their other photos).
 */
function withPhotos(first: string, schema: string, op: string, condition: string, limitK: boolean): string {
  const s = `"${schema}"`;
  const limited = limitK ? 'LIMIT $2' : '';
  const others = `SELECT * FROM (SELECT DISTINCT ON (p.item_id) p.item_id AS id, p.embedding ${op} $1::vector AS distance, p.n AS photo
    FROM ${s}.photos p JOIN ${s}.items i ON i.id = p.item_id WHERE ${condition} ORDER BY p.item_id, distance, p.n) o ORDER BY distance, id ${limited}`;
  return `SELECT * FROM (SELECT DISTINCT ON (id) id, distance, photo FROM ((${first}) UNION ALL (${others})) u ORDER BY id, distance, photo) b
    ORDER BY distance, id ${limited}`;
}

function hit(r: Row): IdDistance {
  return r.photo > 0 ? { id: r.id, distance: r.distance, photo: r.photo } : { id: r.id, distance: r.distance };
}
