import type { Filters } from '../search/filters.js';
import type { Metric } from './metric.js';

export type { Metric } from './metric.js';
export { scoreOf } from './metric.js';

/**
 * The port between search and wherever vectors live. Items are named by id; filters are declarative so that
 * an implementation can push them down (a SQL `WHERE` next to a pgvector HNSW scan, a set of rows in memory).
 * The embedded implementation (src/index/embeddedSpace.ts: exact k-NN or usearch HNSW over the catalog's
 * rows) is chosen in the composition root (src/app/services.ts); a PostgreSQL + pgvector one fits the same calls.
 */
export interface VectorFilter {
  /** Metadata: field -> allowed values (case ignored), every field must match. */
  readonly metadata?: Filters;
  /** Items never returned (more-like-this leaves the item itself out). */
  readonly excludeIds?: readonly string[];
  /** Only these items may be returned (words that narrow a photo search, an outfit's eligible items). */
  readonly onlyIds?: ReadonlySet<string>;
  /** Leave out items whose availability says out of stock (src/search/availability.ts). */
  readonly inStockOnly?: boolean;
}

export interface VectorQuery {
  readonly k: number;
  readonly metric: Metric;
  readonly filter?: VectorFilter;
}

export interface IdDistance {
  readonly id: string;
  /** Cosine distance (1 - cosine similarity) or euclidean distance: smaller is closer. */
  readonly distance: number;
  /** Which of the product's photos is nearest, when it is not its first (photo 0): 1, 2, ... */
  readonly photo?: number;
}

/** One vector space of the catalog (search vectors, same-product vectors, backbone vectors). */
export interface VectorIndex {
  /** How it searches: exactly, or through an approximate graph with exact re-ranking. */
  readonly kind: 'exact' | 'hnsw';
  readonly dims: number;
  count(): Promise<number>;
  /** The k nearest items that pass the filter, nearest first; never silently short while k items pass. */
  search(vector: Float32Array, query: VectorQuery): Promise<IdDistance[]>;
  /** Exact distances from a vector to the given items, nearest first (a pinned item's place in another space). */
  distances(vector: Float32Array, ids: readonly string[], metric: Metric): Promise<IdDistance[]>;
}

/** The stored vectors themselves, by id (a catalog item's own vector is the query of more-like-this). */
export interface VectorStore {
  readonly dims: number;
  get(id: string): Promise<Float32Array | null>;
}

/** What a vector space offers: search and its stored vectors. */
export type VectorSpace = VectorIndex & VectorStore;
