import type { TextSearch } from '../text/textSearch.js';

/** colour: colour evidence; refined: the refined search vector; copy: a training copy's backbone vector + colour (src/refine/augment.ts). */
export type FeatureKind = 'colour' | 'refined' | 'copy';

/** Product metadata: every column of the shop's CSV, by name (gender, articleType, baseColour, ...). */
export type Metadata = Readonly<Record<string, string>>;

export interface FileState {
  /** Path of the photo relative to the catalog's image folder. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface StoredItem extends FileState {
  readonly id: string;
  readonly metadata: Metadata;
  /** sha256 of the decoded pixels (exact duplicates); absent for items stored before it was recorded. */
  readonly pixelHash?: string | undefined;
  /**
   * The product's other photos, in order (photo 1, 2, ...; the item's own file is photo 0). Each is embedded and
   * searched: a search by any of them finds the product, which results list once.
   */
  readonly photos?: readonly PhotoFile[] | undefined;
}

/** One more photo of a product: where it is kept, as an item's own photo is. */
export interface PhotoFile extends FileState {
  readonly pixelHash?: string | undefined;
}

/** One more photo of a product with its vectors, as the write paths store it. */
export interface PhotoWithVector extends PhotoFile {
  readonly vector: Float32Array;
  readonly colour?: Float32Array | undefined;
}

/** A stored extra photo's vectors: photo `n` (1, 2, ...) of item `id`. */
export interface PhotoVectors {
  readonly id: string;
  readonly n: number;
  readonly vector: Float32Array;
  readonly colour: Float32Array | null;
}

export interface ItemWithVector extends StoredItem {
  readonly vector: Float32Array;
  /** Colour evidence of the photo (src/refine/colourFeatures.ts), kept beside the backbone vector. */
  readonly colour?: Float32Array | undefined;
}

/** An item with its vectors, its colour evidence and its other photos' vectors, as a reader that follows the store gets it. */
export type FollowedItem = ItemWithVector & { readonly photoVectors?: readonly PhotoWithVector[] };

/** One id of the change log at its latest state: the item as it is now, or gone. */
export type Change = { readonly id: string; readonly deleted: true } | { readonly id: string; readonly item: FollowedItem };

export interface ChangePage {
  /** Each id changed after the cursor once, at its state in the read's snapshot, in the order of its last change. */
  readonly changes: Change[];
  /** Where the page ends: pass it to the next call. */
  readonly cursor: number;
  /**
   * The log no longer reaches back to the cursor asked for (its rows were pruned, see CHANGE_LOG_KEEP_MS): a reader
   * this far behind reads the catalog again instead.
   */
  readonly gap?: true;
}

/**
 * How long the change log keeps a change: a reader that follows the store (a server, every second) is never this far
 * behind; one that is (its `changesAfter` answers `gap`) reads the whole catalog again.
 */
export const CHANGE_LOG_KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * How long a write key is kept: a job is delivered again within minutes of its worker's death (BullMQ's stalled-job
 * check), never a week later.
 */
export const WRITE_KEY_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

