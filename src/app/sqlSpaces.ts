import type { Config } from '../config.js';
import { ensureHnswIndexes, type BuiltIndex } from '../index/pgIndexes.js';
import type { PgSpaceSource } from '../index/pgSpaceSql.js';
import { PgVectorSpace } from '../index/pgVectorSpace.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { PostgresCatalogStore } from '../store/postgresStore.js';

/**
 * From this many items a catalog searched in SQL goes through HNSW (index=auto), when annThreshold is not lower: an
 * exact scan in SQL reads every row's vector from the table, ~4x the in-memory exact scan (p50 79 ms against 19 ms on
 * 10,000 refined vectors of 1331 dims, so ~16 ms at 2,000), while HNSW answers in 1-3 ms with recall@5 >= 0.99
 * unfiltered (bench/pgRecall.ts; docs/sql-search.md).
 */
export const SQL_ANN_THRESHOLD = 2_000;

/** What a catalog's spaces are made of, as the composition root read it. */
export interface SpaceShape {
  /** The backbone vectors' width (items.embedding). */
  readonly backboneDims: number;
  /** The refined vectors' width, when the catalog has a refinement. */
  readonly refinedDims: number | null;
  /** The same-product part of the refined vectors, when the refinement has one. */
  readonly part: { readonly offset: number; readonly dims: number } | null;
  /** Whether products have other photos (the photos table holds any). */
  readonly otherPhotos: boolean;
}

/** The spaces searched in SQL: the searched one, its same-product part, and the backbone (the searched one without a refinement). */
export interface SqlSpaces {
  readonly search: PgVectorSpace;
  readonly sameProduct: PgVectorSpace | null;
  readonly backbone: PgVectorSpace;
}

/**
 * The sources of a catalog's SQL spaces, or null when its search cannot run in SQL: on SQLite, with `sqlSearch` off,
 * and for a refined catalog whose products have other photos (their refined vectors are made by the model at read time
 * and not stored, so SQL cannot find a product by them; the in-memory spaces do).
 */
export function sqlSources(config: Config, store: CatalogStore, shape: SpaceShape): { search: PgSpaceSource; sameProduct: PgSpaceSource | null; backbone: PgSpaceSource; schema: string } | null {
  if (!config.sqlSearch || !(store instanceof PostgresCatalogStore) || shape.backboneDims <= 0) return null;
  if (shape.refinedDims !== null && shape.otherPhotos) return null;
  const { schema } = store.sqlAccess();
  const backbone: PgSpaceSource = { schema, vectors: 'backbone', dims: shape.backboneDims };
  if (shape.refinedDims === null) return { search: backbone, sameProduct: null, backbone, schema };
  const search: PgSpaceSource = { schema, vectors: 'refined', dims: shape.refinedDims };
  const sameProduct: PgSpaceSource | null = shape.part ? { schema, vectors: 'refined', slice: shape.part, dims: shape.part.dims, stored: shape.refinedDims } : null;
  return { search, sameProduct, backbone, schema };
}

/** The SQL spaces of a catalog (see sqlSources), searched through their HNSW indexes or exactly. */
export function sqlSpaces(config: Config, store: CatalogStore, shape: SpaceShape, mode: 'exact' | 'hnsw'): SqlSpaces | null {
  const sources = sqlSources(config, store, shape);
  if (!sources || !(store instanceof PostgresCatalogStore)) return null;
  const { pool } = store.sqlAccess();
  // The backbone has an index of its own only when it is searched for matching (no same-product space); else exactly.
  const backboneIndexed = sources.search === sources.backbone || !sources.sameProduct;
  const backbone = new PgVectorSpace(pool, sources.backbone, { mode: backboneIndexed ? mode : 'exact', photos: true });
  const search = sources.search === sources.backbone ? backbone : new PgVectorSpace(pool, sources.search, { mode });
  const sameProduct = sources.sameProduct ? new PgVectorSpace(pool, sources.sameProduct, { mode }) : null;
  return { search, sameProduct, backbone };
}

/**
 * Builds the HNSW indexes of the spaces searched through a graph (the searched space, and the same-product space or
 * else the backbone, which matching searches), on a writable connection of the writer's own (the services read through
 * a read-only one). Writers call it where the embedded backend saves its graphs: after an ingest, after a training.
 */
export async function buildSqlIndexes(config: Config, store: CatalogStore, shape: SpaceShape): Promise<BuiltIndex[]> {
  const sources = sqlSources(config, store, shape);
  if (!sources || !config.databaseUrl) return [];
  const writer = await PostgresCatalogStore.open(config.databaseUrl, { schema: sources.schema, maxConnections: 1 });
  try {
    // Matching and the same-product pin measure by cosine whatever the catalog's metric (src/services/match.ts, search.ts).
    const matched = sources.sameProduct ?? (sources.backbone !== sources.search ? sources.backbone : null);
    const wanted = [{ source: sources.search, metric: config.metric }, ...(matched ? [{ source: matched, metric: 'cosine' as const }] : [])];
    return await ensureHnswIndexes(writer.sqlAccess().pool, sources.schema, wanted);
  } finally {
    await writer.close();
  }
}
