import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { storedIdentity } from '../catalog/identity.js';
import { identityKey } from '../embedding/embedder.js';
import type { CatalogStore } from '../store/catalogStore.js';
import { COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import { RefineModel } from './refineModel.js';

/**
 * The catalog's refinement, saved beside it. Loading it is all the query path does: training lives in src/app.
 *
 * The model and the refined vectors are one generation. Each trained model is a file named by its content
 * (`refine-model-<sha256>.bin`, never rewritten), and the setting SETTING_REFINE_MODEL names the one the stored
 * refined vectors were computed with; training writes that setting in the transaction that writes the vectors. So
 * whatever moment a training run dies at, the setting names either the old model with the old vectors or the new
 * one with the new vectors, and a file that does not match the setting is never used with them.
 */
export const SETTING_REFINE_MODEL = 'refineModel';

/** Where catalogs trained before generations were recorded keep their refinement (used while no generation is recorded). */
export const REFINE_FILE = 'refine-model.bin';

const MODEL_FILE = /^refine-model-([0-9a-f]{64})\.bin$/;

/** The file of the refinement whose content hashes to `digest`. */
export function refineModelFile(dataDir: string, digest: string): string {
  return join(dataDir, `refine-model-${digest}.bin`);
}

/** Whether a file name is a generation's model file (for removing superseded ones). */
export function isRefineModelFile(name: string): boolean {
  return MODEL_FILE.test(name) || name === REFINE_FILE;
}

export function modelDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export type FoundRefinement =
  | { readonly kind: 'none' }
  /** A generation is recorded but its model file is missing or is not the one recorded. */
  | { readonly kind: 'mismatch'; readonly why: string }
  /** `digest` is null for a catalog trained before generations were recorded. */
  | { readonly kind: 'found'; readonly model: RefineModel; readonly digest: string | null };

/** The refinement model of the generation `recorded` (the catalog's SETTING_REFINE_MODEL), checked against its digest. */
export function findRefinement(dataDir: string, recorded: string | null): FoundRefinement {
  if (!recorded) {
    const legacy = join(dataDir, REFINE_FILE);
    return existsSync(legacy) ? { kind: 'found', model: RefineModel.load(legacy), digest: null } : { kind: 'none' };
  }
  const file = refineModelFile(dataDir, recorded);
  if (!existsSync(file)) return { kind: 'mismatch', why: `its refinement model (${file}) is missing` };
  if (modelDigest(readFileSync(file)) !== recorded) return { kind: 'mismatch', why: `its refinement model (${file}) is not the one the refined vectors were computed with` };
  return { kind: 'found', model: RefineModel.load(file), digest: recorded };
}

/** The catalog's refinement and its stored item vectors, when both exist, are one generation, and fit the catalog's model. */
export async function loadCatalogRefinement(store: CatalogStore, dataDir: string, ids: readonly string[]): Promise<{ model: RefineModel | null; vectors: Float32Array | null; note?: string }> {
  for (let attempt = 0; ; attempt++) {
    // The setting and the vectors from one snapshot: a training run committing meanwhile cannot pair one with the other's.
    const read = await store.snapshot(async (tx) => ({ identity: await storedIdentity(tx), recorded: await tx.getSetting(SETTING_REFINE_MODEL), vectors: await tx.loadFeatures('refined', ids) }));
    // A generation's file is removed once a newer one has committed: then the newer one is read.
    const superseded = async () => attempt < 3 && (await store.getSetting(SETTING_REFINE_MODEL)) !== read.recorded;
    let found: FoundRefinement;
    try {
      found = findRefinement(dataDir, read.recorded);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await superseded())) continue;
      throw err;
    }
    if (found.kind === 'mismatch' && (await superseded())) continue;
    return decide(read.identity ? identityKey(read.identity) : null, found, read.vectors);
  }
}

function decide(backboneKey: string | null, found: FoundRefinement, vectors: Float32Array | null): { model: RefineModel | null; vectors: Float32Array | null; note?: string } {
  if (found.kind === 'none' || !backboneKey) return { model: null, vectors: null };
  if (found.kind === 'mismatch') return { model: null, vectors: null, note: `the refinement is not used: ${found.why} (a training run was interrupted?); run \`fashion train\`` };
  const model = found.model;
  if (model.header.backboneKey !== backboneKey || model.header.colourVersion !== COLOUR_FEATURES_VERSION) {
    return { model: null, vectors: null, note: 'the refinement was trained for another model; run `fashion train`' };
  }
  if (!vectors) return { model, vectors: null, note: 'some items have no refined vector yet; run `fashion train` (or `fashion index`)' };
  return { model, vectors };
}
