import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { SqliteCatalogStore } from '../store/sqliteStore.js';

export const CATALOG_FILE = 'catalog.sqlite';

export function catalogFile(dataDir: string): string {
  return join(dataDir, CATALOG_FILE);
}

/**
 * Opens (creating if asked) the catalog kept in `dataDir`. `readonly` is for readers (the server, searches): they never
 * write the catalog, not even its schema upgrades, which wait for the next writer (`fashion index`, `fashion train`).
 */
export function openCatalogStore(dataDir: string, options: { create?: boolean; readonly?: boolean } = {}): CatalogStore {
  if (!options.create) requireCatalog(dataDir);
  return new SqliteCatalogStore(catalogFile(dataDir), { readonly: !options.create && (options.readonly ?? false) });
}

/** Throws `catalog/not-found` unless `dataDir` holds a catalog. */
export function requireCatalog(dataDir: string): void {
  if (existsSync(catalogFile(dataDir))) return;
  throw new FashionError(
    'catalog/not-found',
    `Expected a catalog in ${dataDir} but there is none; build one with \`fashion index <images-dir> --data ${dataDir}\``,
  );
}
