import type { Metric } from './metric.js';

/**
 * Which vectors of a PostgreSQL catalog a space is, as SQL: the table they are in (joined to `items i` for the filters'
 * metadata), the vector expression, and the halfvec expression its HNSW index is built on. The query must order by
 * exactly the index's expression for the planner to use the index, so both are written here and nowhere else.
 */
export interface PgSpaceSource {
  /** The catalog's schema (a lower-case name: written into SQL unquoted inside double quotes). */
  readonly schema: string;
  /** 'backbone': items.embedding; 'refined': the features of kind 'refined' (the searched space of a refined catalog). */
  readonly vectors: 'backbone' | 'refined';
  /**
   * Columns [offset, offset + dims) of those vectors (the same-product part of the refined vectors), read with
   * pgvector's subvector(): nothing more is stored, so the part can never disagree with its refined vector.
   */
  readonly slice?: { readonly offset: number; readonly dims: number };
  /** The width of the space's vectors (the slice's when there is one). */
  readonly dims: number;
  /** The width of the stored vectors the slice is cut from (the refined vectors'); without a slice, `dims`. */
  readonly stored?: number;
}

export interface SpaceSql {
  /** FROM ... WHERE ...: the space's rows, with `i` the items table (the condition is ANDed on). */
  readonly from: string;
  /** The space's vector of the row (full precision). */
  readonly vector: string;
  /** The expression its HNSW index is on (halfvec of the space's width). */
  readonly indexed: string;
  /** The table the index is on, and the index's predicate (a partial index). */
  readonly table: string;
  readonly predicate: string;
  /** The column the expressions read (for the index's definition, which names no alias). */
  readonly column: string;
}

export function spaceSql(s: PgSpaceSource): SpaceSql {
  const schema = `"${s.schema}"`;
  const refined = s.vectors === 'refined';
  const column = (alias: string) => {
    const base = alias ? `${alias}.embedding` : 'embedding';
    return s.slice ? `subvector(${base}, ${s.slice.offset + 1}, ${s.slice.dims})` : base;
  };
  const alias = refined ? 'f' : 'i';
  // Only vectors of the space's width are its rows, and only they are indexed (a partial index): a writer storing
  // vectors of another width (a new refinement, another model) before the index is rebuilt never fails on the cast.
  const width = (a: string) => `vector_dims(${a ? `${a}.` : ''}embedding) = ${s.stored ?? s.dims}`;
  return {
    from: refined ? `${schema}.features f JOIN ${schema}.items i ON i.id = f.id WHERE f.kind = 'refined' AND ${width('f')}` : `${schema}.items i WHERE ${width('i')}`,
    vector: column(alias),
    indexed: `(${column(alias)})::halfvec(${s.dims})`,
    table: refined ? `${schema}.features` : `${schema}.items`,
    predicate: refined ? `kind = 'refined' AND ${width('')}` : width(''),
    column: column(''),
  };
}

/** pgvector's distance operator of a metric (cosine distance, or euclidean). */
export function operatorOf(metric: Metric): string {
  return metric === 'cosine' ? '<=>' : '<->';
}

/** The halfvec operator class an HNSW index needs for a metric. */
export function opclassOf(metric: Metric): string {
  return metric === 'cosine' ? 'halfvec_cosine_ops' : 'halfvec_l2_ops';
}

/**
 * The index's name: what it indexes, the width, the metric and the build parameters, so that a new refinement of
 * another width (or a change of metric or parameters) gets an index of its own and the writer drops the stale one.
 */
export function indexName(s: PgSpaceSource, metric: Metric, params?: { readonly m: number; readonly efConstruction: number }): string {
  const what = s.slice ? `sp${s.slice.offset}of${s.stored ?? 0}` : s.vectors === 'refined' ? 'refined' : 'backbone';
  const built = params ? `_m${params.m}e${params.efConstruction}` : '';
  return `hnsw_${what}_${s.dims}_${metric === 'cosine' ? 'cos' : 'l2'}${built}`;
}