export interface PutFeaturesOptions {
  readonly replace?: boolean;
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * Everything the product keeps about a catalog: items, their vectors and metadata, and a few settings.
 * The embedded SQLite store is the default; a server-backed store implements the same interface.
 */
export interface CatalogStore {
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  /**
   * Every setting of the catalog itself (model identity, refinement generation, API keys, metadata columns, ...), by
   * key; the store's own bookkeeping (its generation, schema version, change-log and insertion counters) left out: what
   * moves with the catalog to another store (`fashion migrate`).
   */
  catalogSettings(): Promise<Map<string, string>>;
  /** Path, size and mtime of every item, for the incremental diff of an ingest. */
  fileStates(): Promise<Map<string, FileState>>;
  /** Pixel hash of every item that has one (exact-duplicate warnings at ingest). */
  pixelHashes(): Promise<Map<string, string>>;
  /**
   * Writes a batch of items with their vectors in one transaction (all or nothing). An item written anew loses its
   * derived vectors and its other photos (they belong to the version it replaces); `putPhotos` gives it new ones.
   */
  putItems(items: readonly ItemWithVector[]): Promise<void>;
  /** Sets an item's other photos (photo 1, 2, ... in order), replacing those it had; [] drops them. */
  putPhotos(id: string, photos: readonly PhotoWithVector[]): Promise<void>;
  /** The vectors of every item's other photos, by item id then photo number. */
  loadPhotos(): Promise<PhotoVectors[]>;
  /** Ids of the items that have other photos. */
  idsWithPhotos(): Promise<Set<string>>;
  removeItems(ids: readonly string[]): Promise<void>;
  updateMetadata(changes: ReadonlyMap<string, Metadata>): Promise<void>;
  /**
   * Records new mtimes (id -> mtimeMs) for photos whose pixels are unchanged (a copied or re-extracted folder), so the
   * next ingest sees them as unchanged; vectors, metadata and search are untouched, so nothing is logged for followers.
   */
  touchFiles(mtimes: ReadonlyMap<string, number>): Promise<void>;
  getItem(id: string): Promise<StoredItem | null>;
  count(): Promise<number>;
  /** All items (with their other photos' files) and their vectors, in one stable order (by id). */
  loadAll(): Promise<{ items: StoredItem[]; vectors: Float32Array; dims: number }>;
  /**
   * Where the store's insertions stand: items inserted later (by this process or another writer, such as a background
   * `fashion index`) come after it. Read with `loadAll` in one snapshot, it marks what the snapshot holds.
   */
  insertCursor(): Promise<number>;
  /**
   * Up to `limit` items inserted after `cursor`, in insertion order, with their colour evidence and the other photos
   * they have by then (each with its vectors), and the new cursor.
   */
  itemsAfter(cursor: number, limit: number): Promise<{ items: FollowedItem[]; cursor: number }>;
  /**
   * Where the change log stands: the number of the last committed change. Every write that changes an item (putItems,
   * putPhotos, removeItems, updateMetadata, clearItems) logs its ids in its own transaction, numbered in commit order;
   * read in one snapshot with `loadAll`, the cursor marks exactly what the snapshot holds. Derived vectors
   * (putFeatures) are not logged: a reader derives them itself, and a new refinement is a new SETTING_REFINE_MODEL.
   */
  changeCursor(): Promise<number>;
  /**
   * Up to `limit` ids changed after `cursor`, each once at its latest state (the item with its vectors, colour evidence
   * and other photos, or deleted), in the order of their last change, from one snapshot; and the new cursor.
   */
  changesAfter(cursor: number, limit: number): Promise<ChangePage>;
  /**
   * Derived per-item vectors (colour evidence, refined search vectors), kept apart from the backbone vectors. With
   * `replace`, every stored vector of the kind is dropped first; `settings` are written too, all in one transaction
   * (a new generation of refined vectors switches in together with the name of the model that made them).
   */
  putFeatures(kind: FeatureKind, rows: ReadonlyMap<string, Float32Array>, options?: PutFeaturesOptions): Promise<void>;
  /** Ids of the items that have a derived vector of this kind. */
  featureIds(kind: FeatureKind): Promise<Set<string>>;
  /** The derived vectors of `ids`, in that order, or null when any is missing. */
  loadFeatures(kind: FeatureKind, ids: readonly string[]): Promise<Float32Array | null>;
  /**
   * Records a write's idempotency key (an ingest worker's job key, src/jobs/productJob.ts) and says whether it was new.
   * Called inside `atomically` with the write it stands for, so the key is committed exactly when the write is: a job
   * delivered again after its write committed finds its key (false) and is acknowledged without a second write. Keys
   * older than `WRITE_KEY_KEEP_MS` may be forgotten (pruneWriteKeys).
   */
  claimWriteKey(key: string): Promise<boolean>;
  /** Whether a write key is recorded (a job delivered again skips its work when it is; the claim still decides). */
  hasWriteKey(key: string): Promise<boolean>;
  /** Forgets write keys recorded more than `olderThanMs` ago; returns how many. */
  pruneWriteKeys(olderThanMs: number): Promise<number>;
  /** Drops every vector (when the catalog is re-embedded with another model). */
  clearItems(): Promise<void>;
  /** Bumped on every write, so that derived data (indexes, projections) knows when it is stale. */
  generation(): Promise<number>;
  /**
   * Runs several writes as one transaction: all of them are committed, or none (an item with its derived vectors).
   * `write` makes its calls on `tx`, the store bound to the transaction (a server-backed store's one connection).
   */
  atomically<T>(write: (tx: CatalogStore) => Promise<T>): Promise<T>;
  /** Runs `read` on one consistent snapshot of the store (reads that must not straddle another process's commit), through `tx`. */
  snapshot<T>(read: (tx: CatalogStore) => Promise<T>): Promise<T>;
  /** Full-text search over names and labels, when the store keeps an index (else the caller builds one in memory). */
  textSearch?(): TextSearch | null;
  close(): Promise<void>;
}
