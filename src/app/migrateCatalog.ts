import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SETTING_IDENTITY } from '../catalog/identity.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { isKeptPhoto, keptPhotoFile } from '../catalog/photoStore.js';
import { withWriterLock } from '../catalog/writerLock.js';
import type { Config } from '../config.js';
import { FashionError } from '../errors.js';
import { isRefineModelFile } from '../refine/loadRefinement.js';
import type { CatalogStore, FeatureKind, FollowedItem } from '../store/catalogStore.js';
import { PostgresCatalogStore } from '../store/postgresStore.js';
import { prepareSearch } from './indexFolder.js';

/**
 * Where a migration into the target stands, kept in the target's settings (written in the transaction of each page, so a
 * killed run resumes after its last committed page): which catalog it copies, how far the copy of its items has come
 * (the source's insertion cursor), the source's change-log number from which changes made meanwhile are applied, and,
 * once done, the source's generation then (the same generation later: nothing to copy).
 */
export const SETTING_MIGRATION = 'migratedFrom';

interface Marker {
  /** The source catalog's folder, absolute. */
  readonly from: string;
  /** The source's items are copied up to this insertion cursor (itemsAfter). */
  readonly insertCursor: number;
  /** Changes the source logged after this number are still to apply (changesAfter). */
  readonly changeCursor: number;
  /** The source's generation when the last run finished; null while a run is under way. */
  readonly generation: number | null;
  /**
   * The source's generation when this copy began: the same at its end, and no derived vector (not in the change log)
   * can have changed meanwhile.
   */
  readonly startGeneration: number;
  /** The target's generation when the last run finished: another value later means it was written since (a server on it). */
  readonly targetGeneration?: number;
}

/** Items (with their vectors, colour, other photos and derived vectors) per transaction in the target. */
const PAGE = 500;
/** Derived vectors copied with the items; colour evidence comes with each item (FollowedItem.colour). */
const DERIVED: readonly FeatureKind[] = ['refined', 'copy'];

export type MigrateEvent =
  | { readonly kind: 'items'; readonly done: number; readonly total: number }
  | { readonly kind: 'changes'; readonly done: number }
  | { readonly kind: 'features'; readonly feature: FeatureKind; readonly done: number; readonly total: number }
  | { readonly kind: 'files'; readonly done: number; readonly total: number }
  | { readonly kind: 'search'; readonly message: string };

export interface MigrateOptions {
  /** Copy over a target that holds another catalog (it is dropped first); refused without it. */
  readonly replace?: boolean;
  /** false: leave the search indexes to the first server or `fashion index` (default: build them, as `fashion index` does). */
  readonly prepareSearch?: boolean;
  readonly onEvent?: (e: MigrateEvent) => void;
  /** Items per transaction in the target (default 500). */
  readonly pageSize?: number;
}

export interface MigrateReport {
  readonly from: string;
  readonly schema: string;
  /** Nothing had changed since the last run: nothing was copied. */
  readonly upToDate: boolean;
  /** The run carried on after one that stopped before it was done. */
  readonly resumed: boolean;
  /** The target held another catalog, dropped first (--replace). */
  readonly replaced: boolean;
  /** Items written (with their vectors and other photos) and items removed (gone from the source since the last run). */
  readonly items: { readonly copied: number; readonly removed: number; readonly total: number };
  /** Other photos of products written. */
  readonly photos: number;
  /** Derived vectors written, by kind. */
  readonly features: Readonly<Record<string, number>>;
  /** Catalog settings written (model identity, refinement generation, API keys, ...). */
  readonly settings: number;
  /** Files copied into the target's --data: refinement models and kept photos. */
  readonly files: { readonly models: number; readonly keptPhotos: number };
  readonly seconds: number;
  readonly search?: { readonly kind: 'exact' | 'hnsw'; readonly items: number } | undefined;
}

/**
 * `fashion migrate`: copies an embedded catalog (the SQLite store in `fromDir`) into the PostgreSQL catalog that `config`
 * names, through the CatalogStore port on both sides: items with their metadata and vectors, products' other photos with
 * theirs, colour, refined and training-copy vectors, the catalog's settings (model identity, refinement generation, API
 * keys), and the files the catalog keeps in its folder (the refinement's model, kept photos) into the target's --data.
 * Nothing is embedded again. The source is only read.
 *
 * Resumable and idempotent: items are copied in pages in insertion order, each page in one transaction with the
 * migration's marker; changes the source made meanwhile (or since an earlier run) are applied from its change log; a run
 * on an unchanged source copies nothing. A target that holds another catalog is refused unless `replace`.
 */
