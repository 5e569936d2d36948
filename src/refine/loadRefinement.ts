import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { storedIdentity } from '../catalog/identity.js';
import { identityKey } from '../embedding/embedder.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import { RefineModel } from './refineModel.js';

/** The catalog's refinement, saved beside it. Loading it is all the query path does: training lives in src/app. */
export const REFINE_FILE = 'refine-model.bin';

/** The catalog's refinement and its stored item vectors, when both exist and fit the catalog's model. */
export function loadCatalogRefinement(store: CatalogStore, dataDir: string, ids: readonly string[]): { model: RefineModel | null; vectors: Float32Array | null; note?: string } {
  const file = join(dataDir, REFINE_FILE);
  const identity = storedIdentity(store);
  if (!existsSync(file) || !identity) return { model: null, vectors: null };
  const model = RefineModel.load(file);
  if (model.header.backboneKey !== identityKey(identity) || model.header.colourVersion !== COLOUR_FEATURES_VERSION) {
    return { model: null, vectors: null, note: 'the refinement was trained for another model; run `fashion train`' };
  }
  const vectors = store.loadFeatures('refined', ids);
  if (!vectors) return { model, vectors: null, note: 'some items have no refined vector yet; run `fashion train` (or `fashion index`)' };
  return { model, vectors };
}
