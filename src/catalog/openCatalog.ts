import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { PostgresCatalogStore } from '../store/postgresStore.js';
import { SqliteCatalogStore } from '../store/sqliteStore.js';

export const CATALOG_FILE = 'catalog.sqlite';

export function catalogFile(dataDir: string): string {
  return join(dataDir, CATALOG_FILE);
}

/**
 * Where a catalog's store is: the SQLite file in `dataDir` (the embedded default), or a schema of a PostgreSQL database
 * (the catalog of record past one machine), with a streaming replica for readers. A Config is one; a bare folder
 * names an embedded catalog.
 */
export interface CatalogLocation {
  readonly dataDir: string;
  readonly databaseUrl?: string | null;
  readonly readDatabaseUrl?: string | null;
  readonly databaseSchema?: string;
}

export interface OpenOptions {
  /** Create the catalog when there is none (writers that start one: `fashion index`). */
  readonly create?: boolean;
  /** For readers (the server, searches): they never write the catalog, not even its schema upgrades. */
  readonly readonly?: boolean;
}

/**
 * Opens the catalog's store: PostgreSQL when the location names a database (readers on its replica when there is one),
 * else the SQLite file in the folder. Without `create`, a catalog that does not exist is `catalog/not-found`.
 */
export async function openCatalogStore(where: string | CatalogLocation, options: OpenOptions = {}): Promise<CatalogStore> {
  const location: CatalogLocation = typeof where === 'string' ? { dataDir: where } : where;
  const readonly = !options.create && (options.readonly ?? false);
  if (location.databaseUrl) return openPostgres(location, location.databaseUrl, options.create ?? false, readonly);
  if (!options.create) requireCatalog(location.dataDir);
  return new SqliteCatalogStore(catalogFile(location.dataDir), { readonly });
}

async function openPostgres(location: CatalogLocation, url: string, create: boolean, readonly: boolean): Promise<CatalogStore> {
  const schema = location.databaseSchema ?? 'fashion';
  const readUrl = readonly && location.readDatabaseUrl ? location.readDatabaseUrl : url;
  try {
    // A writer that may not create checks first that there is a catalog (a writable open would create one).
    if (!create && !readonly) await (await PostgresCatalogStore.open(url, { schema, readonly: true })).close();
    return await PostgresCatalogStore.open(readUrl, { schema, readonly });
  } catch (err) {
    throw databaseError(err, schema, location.dataDir);
  }
}

/** What went wrong opening a PostgreSQL catalog, coded (the URL's password never shown). */
function databaseError(err: unknown, schema: string, dataDir: string): Error {
  if (err instanceof FashionError) return err;
  const message = (err as Error).message ?? String(err);
  if (/no catalog in schema/.test(message)) {
    return new FashionError('catalog/not-found', `Expected a catalog in the PostgreSQL schema ${schema} but there is none; build one with \`fashion index <images-dir> --database <url> --data ${dataDir}\``);
  }
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '57P03' || code === '3D000' || code === '28P01' || code === '28000') {
    return new FashionError('server/unavailable', `Expected the catalog's PostgreSQL server to answer but it did not: ${message}`);
  }
  return err as Error;
}

/** Throws `catalog/not-found` unless `dataDir` holds an embedded catalog. */
export function requireCatalog(dataDir: string): void {
  if (existsSync(catalogFile(dataDir))) return;
  throw new FashionError(
    'catalog/not-found',
    `Expected a catalog in ${dataDir} but there is none; build one with \`fashion index <images-dir> --data ${dataDir}\``,
  );
}

/** Throws `catalog/not-found` unless the location holds a catalog (a PostgreSQL one is checked by opening it). */
export async function requireCatalogAt(location: CatalogLocation): Promise<void> {
  if (!location.databaseUrl) return requireCatalog(location.dataDir);
  await (await openCatalogStore(location, { readonly: true })).close();
}