export async function migrateCatalog(config: Config, fromDir: string, options: MigrateOptions = {}): Promise<MigrateReport> {
  if (!config.databaseUrl) throw new FashionError('input/invalid', 'Expected --database postgres://… (or FASHION_DATABASE_URL) to migrate the catalog into, but none was given');
  const from = resolve(fromDir);
  if (resolve(config.dataDir) === from) {
    throw new FashionError('input/invalid', `Expected --data to be another folder than --from (the PostgreSQL catalog's own files go there), but both are ${from}`);
  }
  const started = performance.now();
  const emit = options.onEvent ?? (() => {});
  return withWriterLock(config.dataDir, `fashion migrate --from ${from}`, async (lock) => {
    const source = await openCatalogStore({ dataDir: from }, { readonly: true });
    try {
      const replaced = await makeRoom(config, from, options.replace ?? false);
      const target = await openCatalogStore(config, { create: true });
      let report: Omit<MigrateReport, 'seconds' | 'search' | 'replaced'>;
      try {
        report = await copy(source, target, { from, dataDir: config.dataDir, page: options.pageSize ?? PAGE, assertHeld: () => lock.assertHeld() }, emit);
      } finally {
        await target.close();
      }
      let search: MigrateReport['search'];
      if (!report.upToDate && options.prepareSearch !== false) {
        emit({ kind: 'search', message: 'building the search index' });
        search = await prepareSearch(config, lock);
      }
      return { ...report, replaced, search, seconds: (performance.now() - started) / 1000 };
    } finally {
      await source.close();
    }
  });
}

/**
 * Whether the target may take this catalog: empty, or holding this very migration (resumed or brought up to date). A
 * target holding another catalog is refused, or with `replace` dropped (returns true).
 */
async function makeRoom(config: Config, from: string, replace: boolean): Promise<boolean> {
  const schema = config.databaseSchema;
  let existing: CatalogStore;
  try {
    // From the primary: a replica may lag behind the marker the last run wrote.
    existing = await openCatalogStore({ ...config, readDatabaseUrl: null }, { readonly: true });
  } catch (err) {
    if (err instanceof FashionError && err.code === 'catalog/not-found') return false;
    throw err;
  }
  let other: string | null = null;
  try {
    const marker = parseMarker(await existing.getSetting(SETTING_MIGRATION));
    const items = await existing.count();
    const identity = await existing.getSetting(SETTING_IDENTITY);
    if (marker && marker.from !== from) other = `the catalog migrated from ${marker.from}`;
    else if (!marker && (items > 0 || identity !== null)) other = `a catalog of ${items} items that was not migrated from ${from}`;
  } finally {
    await existing.close();
  }
  if (!other) return false;
  if (!replace) {
    throw new FashionError(
      'catalog/not-empty',
      `Expected an empty PostgreSQL schema ${schema} (or one this catalog was migrated into before) but it holds ${other}; ` +
        'pass --replace to drop it and copy this one instead, or choose another --database-schema',
    );
  }
  await PostgresCatalogStore.drop(config.databaseUrl!, schema);
  return true;
}

