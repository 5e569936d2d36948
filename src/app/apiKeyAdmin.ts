import { createKey, revokeKey, storedKeys, type StoredKey } from '../catalog/apiKeys.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { withWriterLock } from '../catalog/writerLock.js';
import type { Config } from '../config.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { requireCatalogAt } from '../catalog/openCatalog.js';

/** `fashion keys create`: a new write key, kept hashed in the catalog; the key itself is returned once. */
export async function createApiKey(config: Config, name: string): Promise<{ key: string; stored: StoredKey }> {
  return withCatalogWriter(config, 'fashion keys create', (store) => createKey(store, name));
}

/** `fashion keys revoke`: the key stops working (a server notices within seconds). */
export async function revokeApiKey(config: Config, id: string): Promise<StoredKey> {
  return withCatalogWriter(config, 'fashion keys revoke', (store) => revokeKey(store, id));
}

/** `fashion keys list`: ids, names and dates; never the keys. */
export async function listApiKeys(config: Config): Promise<StoredKey[]> {
  const store = await openCatalogStore(config, { readonly: true });
  try {
    return await storedKeys(store);
  } finally {
    await store.close();
  }
}

async function withCatalogWriter<T>(config: Config, command: string, write: (store: CatalogStore) => Promise<T>): Promise<T> {
  await requireCatalogAt(config);
  return withWriterLock(config.dataDir, command, async (lock) => {
    const store = await openCatalogStore(config);
    try {
      lock.assertHeld();
      return await write(store);
    } finally {
      await store.close();
    }
  });
}
