import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { SqliteCatalogStore } from '../store/sqliteStore.js';

export const CATALOG_FILE = 'catalog.sqlite';

export function catalogFile(dataDir: string): string {
  return join(dataDir, CATALOG_FILE);
}

/** Opens (creating if asked) the catalog kept in `dataDir`. */
export function openCatalogStore(dataDir: string, options: { create?: boolean } = {}): CatalogStore {
  const file = catalogFile(dataDir);
  if (!options.create && !existsSync(file)) {
    throw new FashionError(
      'catalog/not-found',
      `Expected a catalog in ${dataDir} but there is none; build one with \`fashion index <images-dir> --data ${dataDir}\``,
    );
  }
  return new SqliteCatalogStore(file);
}