async function copy(source: CatalogStore, target: CatalogStore, run: { from: string; dataDir: string; page: number; assertHeld: () => void }, emit: (e: MigrateEvent) => void): Promise<Omit<MigrateReport, 'seconds' | 'search' | 'replaced'>> {
  const { from, dataDir, assertHeld } = run;
  const schema = target instanceof PostgresCatalogStore ? target.schema : '';
  const found = parseMarker(await target.getSetting(SETTING_MIGRATION));
  const generation = await source.generation();
  const total = await source.count();
  const base = { from, schema, resumed: found !== null && found.generation === null };
  const features: Record<string, number> = {};
  const counts = { copied: 0, removed: 0, photos: 0 };
  if (found && found.generation === generation) {
    return { ...base, upToDate: true, items: { copied: 0, removed: 0, total }, photos: 0, features, settings: 0, files: { models: 0, keptPhotos: 0 } };
  }
  if (found && found.generation !== null && found.targetGeneration !== undefined && (await target.generation()) !== found.targetGeneration) {
    // The shop has moved on: servers write the PostgreSQL catalog now. Copying the source's changes would undo theirs.
    throw new FashionError(
      'catalog/not-empty',
      `Expected the PostgreSQL schema ${schema} to be as the last migration from ${from} left it, but it was written since (by a server or \`fashion index\` on it), ` +
        'and the embedded catalog changed too: copying its changes would overwrite those writes; pass --replace to copy the embedded catalog over it anew',
    );
  }
  // Files first: the settings copied next may name a refinement model, which must be there by then.
  const files = copyFiles(from, dataDir, emit);
  const settings = await copySettings(source, target);
  // A fresh copy starts from the source's change-log number of now: what changes after it is applied afterwards.
  // A run after a finished one (the source changed since) re-checks the derived vectors, which the change log leaves out.
  let marker: Marker = found
    ? { ...found, generation: null, startGeneration: found.generation !== null ? -1 : found.startGeneration }
    : { from, insertCursor: 0, changeCursor: await source.changeCursor(), generation: null, startGeneration: generation };
  await target.setSetting(SETTING_MIGRATION, JSON.stringify(marker));

  const write = async (items: readonly FollowedItem[], removed: readonly string[], next: Marker) => {
    const derived = new Map<FeatureKind, Map<string, Float32Array>>();
    for (const kind of DERIVED) derived.set(kind, await featuresOf(source, kind, items.map((it) => it.id)));
    assertHeld();
    await target.atomically(async (tx) => {
      if (removed.length > 0) await tx.removeItems(removed);
      if (items.length > 0) await tx.putItems(items);
      for (const it of items) if (it.photoVectors && it.photoVectors.length > 0) await tx.putPhotos(it.id, it.photoVectors);
      for (const [kind, rows] of derived) if (rows.size > 0) await tx.putFeatures(kind, rows);
      await tx.setSetting(SETTING_MIGRATION, JSON.stringify(next));
    });
    counts.copied += items.length;
    counts.removed += removed.length;
    counts.photos += items.reduce((n, it) => n + (it.photoVectors?.length ?? 0), 0);
    for (const [kind, rows] of derived) features[kind] = (features[kind] ?? 0) + rows.size;
  };

  // 1. The items inserted after the cursor, page by page, in insertion order.
  for (;;) {
    const page = await source.itemsAfter(marker.insertCursor, run.page);
    if (page.items.length === 0) break;
    marker = { ...marker, insertCursor: page.cursor };
    await write(page.items, [], marker);
    emit({ kind: 'items', done: Math.min(counts.copied, total), total });
  }
  // 2. What changed in the source after the copy began (items updated in place, removed, written again), from its log.
  let changed = 0;
  for (;;) {
    const page = await source.changesAfter(marker.changeCursor, run.page);
    if (page.gap) {
      // The log no longer reaches back that far (over a day since the last run): every item is copied again and the
      // target's items the source no longer has are removed.
      marker = { ...marker, insertCursor: 0, changeCursor: page.cursor };
      await target.setSetting(SETTING_MIGRATION, JSON.stringify(marker));
      return copyAgain(source, target, run.page, base, generation, { files, settings }, emit);
    }
    if (page.changes.length === 0) break;
    marker = { ...marker, changeCursor: page.cursor };
    const items = page.changes.flatMap((c) => ('item' in c ? [c.item] : []));
    const removed = page.changes.flatMap((c) => ('deleted' in c ? [c.id] : []));
    await write(items, removed, marker);
    changed += page.changes.length;
    emit({ kind: 'changes', done: changed });
  }
  // 3. Derived vectors are not in the change log (a training run replaces them all): when the source may have changed
  // them since the copy began, those that differ are copied.
  if ((await source.generation()) !== marker.startGeneration) {
    for (const kind of DERIVED) features[kind] = (features[kind] ?? 0) + (await syncFeatures(source, target, kind, emit));
  }
  await target.setSetting(SETTING_MIGRATION, JSON.stringify({ ...marker, generation, targetGeneration: await target.generation() }));
  return { ...base, upToDate: false, items: { ...counts, total }, photos: counts.photos, features, settings, files };
}

/** The whole copy again after a gap in the source's change log: every item written, the target's extra items removed. */
async function copyAgain(
  source: CatalogStore,
  target: CatalogStore,
  pageSize: number,
  base: { from: string; schema: string; resumed: boolean },
  generation: number,
  done: { files: MigrateReport['files']; settings: number },
  emit: (e: MigrateEvent) => void,
): Promise<Omit<MigrateReport, 'seconds' | 'search' | 'replaced'>> {
  const total = await source.count();
  const keep = new Set<string>();
  let copied = 0;
  let photos = 0;
  let marker = parseMarker(await target.getSetting(SETTING_MIGRATION))!;
  for (;;) {
    const page = await source.itemsAfter(marker.insertCursor, pageSize);
    if (page.items.length === 0) break;
    marker = { ...marker, insertCursor: page.cursor };
    const next = marker;
    await target.atomically(async (tx) => {
      await tx.putItems(page.items);
      for (const it of page.items) if (it.photoVectors && it.photoVectors.length > 0) await tx.putPhotos(it.id, it.photoVectors);
      await tx.setSetting(SETTING_MIGRATION, JSON.stringify(next));
    });
    for (const it of page.items) keep.add(it.id);
    copied += page.items.length;
    photos += page.items.reduce((n, it) => n + (it.photoVectors?.length ?? 0), 0);
    emit({ kind: 'items', done: copied, total });
  }
  const extra = [...(await target.fileStates()).keys()].filter((id) => !keep.has(id));
  await target.removeItems(extra);
  const features: Record<string, number> = {};
  for (const kind of DERIVED) features[kind] = await syncFeatures(source, target, kind, emit);
  await target.setSetting(SETTING_MIGRATION, JSON.stringify({ ...marker, generation, targetGeneration: await target.generation() }));
  return { ...base, upToDate: false, items: { copied, removed: extra.length, total }, photos, features, settings: done.settings, files: done.files };
}

