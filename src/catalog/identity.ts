import { identityKey, describeIdentity, type ModelIdentity } from '../embedding/embedder.js';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';

/** A catalog remembers the model that embedded it; vectors of two models are never mixed. */
export const SETTING_IDENTITY = 'modelIdentity';
export const SETTING_IMAGES_ROOT = 'imagesRoot';

/** Refuses to mix vectors from two models; with `reembed` the old vectors are dropped instead. */
export async function checkIdentity(store: CatalogStore, identity: ModelIdentity, reembed: boolean): Promise<void> {
  const stored = await storedIdentity(store);
  if (!stored || identityKey(stored) === identityKey(identity)) return;
  if (reembed) {
    await store.clearItems();
    await store.setSetting(SETTING_IDENTITY, JSON.stringify(identity));
    return;
  }
  throw modelMismatch(stored, identity);
}

export async function storedIdentity(store: CatalogStore): Promise<ModelIdentity | null> {
  return parseIdentity(await store.getSetting(SETTING_IDENTITY));
}

/** The identity as the setting holds it (JSON), or null. */
export function parseIdentity(raw: string | null): ModelIdentity | null {
  return raw ? (JSON.parse(raw) as ModelIdentity) : null;
}

export function modelMismatch(stored: ModelIdentity, current: ModelIdentity): FashionError {
  return new FashionError(
    'catalog/model-mismatch',
    `This catalog was embedded with ${describeIdentity(stored)}, but the current model is ${describeIdentity(current)}. ` +
      'Vectors from two models cannot be compared: use the catalog\'s model settings (--model, --second-model, --second-preprocess, --second-size, --second-precision, --mirror, --isolate), or re-index with --reembed.',
  );
}