/** The derived vectors of kind `kind` that `ids` have in the source (ids without one left out). */
async function featuresOf(source: CatalogStore, kind: FeatureKind, ids: readonly string[]): Promise<Map<string, Float32Array>> {
  const have = await source.featureIds(kind);
  const with_ = ids.filter((id) => have.has(id));
  const out = new Map<string, Float32Array>();
  if (with_.length === 0) return out;
  const packed = await source.loadFeatures(kind, with_);
  if (!packed) return out;
  const dims = packed.length / with_.length;
  with_.forEach((id, i) => out.set(id, packed.slice(i * dims, (i + 1) * dims)));
  return out;
}

/**
 * Makes the target's derived vectors of a kind the source's: the ones it lacks or holds with other values are written,
 * in pages; when it holds vectors the source no longer has, all of them are replaced in one transaction. Returns how many
 * were written.
 */
async function syncFeatures(source: CatalogStore, target: CatalogStore, kind: FeatureKind, emit: (e: MigrateEvent) => void): Promise<number> {
  const [want, have] = [await source.featureIds(kind), await target.featureIds(kind)];
  const ids = [...want].sort();
  if ([...have].some((id) => !want.has(id))) {
    const all = await featuresOf(source, kind, ids);
    await target.putFeatures(kind, all, { replace: true });
    emit({ kind: 'features', feature: kind, done: all.size, total: all.size });
    return all.size;
  }
  let written = 0;
  for (let i = 0; i < ids.length; i += PAGE) {
    const page = ids.slice(i, i + PAGE);
    const mine = await featuresOf(source, kind, page);
    const theirs = await featuresOf(target, kind, page.filter((id) => have.has(id)));
    const differ = new Map([...mine].filter(([id, v]) => !sameVector(v, theirs.get(id))));
    if (differ.size > 0) await target.putFeatures(kind, differ);
    written += differ.size;
    emit({ kind: 'features', feature: kind, done: Math.min(i + PAGE, ids.length), total: ids.length });
  }
  return written;
}

function sameVector(a: Float32Array, b: Float32Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The source's catalog settings that the target lacks or holds otherwise, written; returns how many. */
async function copySettings(source: CatalogStore, target: CatalogStore): Promise<number> {
  const [mine, theirs] = [await source.catalogSettings(), await target.catalogSettings()];
  const differ = [...mine].filter(([key, value]) => key !== SETTING_MIGRATION && theirs.get(key) !== value);
  if (differ.length === 0) return 0;
  await target.atomically(async (tx) => {
    for (const [key, value] of differ) await tx.setSetting(key, value);
  });
  return differ.length;
}

/**
 * The files the catalog keeps in its folder, copied into the target's: its refinement models (every generation's file:
 * the settings name the one in use) and the photos it keeps (`kept/<sha256>.<ext>` in items' paths; the same name is the
 * same bytes, so one already there is not copied again). Photos in the shop's own folder stay where `imagesRoot` says.
 */
function copyFiles(from: string, to: string, emit: (e: MigrateEvent) => void): { models: number; keptPhotos: number } {
  mkdirSync(to, { recursive: true });
  const todo: Array<{ from: string; to: string; kind: 'models' | 'keptPhotos' }> = [];
  for (const name of readdirSync(from).filter(isRefineModelFile)) {
    const [a, b] = [join(from, name), join(to, name)];
    if (!existsSync(b) || statSync(b).size !== statSync(a).size) todo.push({ from: a, to: b, kind: 'models' });
  }
  const photos = join(from, 'photos');
  if (existsSync(photos)) {
    for (const name of readdirSync(photos)) {
      const path = `kept/${name}`;
      if (!isKeptPhoto(path)) continue;
      const b = keptPhotoFile(to, path)!;
      if (!existsSync(b)) todo.push({ from: keptPhotoFile(from, path)!, to: b, kind: 'keptPhotos' });
    }
  }
  const out = { models: 0, keptPhotos: 0 };
  todo.forEach((f, i) => {
    mkdirSync(resolve(f.to, '..'), { recursive: true });
    // Under another name first: a copy cut short is never taken for the whole file by the next run.
    copyFileSync(f.from, `${f.to}.part`);
    renameSync(`${f.to}.part`, f.to);
    out[f.kind]++;
    emit({ kind: 'files', done: i + 1, total: todo.length });
  });
  return out;
}

function parseMarker(raw: string | null): Marker | null {
  return raw ? (JSON.parse(raw) as Marker) : null;
}
